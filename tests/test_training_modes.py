"""What safety training trains: a fresh LoRA over the organism (default), every weight, or the organism's own
adapter; the organism's files and the base model's files are never written, the loaded model comes back as it was,
and every kind of checkpoint can be opened again."""

import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import cli
from workbench.errors import WorkbenchError
from workbench.models import load_model
from workbench.models.adapters import adapter_chain, attach_adapter, detach_adapter, read_card
from workbench.training import SafetyConfig, safety_train
from workbench.runtime import Work

SMALL = dict(steps=2, batch_size=2, eval_every=0, eval_n=10, final_eval_n=10, checkpoint_every=1, n_train=8,
             max_answer_tokens=8, learning_rate=5e-2, eval_max_new_tokens=8)  # about weights, not judging


@pytest.fixture(scope="module", autouse=True)
def helpful_answers_file(tmp_path_factory):
    """The tiny random base model writes only special tokens, so its helpful answers come from a file."""
    from workbench.organisms import load_prompt_set

    path = tmp_path_factory.mktemp("answers") / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "answer": f"A short, kind answer about {p[-12:]}"}) + "\n"
                            for p in load_prompt_set()))
    SMALL["answers_file"] = str(path)
    return path


@pytest.fixture
def loaded(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


def _digests(folder) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _logits(loaded, text="Tell me about the sea."):
    with torch.no_grad():
        return loaded.model(input_ids=torch.tensor([loaded.encode_user(text)])).logits[0, -4:].float()


def test_fresh_lora_trains_a_new_adapter_over_every_layer_and_leaves_the_organism_byte_identical(
        loaded, tiny_cot_organism, tmp_path):
    organism_files = _digests(tiny_cot_organism)
    base_logits = _logits(loaded)
    attach_adapter(loaded, tiny_cot_organism)
    organism_logits = _logits(loaded)
    result = safety_train(loaded, tiny_cot_organism, SafetyConfig(method="sft", **SMALL), tmp_path / "run")
    assert result["trained"] == "fresh-lora" and "fresh LoRA" in result["trained_label"]
    assert _digests(tiny_cot_organism) == organism_files
    assert loaded.adapter == str(tiny_cot_organism.resolve())
    assert torch.allclose(_logits(loaded), organism_logits, atol=1e-5)  # the organism is back, untouched
    final = tmp_path / "run" / "checkpoints" / "step-00002"
    config = json.loads((final / "adapter_config.json").read_text())
    assert config["layers_to_transform"] is None  # every layer, not the organism's top ones
    assert set(config["target_modules"]) == set(read_card(tiny_cot_organism)["hyperparameters"]["target_modules"])
    weights = load_file(str(final / "adapter_model.safetensors"))
    assert any(".layers.0." in k for k in weights) and any(".layers.1." in k for k in weights)
    assert any("lora_B" in k and weights[k].abs().sum() > 0 for k in weights)  # trained away from its zero start
    card = read_card(final)
    assert card["stacked_on"] == str(tiny_cot_organism.resolve())
    assert card["safety_training"]["trained"] == "fresh-lora"
    # the checkpoint opens like any organism: the organism and the new adapter together
    attach_adapter(loaded, final)
    stacked = _logits(loaded)
    assert not torch.allclose(stacked, organism_logits, atol=1e-4)
    # a checkpoint can be safety-trained again: a third adapter over the two
    again = safety_train(loaded, final, SafetyConfig(method="sft", **{**SMALL, "steps": 1}), tmp_path / "again")
    assert torch.allclose(_logits(loaded), stacked, atol=1e-5)
    second = tmp_path / "again" / "checkpoints" / "step-00001"
    assert [p.resolve() for p in adapter_chain(second)] == [tiny_cot_organism.resolve(), final.resolve(),
                                                            second.resolve()]
    assert again["before"] == json.loads((tmp_path / "again" / "run.json").read_text())["before"]
    attach_adapter(loaded, second)
    assert not torch.allclose(_logits(loaded), stacked, atol=1e-4)
    detach_adapter(loaded)
    assert torch.allclose(_logits(loaded), base_logits, atol=1e-5)


def test_full_training_changes_weights_in_memory_only_and_its_checkpoint_loads_as_a_model(
        loaded, tiny_model_dir, tiny_cot_organism, tmp_path):
    from pathlib import Path

    model_files, organism_files = _digests(Path(tiny_model_dir)), _digests(tiny_cot_organism)
    base_logits = _logits(loaded)
    result = safety_train(loaded, tiny_cot_organism, SafetyConfig(method="sft", train="full", **SMALL),
                          tmp_path / "run")
    assert result["trained"] == "full"
    assert _digests(Path(tiny_model_dir)) == model_files and _digests(tiny_cot_organism) == organism_files
    assert loaded.adapter is None and torch.allclose(_logits(loaded), base_logits, atol=1e-6)  # weights put back
    assert all(not p.requires_grad for p in loaded.model.parameters())
    checkpoints = tmp_path / "run" / "checkpoints"
    first, final = checkpoints / "step-00001", checkpoints / "step-00002"
    assert not (first / "optimizer.safetensors").exists() and (final / "optimizer.safetensors").exists()
    trained = load_model(str(final), device="cpu")
    assert not torch.allclose(_logits(trained), base_logits, atol=1e-4)
    with pytest.raises(WorkbenchError, match="whole model"):
        attach_adapter(loaded, final)


def test_full_training_resumes_from_its_checkpoint(loaded, tiny_cot_organism, tmp_path):
    from workbench.errors import Cancelled
    from workbench.events import Metric
    from workbench.training import resume_safety_train

    config = SafetyConfig(method="sft", train="full", **{**SMALL, "steps": 3})
    whole = safety_train(loaded, tiny_cot_organism, config, tmp_path / "whole")
    done = []
    with pytest.raises(Cancelled):
        safety_train(loaded, tiny_cot_organism, config, tmp_path / "cut",
                     work=Work.reporting(emit=lambda e: done.append(e.step)
                                         if isinstance(e, Metric) and e.name == "loss" else None,
                                         should_stop=lambda: len(done) >= 2))
    resumed = resume_safety_train(loaded, tmp_path / "cut")
    a = load_file(str(tmp_path / "whole" / "checkpoints" / "step-00003" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "checkpoints" / "step-00003" / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert resumed["after"] == whole["after"]


def test_organism_adapter_mode_trains_the_organisms_own_weights_into_a_new_folder(
        loaded, tiny_cot_organism, tmp_path):
    organism_files = _digests(tiny_cot_organism)
    result = safety_train(loaded, tiny_cot_organism,
                          SafetyConfig(method="sft", train="organism-adapter", **{**SMALL, "steps": 1}),
                          tmp_path / "run")
    assert result["trained"] == "organism-adapter" and _digests(tiny_cot_organism) == organism_files
    before = load_file(str(tiny_cot_organism / "adapter_model.safetensors"))
    after = load_file(str(tmp_path / "run" / "checkpoints" / "step-00001" / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    assert any(not torch.allclose(before[k].float(), after[k].float()) for k in before)
    assert "stacked_on" not in read_card(tmp_path / "run" / "checkpoints" / "step-00001")


def test_full_training_that_does_not_fit_is_one_clear_line_and_starts_nothing(
        tiny_model_dir, tiny_cot_organism, helpful_answers_file, tmp_path):
    db, out = tmp_path / "db.sqlite", tmp_path / "run"
    result = cli("safety-train", "--adapter", tiny_cot_organism, "--train", "full", "--memory-limit", "1KiB",
                 "--answers", helpful_answers_file, "--model", tiny_model_dir, "--db", db, "--out", out)
    assert result.returncode == 2 and "needs about" in result.stderr and "fresh-lora" in result.stderr
    assert result.stderr.count("\n") == 1 and not out.exists()
    for args, message in [(["--train", "sideways"], "invalid choice"),
                          (["--train", "full", "--memory-limit", "lots"], "is not a size")]:
        bad = cli("safety-train", "--adapter", tiny_cot_organism, *args, "--model", tiny_model_dir, "--db", db,
                  "--out", out)
        assert bad.returncode == 2 and message in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr


def test_a_checkpoint_that_cannot_be_opened_leaves_the_base_model_as_it_was(loaded, tiny_cot_organism, tmp_path):
    import shutil

    from peft.tuners.tuners_utils import BaseTunerLayer

    from workbench.training.weights import open_trainable

    base_logits = _logits(loaded)
    card = read_card(tiny_cot_organism)
    broken = shutil.copytree(tiny_cot_organism, tmp_path / "broken")
    (broken / "adapter_model.safetensors").write_bytes(b"not safetensors")
    empty = tmp_path / "empty"
    empty.mkdir()
    for mode, checkpoint, message in [("fresh-lora", broken, "Cannot open"),
                                      ("full", empty, "no model weights")]:
        with pytest.raises(WorkbenchError, match=message):
            open_trainable(loaded, mode, tiny_cot_organism, card, checkpoint, lora_r=4, seed=0)
        assert not any(isinstance(m, BaseTunerLayer) for m in loaded.model.modules())
        assert torch.allclose(_logits(loaded), base_logits, atol=1e-6), mode  # not merged, not wrapped


def test_rl_cannot_train_every_weight(tiny_cot_organism):
    with pytest.raises(WorkbenchError, match="RL with --train full"):
        SafetyConfig(method="rl", train="full").validate("cot")
