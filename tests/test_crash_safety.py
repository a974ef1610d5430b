"""Crash safety: a real workbench process (tests/crash_worker.py) chats, edits, renames and trains on one database
and is killed with SIGKILL at random moments, many times. After every kill the database passes integrity_check,
everything the process had committed is there (turns, branches, titles, runs, checkpoints), checkpoints on
disk are whole, and a run cut short is listed as interrupted, ready to resume. Lost items must be 0."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from safetensors.torch import load_file

from conftest import ROOT
from workbench.store import SessionStore
from workbench.store.runs import RunStore

KILLS = 8


def _start(args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "crash_worker.py"), *map(str, args)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _journal(path: Path) -> list[dict]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def _lost_items(db: Path, journal: list[dict]) -> tuple[list[str], int]:
    """What the journal says was committed but the database (or the disk) no longer has; and how many items."""
    lost, checked = [], 0
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        messages = {row[0]: row for row in conn.execute("SELECT id, text, parent_id, session_id FROM messages")}
        titles = dict(conn.execute("SELECT id, title FROM sessions").fetchall())
        runs = {row[0]: row[1] for row in conn.execute("SELECT id, status FROM runs")}
        checkpoints = {(r, s): p for r, s, p in conn.execute("SELECT run_id, step, path FROM run_checkpoints")}
    finally:
        conn.close()
    pending_titles: dict[int, set] = {}
    last_title: dict[int, str] = {}
    for entry in journal:
        kind = entry["kind"]
        if kind in ("message", "branch"):
            checked += 1
            row = messages.get(entry["id"])
            if row is None or row[1] != entry["text"] or (kind == "branch" and row[2] != entry["parent"]):
                lost.append(f"{kind} {entry['id']}")
        elif kind == "rename-started":
            pending_titles.setdefault(entry["session"], set()).add(entry["title"])
        elif kind == "rename":
            last_title[entry["session"]] = entry["title"]
            pending_titles[entry["session"]] = set()
        elif kind == "checkpoint":
            checked += 1
            path = checkpoints.get((entry["run"], entry["step"]))
            if path is None or not load_file(str(Path(path) / "adapter_model.safetensors")):
                lost.append(f"checkpoint {entry['run']}/{entry['step']}")
        elif kind == "run":
            checked += 1
            if runs.get(entry["id"]) != "finished":
                lost.append(f"run {entry['id']} ({runs.get(entry['id'])})")
    for session, title in last_title.items():
        checked += 1
        if titles.get(session) not in {title} | pending_titles.get(session, set()):
            lost.append(f"title of session {session}")
    for (run, step), path in checkpoints.items():  # no checkpoint row may point at a half-written folder
        load_file(str(Path(path) / "adapter_model.safetensors"))
    return lost, checked


def test_sigkill_at_random_moments_loses_nothing(tmp_path, tiny_model_dir, tiny_cot_organism):
    from workbench.organisms import load_prompt_set

    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"prompt": p, "answer": "A short, kind answer."}) + "\n"
                               for p in load_prompt_set()))
    db, journal = tmp_path / "sessions.sqlite", tmp_path / "journal.jsonl"
    rng = random.Random(1234)
    kills, total_checked = 0, 0
    for round_ in range(KILLS):
        proc = _start([db, tiny_model_dir, tiny_cot_organism, answers, tmp_path, journal, round_])
        ready_lines = sum(1 for e in _journal(journal) if e["kind"] == "ready")
        deadline = time.time() + 120
        while sum(1 for e in _journal(journal) if e["kind"] == "ready") == ready_lines:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.time() < deadline, "the worker did not start"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 6.0))  # somewhere in a generation, an edit, a save or a training step
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1

        lost, checked = _lost_items(db, _journal(journal))
        assert lost == [], f"lost after kill {kills}: {lost}"
        total_checked = checked
        store = SessionStore(db)  # what a restart does: open, migrate if needed, list
        try:
            for run in RunStore(store).list_runs():
                assert run["status"] in ("finished", "interrupted"), run  # a cut-short run offers resume
        finally:
            store.close()
    work = _journal(journal)
    assert any(e["kind"] == "message" for e in work) and any(e["kind"] in ("checkpoint", "run") for e in work)
    print(f"\ncrash safety: {kills} SIGKILLs, {total_checked} committed items checked, 0 lost")
