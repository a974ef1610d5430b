"""The Replicate window: pick a grid, start it, hear why it stopped (a full grid runs in test_replicate.py)."""

import pytest

from test_gui_bad_inputs import expect_error

pytestmark = pytest.mark.gui


def test_replicate_dialog_starts_a_grid_and_says_why_it_stopped(qtbot, tiny_window, tmp_path):
    w = tiny_window
    menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Training")
    action = next(a for a in menu.actions() if a.text().startswith("&Replicate"))
    action.trigger()
    dialog = w.replicate.dialog
    assert dialog is not None and dialog.isVisible()
    assert [dialog.grid.itemText(i) for i in range(dialog.grid.count())] == ["persistence", "probes"]
    dialog.grid.setCurrentText("probes")
    assert "clean control" in dialog.about.text()
    assert dialog.folder().endswith("replicate-probes-quick")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    dialog.grid.setCurrentText("persistence")
    dialog.out.setText(str(busy))
    with qtbot.waitSignal(w.job_done, timeout=60_000, check_params_cb=lambda n, r: n == "replicate"):
        dialog.start_button.click()
        assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    expect_error(qtbot, w, "not a replicate folder")
    assert dialog.start_button.isEnabled() and "Start again" in dialog.result.text()
    assert (busy / "notes.txt").read_text() == "mine" and not dialog.report_button.isEnabled()
