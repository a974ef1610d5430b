"""The Probes dock and the live layer × token heatmaps in the real window, on the tiny model."""

import csv

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui


def _fit(qtbot, window, n=4, n_random=10):
    panel = window.probes.panel
    panel.read_at.setCurrentIndex(panel.read_at.findData("prompt-end"))
    panel.n.setValue(n)
    panel.random.setValue(n_random)
    with qtbot.waitSignal(window.job_done, timeout=300_000, check_params_cb=lambda name, r: name == "probe-fit"):
        panel.fit_button.click()
        assert panel.cancel_button.isEnabled() and not panel.fit_button.isEnabled()
    return panel


def _send(qtbot, window, text="What is a cat?"):
    with qtbot.waitSignal(window.chat.turn_finished, timeout=120_000) as blocker:
        window.chat.send(text)
    return blocker.args[0]


def test_fit_shows_auroc_with_controls_and_exports(qtbot, tiny_window, tmp_path):
    w = tiny_window
    panel = _fit(qtbot, w)
    layers = w.model_info["layers"]
    values = panel.auroc_map.values
    assert values.shape == (layers, len(panel.result["questions"]) + 3)  # questions, probe, random, base
    assert np.isfinite(values).all() and ((0 <= values) & (values <= 1)).all()
    assert "best layer" in panel.summary.text() and "random" in panel.summary.text()
    # every result has its verdict in words, coloured; the tiny base model never defects, so the trigger-free
    # test cannot run and says so
    verdict = panel.verdict.text()
    assert panel.verdict.isVisible() and panel.result["verdict"]["verdict"].upper() in verdict
    assert "Defection without the trigger" in verdict and "UNTESTED" in verdict
    assert panel.auroc_map.cell_text(len(panel.result["questions"]) + 1, 0).startswith("random best · layer 0 · AUROC")
    assert w.probes.probe is not None and "mean-diff" in panel.probe_label.text()
    assert panel.result["read_at"] == "prompt-end" and w.probes.probe.card["read_at"] == "prompt-end"
    panel.export_csv(str(tmp_path / "auroc.csv"))
    assert (tmp_path / "auroc.csv").read_text().count("\n") == layers + 1


def test_live_heatmaps_fill_share_a_scale_hover_alert_and_check(qtbot, tiny_window, tmp_path):
    w = tiny_window
    panel = _fit(qtbot, w)
    # no answer of the tiny base model defects, so no layer is known to be informative: the alert is off and
    # each heatmap says so
    assert w.probes.probe.card["live"]["informative_layers"] == []
    for heatmap in w.probes.heatmaps.values():
        assert heatmap.alert_layers == [] and "alert is off" in heatmap.note.text()
    panel.threshold.setValue(-1000)  # everything crosses it
    w.chat.sampling_panel.max_new_tokens.setValue(8)
    _send(qtbot, w, "Name a colour.")
    assert not any(h.alert.isVisible() for h in w.probes.heatmaps.values())
    for heatmap in w.probes.heatmaps.values():  # the layers a live-token test found informative
        heatmap.set_alert_layers([1])
    seen = []
    w.bridge.event.connect(lambda e: seen.append(e) if type(e).__name__ == "TokenScores" else None)
    result = _send(qtbot, w)
    assert seen, "no live scores arrived"
    layers = w.model_info["layers"]
    for pane, answer in result.answers.items():
        heatmap = w.probes.heatmaps[pane]
        assert heatmap.isVisible()
        assert heatmap.values.shape == (layers, len(answer.token_ids))
        assert np.isfinite(heatmap.values).all()
        assert heatmap.alert.isVisible() and heatmap.alert.text().startswith("⚠ Probe fired at token 0 ")
        assert ", layer 1:" in heatmap.alert.text()
    a, b = (w.probes.heatmaps[p].levels() for p in result.answers)
    assert a == b and a[1] >= max(w.probes.heatmaps[p].extent() for p in result.answers)
    heatmap = w.probes.heatmaps["triggered"]
    vb = heatmap.plot.getPlotItem().vb
    heatmap.plot.scene().sigMouseMoved.emit(vb.mapViewToScene(QPointF(0.5, layers - 0.5)))
    hover = heatmap.hover_label.text()
    assert hover.startswith("token 0 ") and f"layer {layers - 1}" in hover and "score" in hover
    w.grab().save(str(tmp_path / "probes.png"))
    with qtbot.waitSignal(w.job_done, timeout=60_000, check_params_cb=lambda n, r: n == "probe-check") as blocker:
        panel.check_button.click()
    check = blocker.args[1]
    assert check["tokens"] == sum(len(a.token_ids) for a in result.answers.values())  # both panes checked
    assert check["max_abs_diff"] < 1e-4 and len(check["answers"]) == 2
    assert "largest difference" in panel.consistency.text()

    csv_path = w.probes.export_live(str(tmp_path / "live.csv"))
    rows = list(csv.reader(csv_path.open(newline="", encoding="utf-8")))  # tokens may hold newlines
    assert rows[0] == ["pane", "token_index", "token", "layer", "score"]
    assert len(rows) - 1 == layers * sum(len(a.token_ids) for a in result.answers.values())
    png = w.probes.export_live(str(tmp_path / "live.png"))
    assert png.stat().st_size > 1000
    shown = w.probes.heatmaps["triggered"].values.copy()
    session = w.chat.session_id
    w.chat.new_session()
    assert not w.probes.heatmaps["triggered"].isVisible()
    w.chat.open_session(session)  # the scores were saved with the answers: the heatmaps come back as they were
    reopened = w.probes.heatmaps["triggered"]
    assert reopened.isVisible() and np.allclose(reopened.values, shown, atol=1e-4)
    assert reopened.tokens[0] and reopened.cell_text(0, 0).startswith(f"token 0 {reopened.tokens[0]!r}")

    panel.live.setChecked(False)  # live scoring off: no heatmaps, no scores
    seen.clear()
    _send(qtbot, w, "Name a colour.")
    assert not seen and not any(h.isVisible() for h in w.probes.heatmaps.values())


