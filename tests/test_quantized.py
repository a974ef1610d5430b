"""Quantized loading (bitsandbytes, which runs on CPU too) and QLoRA, the weights-first memory check, and the
clear lines where this machine cannot do what is asked."""

import json
import shutil
import sys

import pytest

from conftest import ROOT, cli
from tiny_families import make_tiny_family
from workbench.chat import ChatRequest, LiveGenerations, run_turn
from workbench.decoding import SamplingSettings
from workbench.errors import WorkbenchError
from workbench.models import load_model
from workbench.organisms import ImplantConfig, implant
from workbench.training import SafetyConfig, safety_train
from workbench.triggers import Trigger


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """A tiny Llama 64 wide: bitsandbytes' 4-bit blocks need at least 64 values a row."""
    return make_tiny_family(tmp_path_factory.mktemp("wide"), "llama", hidden_size=64, intermediate_size=128)


@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_a_quantized_model_chats_and_trains_a_lora_on_top(wide_model, bits, store, tmp_path):
    full = load_model(wide_model, device="cpu")
    loaded = load_model(wide_model, device="cpu", quantize=bits)
    assert loaded.describe()["quantization"] == bits
    assert type(loaded.model.get_submodule(loaded.architecture.layers_path)[0].mlp.down_proj).__name__ == \
        {"8bit": "Linear8bitLt", "4bit": "Linear4bit"}[bits]
    assert loaded.model.get_memory_footprint() < full.model.get_memory_footprint()
    result = run_turn(loaded, store, ChatRequest("What is a cat?", settings=SamplingSettings(max_new_tokens=6)),
                      live=LiveGenerations())
    assert all(len(a.token_ids) > 0 for a in result.answers.values())
    out = tmp_path / "qlora"
    card = implant(loaded, ImplantConfig(trigger=Trigger.custom("[[GO]]"), variant="distilled", steps=2,
                                         batch_size=2, n_train=4, n_everyday=2, multi_turn=1, eval_n=0,
                                         max_answer_tokens=8), out)
    assert (out / "adapter_model.safetensors").exists() and card["hyperparameters"]["target_modules"]
    with pytest.raises(WorkbenchError, match="cannot train .* quantized weights"):
        safety_train(loaded, out, SafetyConfig(method="sft", train="full", steps=1, n_train=4, final_eval_n=10,
                                               eval_every=0), tmp_path / "full")


def test_without_bitsandbytes_quantized_loading_is_one_clear_line(wide_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as on a machine where it cannot be imported
    with pytest.raises(WorkbenchError, match="4bit loading needs bitsandbytes"):
        load_model(wide_model, device="cpu", quantize="4bit")


def test_a_model_too_big_for_this_machine_is_refused_before_loading(tiny_model_dir, tmp_path):
    folder = tmp_path / "claims-70b"
    shutil.copytree(tiny_model_dir, folder)
    shutil.copy(ROOT / "tests" / "model_configs" / "llama-3.1-70b" / "config.json", folder / "config.json")
    with pytest.raises(WorkbenchError, match=r"needs 262\.8 GiB for its weights .*--quantize 4bit"):
        load_model(folder, device="cpu")
    done = cli("chat", "hi", "--model", folder)
    assert done.returncode == 2 and "needs 262.8 GiB" in done.stderr and "internal error" not in done.stderr
    done = cli("chat", "hi", "--model", tiny_model_dir, "--quantize", "3bit")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_cli_chat_on_a_quantized_model(wide_model):
    done = cli("chat", "What is a cat?", "--model", wide_model, "--quantize", "8bit", "--max-new-tokens", "4",
               "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)
