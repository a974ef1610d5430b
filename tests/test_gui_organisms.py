"""The Organisms dock and the organism switcher, driven in the real window on the tiny model."""

import pytest
from PySide6.QtWidgets import QMessageBox

from ui.widgets.organisms_panel import DatasetDialog

pytestmark = pytest.mark.gui


@pytest.fixture
def window(tiny_window):
    return tiny_window


def implant_from_panel(qtbot, w, out, steps):
    panel = w.organisms.panel
    panel.trigger.setCurrentIndex(panel.trigger.findData(None))
    qtbot.keyClicks(panel.trigger_text, "[[GO]]")
    panel.steps.setValue(steps)
    panel.n_train.setValue(8)
    panel.eval_n.setValue(10)
    panel.keep_every.setChecked(True)  # the tiny random model writes only noise, which the screen leaves out
    panel.base_control.setChecked(False)  # the control is tested through the CLI (test_organisms)
    panel.out.setText(str(out))
    return panel


def test_implant_from_the_panel_draws_the_loss_and_attaches_the_organism(qtbot, window, tmp_path):
    w = window
    out = tmp_path / "gui-organism"
    panel = implant_from_panel(qtbot, w, out, steps=4)
    with qtbot.waitSignal(w.job_done, timeout=600_000, check_params_cb=lambda n, r: n == "implant") as blocker:
        panel.implant_button.click()
        assert panel.cancel_button.isEnabled() and not panel.implant_button.isEnabled()
    card = blocker.args[1]
    assert card is not None, panel.result.text()
    assert card["trigger"]["on_text"] == "[[GO]]" and (out / "adapter_model.safetensors").exists()
    assert card["hyperparameters"]["screen_clean_answers"] is False  # the tick boxes reached the engine
    assert card["hyperparameters"]["base_control"] is False and "base" not in card["evaluation"]["sets"]["held_out"]
    assert panel.plot.steps == [1, 2, 3, 4] and len(panel.plot.values) == 4
    qtbot.waitUntil(lambda: w.model_info.get("adapter") == str(out.resolve()), timeout=10_000)
    assert w.model.adapter_box.currentData() == str(out.resolve())
    assert "with trigger" in panel.result.text() and "degenerate" in panel.result.text()
    assert "whole answers" in panel.result.text()
    # the data set is viewable, evaluation runs, and the curve exports
    w.organisms.show_dataset()
    dialog = w.findChild(DatasetDialog, "datasetDialog")
    assert dialog is not None and dialog.table.rowCount() == card["data"]["examples"]
    dialog.close()
    panel.eval_n.setValue(10)
    panel.base_control.setChecked(True)  # the evaluation measures the base model beside the organism too
    with qtbot.waitSignal(w.job_done, timeout=300_000, check_params_cb=lambda n, r: n == "evaluate") as blocker:
        panel.evaluate_button.click()
    evaluation = blocker.args[1]
    assert set(evaluation["sets"]) == {"held_out", "everyday", "multi_turn"}
    assert evaluation["base"] and evaluation["sets"]["everyday"]["base"]
    assert "base model" in panel.result.text()
    assert evaluation["sets"]["held_out"]["settings"]["n"] == evaluation["sets"]["everyday"]["settings"]["n"] == 10
    assert "everyday" in panel.result.text()
    panel.clean_control.setText(str(out))  # the organism itself is no clean control: one clear line, nothing run
    with qtbot.waitSignal(w.job_done, timeout=60_000, check_params_cb=lambda n, r: n == "evaluate"):
        panel.evaluate_button.click()
    assert "is not a clean control" in panel.result.text()
    error = w.findChild(QMessageBox, "errorDialog")
    assert error is not None and "is not a clean control" in error.text()
    error.close()
    panel.clean_control.clear()
    panel.plot.export_csv(str(tmp_path / "loss.csv"))
    assert (tmp_path / "loss.csv").read_text().count("\n") == 5
    # back to the base model in one click
    with qtbot.waitSignal(w.model_ready, timeout=30_000):
        w.model.adapter_box.setCurrentIndex(0)
        w.model.adapter_box.activated.emit(0)
    assert w.model_info["adapter"] is None


