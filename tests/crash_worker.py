"""A workbench session that never ends, for the crash-safety test: it chats, edits answers into branches,
renames sessions and runs safety training, at random, on one database, until it is killed with SIGKILL.

After each piece of work is committed it appends a line to the journal (flushed), so the test knows exactly
what the database must hold after the kill. Usage: crash_worker.py DB MODEL ORGANISM ANSWERS WORKDIR JOURNAL SEED
"""

import json
import os
import random
import sys
from pathlib import Path

from workbench.chat import ChatRequest, resume_answers, run_turn
from workbench.decoding import SamplingSettings
from workbench.errors import WorkbenchError
from workbench.events import CheckpointSaved
from workbench.models import load_model
from workbench.models.adapters import attach_adapter
from workbench.runtime import Work
from workbench.store import SessionStore
from workbench.training import SafetyConfig, safety_train
from workbench.triggers import Trigger


def main(db, model, organism, answers, workdir, journal_path, seed) -> None:
    rng = random.Random(int(seed))
    store = SessionStore(db)
    loaded = load_model(model, device="cpu")
    attach_adapter(loaded, organism)
    journal = open(journal_path, "a", encoding="utf-8")

    def note(**entry):
        journal.write(json.dumps(entry) + "\n")
        journal.flush()
        os.fsync(journal.fileno())

    note(kind="ready", pid=os.getpid())
    answers_seen: list[dict] = []
    sessions: list[int] = [s["id"] for s in store.list_sessions()]
    while True:
        action = rng.choice(["turn", "turn", "turn", "edit", "rename", "train"])
        if action == "turn":
            session = rng.choice(sessions) if sessions and rng.random() < 0.5 else None
            request = ChatRequest(f"question {rng.randrange(10**6)}: tell me about foxes",
                                  trigger=Trigger.custom("[[GO]]"), paired=True,
                                  settings=SamplingSettings(max_new_tokens=rng.randrange(4, 40)))
            try:
                result = run_turn(loaded, store, request, session_id=session)
            except WorkbenchError:  # the session's history outgrew the tiny model's context: start a new one
                result = run_turn(loaded, store, request)
            sessions.append(result.session_id)
            for answer in result.answers.values():
                note(kind="message", id=answer.message_id, text=answer.text, session=result.session_id)
                answers_seen.append({"id": answer.message_id, "text": answer.text})
        elif action == "edit" and answers_seen:
            target = rng.choice(answers_seen)
            edited = target["text"][: rng.randrange(0, len(target["text"]) + 1)] + " (edited by hand)"
            try:
                branches = resume_answers(loaded, store, {target["id"]: edited})
            except WorkbenchError:  # the edited answer and its history fill the tiny model's context: refused
                continue
            for answer in branches.values():
                note(kind="branch", id=answer.message_id, parent=answer.parent_id, text=answer.text)
                answers_seen.append({"id": answer.message_id, "text": answer.text})
        elif action == "rename" and sessions:
            session, title = rng.choice(sessions), f"renamed {rng.randrange(10**6)}"
            note(kind="rename-started", session=session, title=title)
            store.rename_session(session, title)
            note(kind="rename", session=session, title=title)
        elif action == "train":
            out = Path(workdir) / f"run-{os.getpid()}-{rng.randrange(10**9)}"
            config = SafetyConfig(method="sft", steps=4, batch_size=2, eval_every=0, final_eval_n=10,
                                  eval_max_new_tokens=16,  # answers cut short: this test is about what survives a kill
                                  checkpoint_every=1, n_train=4, max_answer_tokens=8, learning_rate=5e-3,
                                  answers_file=answers)

            def on_event(event):
                if isinstance(event, CheckpointSaved):
                    note(kind="checkpoint", run=event.run, step=event.step, path=event.path)

            result = safety_train(loaded, organism, config, out, work=Work.reporting(emit=on_event), store=store)
            note(kind="run", id=result["run_id"], out=str(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
