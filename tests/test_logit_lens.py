"""The logit lens: what every layer would predict where each answer token was chosen, from Python and the CLI."""

import json

import pytest

from conftest import cli
from workbench.errors import WorkbenchError
from workbench.interpret import answer_lens, logit_lens


def test_the_answer_lens_reads_where_each_answer_token_was_chosen(tiny):
    prompt = tiny.encode_user("What is a cat?")
    answer = tiny.encode_text(" A cat is an animal.")
    grid = answer_lens(tiny, prompt, answer)
    assert grid.positions[0] == len(prompt) - 1 and len(grid.positions) == len(answer)
    assert grid.written == [tiny.tokenizer.decode([t]) for t in answer]
    assert len(grid.top_tokens) == tiny.n_layers and all(len(row) == len(answer) for row in grid.top_tokens)
    assert all(0.0 < p <= 1.0 for row in grid.top_probs for p in row)


@pytest.mark.parametrize("ids, positions, message", [
    ([], None, "at least one token"),
    ([1, 2, 3], [3], "outside the 3 tokens"),
    ([1, 2, 3], [], "at least one position"),
])
def test_bad_lens_requests_say_why(tiny, ids, positions, message):
    with pytest.raises(WorkbenchError, match=message):
        logit_lens(tiny, ids, positions)


def test_paired_chat_with_the_lens_on_the_cli(tiny, tiny_model_dir, tmp_path):
    proc = cli("chat", "What is a cat?", "--paired", "--trigger", "deployment", "--lens", "--max-new-tokens", "6",
               "--model", tiny_model_dir, "--db", tmp_path / "s.sqlite", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["lens"]) == {"triggered", "clean"}
    for pane, grid in out["lens"].items():
        answer = out["answers"][pane]["token_ids"]
        assert len(grid["positions"]) == len(answer) and len(grid["top_tokens"]) == tiny.n_layers
        assert grid["written"] == [tiny.tokenizer.decode([t]) for t in answer]
    text = cli("chat", "What is a cat?", "--lens", "--max-new-tokens", "4", "--model", tiny_model_dir,
               "--db", tmp_path / "s.sqlite")
    assert text.returncode == 0, text.stderr
    assert "Logit lens" in text.stdout and "layer 0" in text.stdout
