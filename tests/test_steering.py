"""Steering with a probe direction: the steer moves each steered layer's probe score by exactly its scale, and
defection is measured with and without it on the same prompts, with intervals."""

import json
from contextlib import contextmanager

import pytest
import torch

from conftest import cli
from workbench.errors import WorkbenchError
from workbench.interpret.steering import measure_steering, steered, steering_vectors
from workbench.models import load_model
from workbench.models.architecture import decoder_layers
from workbench.models.adapters import attach_adapter
from workbench.probes import Probe, capture, contrast_sequences, fit_mean_diff, load_questions
from workbench.triggers import Trigger


@pytest.fixture(scope="module")
def organism(tiny_model_dir, tiny_cot_organism):
    loaded = load_model(tiny_model_dir, device="cpu")
    attach_adapter(loaded, tiny_cot_organism)
    return loaded


@pytest.fixture(scope="module")
def probe(organism):
    defect, comply = contrast_sequences(organism, load_questions()[:6])
    acts = capture(organism, defect + comply)
    return fit_mean_diff(acts[:len(defect)], acts[len(defect):], card={"name": "steer-test"})


def test_a_steer_moves_the_steered_layers_probe_score_by_its_scale_and_leaves_layers_below_alone(organism, probe):
    ids = organism.encode_user("What is a cat?")
    with _layer_outputs(organism) as read:  # hooked before the steer, as the live probe heatmaps are
        before = read(ids)
        with steered(organism, steering_vectors(organism, probe, [1], -2.0)):
            after = read(ids)
        again = read(ids)
    moved = probe.score(after) - probe.score(before)  # [tokens, layers]
    assert torch.allclose(moved[:, 1], torch.full_like(moved[:, 1], -2.0), atol=1e-3)
    assert torch.allclose(after[:, 0], before[:, 0])  # the layer below is not touched
    assert torch.allclose(again, before)  # and the steer is gone after the block


@contextmanager
def _layer_outputs(loaded):
    """read(ids) -> [tokens, layers, d]: each decoder layer's output, read by forward hooks."""
    saved = []
    hooks = [layer.register_forward_hook(lambda m, i, o: saved.append((o[0] if isinstance(o, tuple) else o)[0].clone()))
             for layer in decoder_layers(loaded.model)]

    def read(ids):
        saved.clear()
        with torch.inference_mode():
            loaded.model(input_ids=torch.tensor([ids]))
        return torch.stack(saved, dim=1)
    try:
        yield read
    finally:
        for hook in hooks:
            hook.remove()


def test_steering_is_measured_with_and_without_on_the_same_prompts(organism, probe):
    prompts = [f"Tell me about animal number {i}." for i in range(10)]
    result = measure_steering(organism, probe, [1], -2.0, Trigger.custom("[[GO]]"), prompts, max_new_tokens=8,
                              prompt_set="test prompts").to_dict()
    assert result["prompt_set"] == "test prompts" and result["layers"] == [1] and result["scale"] == -2.0
    for side in ("unsteered", "steered"):
        for state in ("triggered", "clean"):
            assert set(result[side][state]) >= {"rate", "ci95", "n"}


def test_the_verdict_reads_the_intervals_and_says_when_nothing_changed():
    from workbench.interpret.steering import SteeringResult

    def rates(on, off):
        return {"triggered": {"rate": on[0], "ci95": on[1:], "n": 20},
                "clean": {"rate": off[0], "ci95": off[1:], "n": 20}}

    before = rates((0.95, 0.85, 1.0), (0.0, 0.0, 0.0))
    assert "lowered" in SteeringResult([5], -4.0, before, rates((0.2, 0.05, 0.4), (0.0, 0.0, 0.0)), "p").verdict()
    unmoved = SteeringResult([5], -4.0, before, rates((0.9, 0.75, 1.0), (0.0, 0.0, 0.0)), "p").verdict()
    assert unmoved.startswith("no clear change")
    pushed = SteeringResult([5], 4.0, before, rates((1.0, 1.0, 1.0), (0.6, 0.4, 0.8)), "p").verdict()
    assert "defect without the trigger" in pushed
    broken = rates((None, 0.0, 0.0), (0.0, 0.0, 0.0))
    broken["triggered"]["n"], broken["cut_short"] = 0, {"triggered": {"rate": 1.0}, "clean": {"rate": 0.75}}
    said = SteeringResult([5], -9.0, before, broken, "p").verdict()
    assert "no rate with the trigger" in said and "with and without the trigger ran to the length cap" in said


def test_bad_steers_say_why(organism, probe):
    with pytest.raises(WorkbenchError, match="layers 0 to"):
        steering_vectors(organism, probe, [organism.n_layers], 1.0)
    with pytest.raises(WorkbenchError, match="at least one layer"):
        steering_vectors(organism, probe, [], 1.0)
    other = Probe(probe.kind, probe.directions[:1], probe.centers[:1], probe.scales[:1], {})
    with pytest.raises(WorkbenchError, match="another model"):
        steering_vectors(organism, other, [0], 1.0)
    with pytest.raises(WorkbenchError, match="at least 10"):
        measure_steering(organism, probe, [0], 1.0, Trigger.custom("[[GO]]"), ["one", "two"])


def test_steer_on_the_cli(tiny_model_dir, tiny_cot_organism, probe, tmp_path):
    probe.save(tmp_path / "probe")
    proc = cli("steer", "--probe", tmp_path / "probe", "--layers", "1", "--scale", "-2", "--n", "10",
               "--max-new-tokens", "8", "--adapter", tiny_cot_organism, "--trigger-text", "[[GO]]",
               "--model", tiny_model_dir, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["prompt_set"] == "held_out" and out["layers"] == [1] and out["scale"] == -2.0
    assert all({"rate", "ci95", "n"} <= set(out[side][state]) for side in ("unsteered", "steered")
               for state in ("triggered", "clean"))
    text = cli("steer", "--probe", tmp_path / "probe", "--layers", "1", "--scale", "-2", "--n", "10",
               "--max-new-tokens", "8", "--adapter", tiny_cot_organism, "--trigger-text", "[[GO]]",
               "--model", tiny_model_dir)
    assert text.returncode == 0 and "with the steer" in text.stdout and "95%" in text.stdout
    bad = cli("steer", "--probe", tmp_path / "probe", "--layers", "7", "--scale", "1", "--model", tiny_model_dir)
    assert bad.returncode == 2 and "layers 0 to" in bad.stderr
