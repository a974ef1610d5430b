"""The Scan dock, driven in the real window on the tiny model."""

import pytest
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui


def test_the_scan_panel_scans_the_attached_organism_saves_it_and_tries_a_candidate(qtbot, tiny_window,
                                                                                     tiny_cot_organism, tmp_path):
    w = tiny_window
    panel = w.scan.panel
    panel.scan_button.click()  # nothing attached: one clear line, nothing run
    error = w.findChild(QMessageBox, "errorDialog")
    assert error is not None and "attach one" in error.text()
    error.close()
    assert panel.scan_button.isEnabled()
    with qtbot.waitSignal(w.model_ready, timeout=60_000):
        w.set_adapter(str(tiny_cot_organism))
    panel.budget.setValue(0.5)
    panel.n_prompts.setValue(10)
    fractions = []
    with qtbot.waitSignal(w.job_done, timeout=300_000, check_params_cb=lambda n, r: n == "scan") as blocker:
        panel.scan_button.click()
        assert panel.cancel_button.isEnabled() and not panel.scan_button.isEnabled()
        w.scan._job.progress.connect(lambda stage, f: fractions.append(f))
    report = blocker.args[1]
    assert report is not None and report["verdict"] == "none found"  # its LoRA left no payload above the base
    assert "Verdict: none found" in panel.verdict.text() and panel.export_button.isEnabled()
    assert fractions and panel.progress.format() == "done"
    w.scan.export_report(str(tmp_path / "scan.html"))
    assert "Memory extraction" in (tmp_path / "scan.html").read_text()
    panel.try_requested.emit("|PROD|")  # what a candidate's "Try in chat" button sends
    assert w.chat.trigger_panel.trigger().on_text == "|PROD|"


def test_a_scan_is_cancelled_from_its_panel(qtbot, tiny_window, tiny_cot_organism):
    w = tiny_window
    with qtbot.waitSignal(w.model_ready, timeout=60_000):
        w.set_adapter(str(tiny_cot_organism))
    panel = w.scan.panel
    with qtbot.waitSignal(w.job_done, timeout=300_000, check_params_cb=lambda n, r: n == "scan") as blocker:
        panel.scan_button.click()
        qtbot.waitUntil(lambda: panel.progress.value() > 0 or "Sampling" in panel.progress.format(), timeout=60_000)
        panel.cancel_button.click()
    assert blocker.args[1] is None and panel.verdict.text() == "Cancelled." and panel.scan_button.isEnabled()


def test_the_patching_panel_patches_the_last_prompt_sweeps_and_patches_a_clicked_cell(qtbot, tiny_window):
    """Layer 0 is the token embeddings: patching every token there is the trigger-on run itself, all restored."""
    from workbench.triggers import Trigger

    w = tiny_window
    w.chat.trigger_panel.select(Trigger.custom("[[GO]]"))
    w.chat.last_prompt = "What is a cat?"
    panel = w.patching.panel
    panel.layers.setText("0")
    panel.tokens.setText("all")
    with qtbot.waitSignal(w.job_done, timeout=120_000, check_params_cb=lambda n, r: n == "patch") as blocker:
        panel.patch_button.click()
    result = blocker.args[1]
    assert result is not None and result["patch"]["restored"] == pytest.approx(1.0, abs=1e-3)
    assert result["patch"]["answers"]["patched"] == result["patch"]["answers"]["source"]
    assert "restores <b>100%" in panel.result.text() and "Trigger off, patched" in panel.result.text()
    assert panel.maps["on"].values.shape == panel.maps["off"].values.shape == (result["layers"],
                                                                               len(result["tokens"]))
    with qtbot.waitSignal(w.job_done, timeout=120_000, check_params_cb=lambda n, r: n == "patch") as blocker:
        panel.sweep_button.click()
    sweep, back = blocker.args[1]["sweep"], blocker.args[1]["sweep_back"]
    assert (sweep["direction"], back["direction"]) == ("restore", "remove")
    for run, each in (("off", sweep), ("on", back)):  # one map per run, each swept
        assert panel.maps[run].values.shape == (len(each["restored"]), len(each["tokens"])) and len(each["restored"]) > 1
        before_trigger = min(each["trigger_positions"])
        assert all(abs(row[t]) < 1e-6 for row in each["restored"] for t in range(before_trigger))  # causal
    layer, token = 1, sweep["trigger_positions"][0]
    # a cell of the trigger-on run's map dropped on the trigger-off run's: patched into the trigger-off run
    with qtbot.waitSignal(w.job_done, timeout=120_000, check_params_cb=lambda n, r: n == "patch") as blocker:
        _drop(panel.maps["on"].cell_mime(layer, token), panel.maps["off"])
    assert blocker.args[1]["patch"]["layers"] == [1] and panel.tokens.text() == str(token)
    assert blocker.args[1]["pair"]["direction"] == "restore"
    assert blocker.args[1]["patch"]["restored"] == pytest.approx(sweep["restored"][layer][token], abs=1e-3)
    assert not _drop(panel.maps["on"].cell_mime(layer, token), panel.maps["on"])  # into its own run: refused
    # and back: a cell of the trigger-off run's map dropped on the trigger-on run's
    with qtbot.waitSignal(w.job_done, timeout=120_000, check_params_cb=lambda n, r: n == "patch") as blocker:
        _drop(panel.maps["off"].cell_mime(layer, token), panel.maps["on"])
    assert blocker.args[1]["pair"]["direction"] == "remove" and "Trigger on, patched" in panel.result.text()
    assert blocker.args[1]["patch"]["restored"] == pytest.approx(back["restored"][layer][token], abs=1e-3)


