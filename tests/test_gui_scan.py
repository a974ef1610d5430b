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