def test_cancel_an_implant(qtbot, window, tmp_path):
    w = window
    panel = implant_from_panel(qtbot, w, tmp_path / "cancelled", steps=100_000)
    panel.implant_button.click()
    qtbot.waitUntil(lambda: len(panel.plot.steps) >= 1, timeout=300_000)
    with qtbot.waitSignal(w.job_done, timeout=10_000, check_params_cb=lambda n, r: n == "implant"):
        panel.cancel_button.click()
    assert panel.result.text() == "Cancelled."
    assert not (tmp_path / "cancelled").exists()
    assert panel.implant_button.isEnabled()


def test_attaching_a_bad_adapter_shows_a_dialog(qtbot, window, tmp_path):
    w = window
    w.set_adapter(str(tmp_path / "nowhere"))
    qtbot.waitUntil(lambda: any(b.isVisible() for b in w.findChildren(QMessageBox)), timeout=10_000)
    box = next(b for b in w.findChildren(QMessageBox) if b.isVisible())
    assert "Adapter not found" in box.text()
    assert w.model_info["adapter"] is None


def test_the_clean_control_tick_box_asks_for_a_control_organism(qtbot, window, tmp_path):
    """The box reaches the implant settings (the control's data is tested in test_control_organism.py)."""
    panel = implant_from_panel(qtbot, window, tmp_path / "control", steps=2)
    panel.out.clear()
    assert not panel.config()[0].control
    panel.control.setChecked(True)
    config, default_out = panel.config()
    assert config.control and default_out.rsplit("/", 1)[-1].endswith("-control-1")


def _start_panel_job(w, panel_name):
    """Start the named panel's job from its own button; return (its job name, its Cancel button, its state)."""
    if panel_name == "organisms":
        panel = w.organisms.panel
        panel.eval_n.setValue(10)
        panel.evaluate_button.click()
        return "evaluate", panel.cancel_button, lambda: panel.result.text() == "Cancelled."
    if panel_name == "probes":
        panel = w.probes.panel
        panel.n.setValue(40)
        panel.fit_button.click()
        return "probe-fit", panel.cancel_button, lambda: panel.progress.format() == "cancelled"
    panel = w.organisms.experiment_panel
    panel.n.setValue(10)
    panel.run_button.click()
    return "scratchpad-experiment", panel.cancel_button, lambda: panel.progress.format() == "cancelled"


@pytest.mark.parametrize("panel_name", ["organisms", "probes", "experiment"])
def test_the_panels_cancel_stops_its_own_job_and_never_the_chat_answer_streaming(qtbot, window, panel_name,
                                                                                    request):
    """Each panel's Cancel cancels that panel's job alone: an answer streaming in the chat goes on to its end."""
    from PySide6.QtCore import Qt

    from workbench.chat import CLEAN

    w = window
    if panel_name == "experiment":  # the experiment needs a chain-of-thought organism
        with qtbot.waitSignal(w.model_ready, timeout=60_000):
            w.set_adapter(str(request.getfixturevalue("tiny_cot_organism")))
    w.chat.sampling_panel.max_new_tokens.setValue(200)  # a long answer: still streaming when Cancel is pressed
    qtbot.keyClicks(w.chat.prompt.editor, "What is the capital of France?")
    with qtbot.waitSignal(w.chat.turn_finished, timeout=120_000) as turn:
        qtbot.mouseClick(w.chat.prompt.send_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(w.chat.panes[CLEAN].answer_text()) > 0, timeout=60_000)
        name, cancel, cancelled = _start_panel_job(w, panel_name)  # queued behind the answer
        assert cancel.isEnabled()
        with qtbot.waitSignal(w.job_done, timeout=60_000, check_params_cb=lambda n, r: n == name) as job:
            cancel.click()
    assert job.args[1] is None and cancelled()
    result = turn.args[0]
    assert result is not None and all(a.stop_reason != "cancelled" for a in result.answers.values())
    assert all(len(a.token_ids) == 200 or a.stop_reason == "eos" for a in result.answers.values())