def test_probe_saves_loads_and_a_broken_one_is_refused(qtbot, tiny_window, tmp_path):
    w = tiny_window
    _fit(qtbot, w)
    saved = w.probes.save(str(tmp_path / "probe"))
    assert (saved / "card.json").exists()
    w.probes.set_probe(None)
    with qtbot.waitSignal(w.job_done, timeout=30_000, check_params_cb=lambda n, r: n == "probe-load"):
        w.probes.load(str(saved))
    assert w.probes.probe is not None and "mean-diff" in w.probes.panel.probe_label.text()
    (saved / "probe.safetensors").write_bytes(b"\x00broken")
    with qtbot.waitSignal(w.job_done, timeout=30_000, check_params_cb=lambda n, r: n == "probe-load"):
        w.probes.load(str(saved))
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "Cannot read the probe" in boxes[0].text()
    boxes[0].close()
    assert w.probes.probe is not None  # the working probe is still in use
    result = _send(qtbot, w)  # and the window still chats, scored live
    assert w.probes.heatmaps["triggered"].values.shape[1] == len(result.answers["triggered"].token_ids)


def test_a_verdict_reason_with_a_less_than_sign_is_shown_whole(qtbot):
    """The live test's reason says "token AUROC < 0.7": rich text once read '<' as a tag and cut the rest off."""
    from PySide6.QtGui import QTextDocument

    from ui.widgets.probe_panel import verdict_html

    why = "No layer's live score tells them apart (token AUROC < 0.7 at every layer): the live alert is off."
    result = {"verdict": {"verdict": "cannot tell", "auroc": 1.0, "best_layer": 3, "why": "Random <b> reaches 1.0."},
              "trigger_free": None, "live": {"why": why}}
    document = QTextDocument()
    document.setHtml(verdict_html(result))
    shown = document.toPlainText()
    assert why in shown and "Random <b> reaches 1.0." in shown and "CANNOT TELL" in shown


def test_reopening_the_window_brings_back_the_last_fit_and_the_layout(qtbot, tiny_window, tiny_model_dir, tmp_path):
    from ui.main_window import MainWindow
    from workbench.store import SessionStore

    w = tiny_window
    fitted = _fit(qtbot, w).result
    assert fitted["remembered_in"]
    w.docks["sessions"].hide()
    w.resize(w.width(), 555)  # (the offscreen screen is narrower than the window's minimum width: height only)
    w.close()
    again = MainWindow(SessionStore(tmp_path / "again.sqlite"), device="cpu")
    qtbot.addWidget(again)
    again.show()
    assert not again.docks["sessions"].isVisible() and again.docks["settings"].isVisible()
    assert again.height() == 555
    with qtbot.waitSignal(again.model_ready, timeout=60_000):
        again.load_model(str(tiny_model_dir))
    panel = again.probes.panel
    assert again.probes.probe is not None and again.probes.probe.name == w.probes.probe.name
    assert panel.result["layers"] == fitted["layers"] and panel.verdict.isVisible()
    assert "restored" in panel.progress.format() and "mean-diff" in panel.probe_label.text()
    result = _send(qtbot, again)  # and it scores live at once
    assert again.probes.heatmaps["triggered"].values.shape[1] == len(result.answers["triggered"].token_ids)
    again.probes.set_probe(None)  # the researcher's own choice stays while the model and organism do
    with qtbot.waitSignal(again.model_ready, timeout=60_000):
        again.set_adapter(None)
    assert again.probes.probe is None
    again.close()


def test_the_logit_lens_under_both_answers(qtbot, tiny_window):
    """View → Logit lens reads every layer where each answer token was chosen, for both panes, and reads again
    after the next turn; with greedy answers the last layer's top token is the token written, in every column."""
    from workbench.chat import CLEAN, TRIGGERED

    w = tiny_window
    first = _send(qtbot, w)
    with qtbot.waitSignal(w.lens.shown, timeout=60_000) as shown:
        w.lens.set_on(True)
    assert set(shown.args[0]) == {TRIGGERED, CLEAN}
    for pane in (TRIGGERED, CLEAN):
        table, answer = w.lens.tables[pane], first.answers[pane]
        assert table.isVisible() and table.table.rowCount() == w.model_info["layers"]
        assert table.table.columnCount() == len(answer.token_ids)
        last = w.model_info["layers"] - 1
        grid = shown.args[0][pane]
        assert len(grid.written) == len(answer.token_ids) and "".join(grid.written).startswith(answer.text[:10])
        assert [table.cell_text(last, j) for j in range(len(answer.token_ids))] == \
            [repr(token)[1:-1] for token in grid.written]
    with qtbot.waitSignal(w.lens.shown, timeout=60_000) as again:
        second = _send(qtbot, w, "What is a dog?")
    assert len(again.args[0][CLEAN].positions) == len(second.answers[CLEAN].token_ids)
    assert w.lens.tables[CLEAN].table.columnCount() == len(second.answers[CLEAN].token_ids)
    w.lens.set_on(False)
    assert not any(t.isVisible() for t in w.lens.tables.values())
