"""Convert a GGUF file once into a cached safetensors folder, in the dtype it will be used in.

transformers parses GGUF metadata in pure Python (~45 s for the built-in model's tokenizer and
weights on 2 cores); the de-quantised copy loads in about a second (float32 on CPU: bit-identical to loading
the GGUF directly; bfloat16 for GPU use, half the size). The key is the file's content (name, size, its first
and last MiB), not its path: copies of one file in several environments share one conversion.
"""

import contextlib
import hashlib
import os
import shutil
import threading
from pathlib import Path
from typing import Callable

import safetensors.torch
import torch
import transformers

from ..paths import cache_dir

GGUF_MAGIC = b"GGUF"
ProgressFn = Callable[[str, float], None]


def gguf_cache_key(path: Path, dtype: torch.dtype = torch.float32) -> str:
    """A key that changes when the file's content, the converter or the dtype changes."""
    size = path.stat().st_size
    digest = hashlib.sha256(f"{path.name}|{size}|transformers-{transformers.__version__}|{dtype}".encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def cached_folder_for(path: Path, dtype: torch.dtype = torch.float32) -> Path:
    suffix = "" if dtype == torch.float32 else f"-{str(dtype).removeprefix('torch.')}"
    return cache_dir() / "gguf" / f"{path.stem}-{gguf_cache_key(path, dtype)}{suffix}"


def is_gguf_file(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == GGUF_MAGIC


def convert_gguf(path: Path, progress: ProgressFn, dtype: torch.dtype = torch.float32) -> Path:
    """Return a safetensors folder equivalent to the GGUF file in `dtype`, converting it on first use."""
    target = cached_folder_for(path, dtype)
    if (target / "model.safetensors").exists():
        return target
    # a work folder of our own: two processes converting at once never touch each other's files
    work = target.with_name(f"{target.name}.partial-{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        progress("Reading tokenizer from GGUF (first load only)", 0.05)
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        progress("Reading GGUF weights (first load only)", 0.2)
        with _tensor_progress(progress, 0.3, 0.85):
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=dtype, trust_remote_code=False
            )
        progress("Writing the converted model to the cache", 0.85)
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(work)
        model.generation_config.save_pretrained(work)
        tokenizer.save_pretrained(work)
        safetensors.torch.save_model(model, str(work / "model.safetensors"))
        del model
        try:
            work.rename(target)  # atomic: an interrupted conversion never looks finished
        except OSError:
            if not (target / "model.safetensors").exists():
                raise  # not a lost race with another process: a real error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@contextlib.contextmanager
def _tensor_progress(progress: ProgressFn, start: float, end: float):
    """Report transformers' per-tensor de-quantisation loop as our progress, instead of a tqdm bar."""
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return

    def reporting(iterable, *args, **kwargs):
        items = list(iterable)
        for i, item in enumerate(items):
            if i % 16 == 0:
                progress(f"De-quantising GGUF tensors {i}/{len(items)} (first load only)",
                         start + (end - start) * i / max(1, len(items)))
            yield item

    gguf_utils.tqdm = reporting
    try:
        yield
    finally:
        gguf_utils.tqdm = original
