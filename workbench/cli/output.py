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
