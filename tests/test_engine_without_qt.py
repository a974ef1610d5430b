"""The engine never imports Qt: it imports and generates in a process where Qt cannot be imported."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import importlib, pkgutil, sys
BLOCKED = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "qtpy", "ui")

class BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked in this test: {name}")
        return None

sys.meta_path.insert(0, BlockQt())
import workbench
names = [m.name for m in pkgutil.walk_packages(workbench.__path__, "workbench.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED], "Qt leaked in"

sys.path.insert(0, sys.argv[2])
from workbench.chat import ChatRequest, run_turn
from workbench.decoding import SamplingSettings
from workbench.models import load_model
from workbench.store import SessionStore
loaded = load_model(sys.argv[1], device="cpu")
store = SessionStore(sys.argv[3])
result = run_turn(loaded, store, ChatRequest("hello", settings=SamplingSettings(max_new_tokens=5)))
print("OK", len(names), len(result.answers))
"""


def test_engine_imports_and_generates_without_qt(tiny_model_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_model_dir), str(ROOT / "tests"), str(tmp_path / "db.sqlite")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    ok, modules, panes = proc.stdout.split()[-3:]
    assert ok == "OK" and int(modules) >= 20 and panes == "2"


def test_the_headless_engine_refuses_to_open_a_window_with_one_line():
    import subprocess
    import sys

    from conftest import ROOT

    done = subprocess.run([sys.executable, "-m", "workbench", "gui"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 2 and "opens the window" in done.stderr and "Traceback" not in done.stderr
