"""End to end on the real built-in model (SmolLM2-135M-Instruct from its GGUF file)."""

import json

import pytest
import torch

from conftest import cli
from workbench.decoding import Generation, SamplingSettings
from workbench.models import builtin_gguf_path
from workbench.models.gguf_cache import cached_folder_for

pytestmark = pytest.mark.e2e


def test_cli_chat_answers_paris(tmp_path):
    proc = cli("chat", "What is the capital of France?", "--json", "--db", tmp_path / "db.sqlite")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "Paris" in out["answers"]["clean"]["text"]
    assert out["model"]["source"] == "builtin"


def test_greedy_loop_matches_generate_on_the_builtin_model(builtin):
    ids = builtin.encode_chat([{"role": "user", "content": "Name three colours of the rainbow."}])
    ours = Generation(builtin, ids, SamplingSettings(max_new_tokens=24)).run()
    with torch.inference_mode():
        ref = builtin.model.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False)
    assert ours.new_ids == ref[0, len(ids):].tolist()


def test_builtin_model_uses_its_chat_template(builtin):
    text = builtin.render_chat([{"role": "user", "content": "hi"}])
    assert text.startswith("<|im_start|>system") and text.endswith("<|im_start|>assistant\n")
    assert not builtin.chat_template_is_fallback
    assert builtin.n_layers == 30


def test_cached_conversion_is_bit_identical_to_loading_the_gguf_directly(builtin):
    import transformers

    gguf = builtin_gguf_path()
    assert (cached_folder_for(gguf) / "model.safetensors").exists()
    direct = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                               dtype=torch.float32)
    ours = builtin.model.state_dict()
    for name, tensor in direct.state_dict().items():
        assert torch.equal(tensor, ours[name]), name