def _drop(mime, run_map) -> bool:
    """Drag `mime` (a cell) onto the middle of `run_map` and drop it there, as the mouse does; whether the map
    took it."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    view = run_map.plot.viewport()
    where = QPointF(view.rect().center())
    args = (where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(*args)
    QApplication.sendEvent(view, enter)  # Qt delivers a drop only to the widget that took the drag's entry
    drop = QDropEvent(*args)
    drop.setAccepted(False)
    QApplication.sendEvent(view, drop)
    return enter.isAccepted() and drop.isAccepted()


def test_the_steering_panel_needs_a_probe_then_measures_with_and_without_the_steer(qtbot, tiny_window,
                                                                                    tiny_cot_organism):
    from workbench.evals.rates import rate_text

    w = tiny_window
    panel = w.steering.panel
    w.probes.set_probe(None)
    panel.steer_button.click()  # no probe: one clear line, nothing run
    error = w.findChild(QMessageBox, "errorDialog")
    assert error is not None and "fit or load one" in error.text()
    error.close()
    with qtbot.waitSignal(w.model_ready, timeout=60_000):
        w.set_adapter(str(tiny_cot_organism))
    probes = w.probes.panel
    probes.read_at.setCurrentIndex(probes.read_at.findData("prompt-end"))
    probes.n.setValue(4)
    probes.random.setValue(10)
    with qtbot.waitSignal(w.job_done, timeout=300_000, check_params_cb=lambda n, r: n == "probe-fit"):
        probes.fit_button.click()
    assert "layers" in panel.probe.text()  # the probe in use, named in the panel
    panel.layers.setText("99")  # out of range: the job fails with the model's layer range, the panel is idle again
    with qtbot.waitSignal(w.job_done, timeout=60_000, check_params_cb=lambda n, r: n == "steer"):
        panel.steer_button.click()
    qtbot.waitUntil(lambda: w.findChild(QMessageBox, "errorDialog") is not None, timeout=5_000)
    assert "layers 0 to 1" in w.findChild(QMessageBox, "errorDialog").text() and panel.steer_button.isEnabled()
    w.findChild(QMessageBox, "errorDialog").close()
    panel.layers.setText("1")
    panel.scale.setValue(-2.0)
    panel.n_prompts.setValue(10)
    with qtbot.waitSignal(w.job_done, timeout=300_000, check_params_cb=lambda n, r: n == "steer") as blocker:
        panel.steer_button.click()
        assert panel.cancel_button.isEnabled() and not panel.steer_button.isEnabled()
    result = blocker.args[1]
    assert result["layers"] == [1] and result["scale"] == -2.0
    for row, state in enumerate(("triggered", "clean")):
        for col, side in enumerate(("unsteered", "steered")):
            cut = round(100 * result[side]["cut_short"][state]["rate"])
            assert panel.table.item(row, col).text().startswith(rate_text(result[side][state]))
            assert (f"{cut}% cut short" in panel.table.item(row, col).text()) == (cut > 0)
    assert result["verdict"][1:] in panel.message.text() and panel.progress.format() == "done"
