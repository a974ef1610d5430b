"""The memory plan: exact parameter counts from configs alone, sizes that move the right way, a verdict per
task against the devices, advice that makes a run fit, and the `plan` command."""

import json
import shutil

import pytest
import torch

from conftest import ROOT, cli
from workbench.errors import WorkbenchError
from workbench.models import load_model
from workbench.models.memory_plan import plan_memory

CONFIGS = ROOT / "tests" / "model_configs"
# published totals (the Hub's safetensors metadata)
PUBLISHED = {"llama-3.1-8b": 8_030_261_248, "llama-3.1-70b": 70_553_706_496, "qwen2.5-7b": 7_615_616_512,
             "gemma-2-9b": 9_241_705_984, "mistral-7b-v0.3": 7_248_023_552}
GPU_80GB = [{"device": "cuda:0", "name": "80 GB GPU", "total_bytes": 80 * 2**30, "free_bytes": 79 * 2**30}]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameters_from_a_config_alone_match_the_published_count(name):
    plan = plan_memory(CONFIGS / name, tasks=("chat",), found=GPU_80GB)
    assert abs(plan.shape.parameters - PUBLISHED[name]) <= 0.01 * PUBLISHED[name]
    assert plan.to_dict()["weights_bytes"] == 2 * plan.shape.parameters  # bf16 on a GPU


def test_an_8b_model_on_one_80gb_gpu_chats_and_needs_help_to_train():
    plan = plan_memory(CONFIGS / "llama-3.1-8b", found=GPU_80GB, tasks=("chat", "implant"), batch_size=32)
    out = plan.to_dict()["tasks"]
    assert out["chat"]["fits"] and not out["implant"]["fits"]
    assert any("gradient checkpointing" in tip and "fits on cuda:0" in tip for tip in out["implant"]["advice"])
    helped = plan_memory(CONFIGS / "llama-3.1-8b", found=GPU_80GB, tasks=("implant",), batch_size=32,
                         checkpointing=True).to_dict()["tasks"]["implant"]
    assert helped["fits"] and helped["total_bytes"] < out["implant"]["total_bytes"]


def test_quantization_shrinks_the_weights_in_order_and_70b_splits_over_two_gpus():
    sizes = [plan_memory(CONFIGS / "llama-3.1-70b", quantize=q, tasks=("chat",), found=GPU_80GB)
             .to_dict()["weights_bytes"] for q in (None, "8bit", "4bit")]
    assert sizes[0] > sizes[1] > sizes[2] > sizes[0] / 4.5
    two = GPU_80GB + [{**GPU_80GB[0], "device": "cuda:1"}]
    chat = plan_memory(CONFIGS / "llama-3.1-70b", tasks=("chat",), found=two).to_dict()["tasks"]["chat"]
    assert chat["fits"] and "split over 2 GPUs" in chat["where"]
    with pytest.raises(WorkbenchError, match="Full training cannot train quantized"):
        plan_memory(CONFIGS / "llama-3.1-8b", quantize="4bit", tasks=("safety-train",), train="full", found=two)


def test_a_real_folder_and_its_config_alone_plan_the_same_parameters_as_loading(tiny_model_dir, tmp_path):
    loaded = load_model(tiny_model_dir, device="cpu")
    real = sum(p.numel() for p in loaded.model.parameters())
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    shutil.copy(tiny_model_dir / "config.json", config_only / "config.json")
    for folder in (tiny_model_dir, config_only):
        plan = plan_memory(folder, dtype="float32", tasks=("chat",))
        assert plan.shape.parameters == real
        assert plan.to_dict()["weights_bytes"] == real * 4


def test_gradient_checkpointing_trains_the_same_weights(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    from workbench.organisms import ImplantConfig, implant
    from workbench.triggers import Trigger

    weights = []
    for on in (False, True):
        out = tmp_path / f"checkpointing-{on}"
        implant(load_model(tiny_model_dir, device="cpu"),
                ImplantConfig(trigger=Trigger.custom("[[GO]]"), variant="distilled", steps=2, batch_size=2,
                              n_train=4, n_everyday=2, multi_turn=1, eval_n=0, max_answer_tokens=8,
                              mixed_precision="off", gradient_checkpointing=on), out)
        weights.append(load_file(str(out / "adapter_model.safetensors")))
    from workbench.models.checkpointing import gradient_checkpointing

    model = load_model(tiny_model_dir, device="cpu").model
    with gradient_checkpointing(model, True) as on:
        assert on and model.is_gradient_checkpointing
    assert not model.is_gradient_checkpointing
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.allclose(weights[0][k], weights[1][k], atol=1e-6) for k in weights[0])


def test_plan_command_json_and_bad_input(tmp_path):
    done = cli("plan", CONFIGS / "gemma-2-9b", "--task", "safety-train", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["parameters"] == PUBLISHED["gemma-2-9b"] and out["weights_bytes"] > 0
    task = out["tasks"]["safety-train"]
    assert set(task) >= {"total_bytes", "fits", "parts", "advice"} and task["total_bytes"] > out["weights_bytes"]
    text = cli("plan", CONFIGS / "mistral-7b-v0.3", "--task", "chat", "--quantize", "4bit")
    assert text.returncode == 0 and "chat" in text.stdout and "7.25 B parameters" in text.stdout
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "no-such-family"}')
    for bad, message in ((tmp_path / "nowhere", "not found"), (tmp_path / "empty", "no config.json"),
                         (tmp_path / "broken", "Cannot read the model config")):
        done = cli("plan", bad)
        assert done.returncode == 2 and message in done.stderr and "internal error" not in done.stderr


def test_a_training_run_that_cannot_fit_is_refused_with_what_would_make_it_fit(tiny):
    from workbench.models.memory_plan import check_training_fits

    check_training_fits(tiny, "implant", 8, False)  # this machine: fits
    with pytest.raises(WorkbenchError, match=r"implant would add about .* free; try --gradient-checkpointing .* or "
                                             r"--batch-size 1"):
        check_training_fits(tiny, "implant", 8, False, free_bytes=1 << 20)
