"""Printing for the CLI: one JSON object with --json, readable text otherwise."""

import json
import sys


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def open_store(db: str | None):
    from ..paths import default_db_path
    from ..store import SessionStore

    return SessionStore(db or default_db_path())


def note_adapter(loaded) -> None:
    """On stderr (stdout stays clean for --json): a line when the attached organism's card was judged with a
    short window."""
    note = loaded.adapter_note()
    if note:
        print(f"note: organism {note}", file=sys.stderr, flush=True)


def load_from_args(args):
    """The model a command's --model, --device, --quantize and --trust-remote-code ask for."""
    from ..models import load_model

    return load_model(args.model, device=args.device, trust_remote_code=getattr(args, "trust_remote_code", False),
                      quantize=getattr(args, "quantize", None))
