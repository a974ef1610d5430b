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
from .device import Placement, pick_placement
from .gguf_cache import convert_gguf, is_gguf_file
from .loaded import FALLBACK_CHAT_TEMPLATE, LoadedModel, ModelIdentity

ProgressFn = Callable[[str, float], None]
from . import BUILTIN

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a hub
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


def load_model(spec: str | Path = BUILTIN, device: str | None = None, progress: ProgressFn | None = None,
               trust_remote_code: bool = False) -> LoadedModel:
    """Load `spec` ("builtin", a model folder or a .gguf file) on the best device.

    A folder whose config names its own Python code (auto_map) is refused unless `trust_remote_code` is given
    for this load: that code runs with the user's rights. Weights are read from safetensors or GGUF only.
    Raises WorkbenchError with a one-line explanation for any bad path or file.
    """
    progress = progress or (lambda stage, fraction: None)
    placement = pick_placement(device)
    started = time.perf_counter()
    if str(spec) == BUILTIN:
        gguf = require_builtin_gguf()
        folder = _gguf_folder(gguf, progress)
        identity = ModelIdentity(f"{BUILTIN_NAME} (built-in)", "builtin", str(gguf), _file_fingerprint(gguf))
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise WorkbenchError(f"Model path not found: {path}")
        if path.is_file():
            if not is_gguf_file(path):
                raise WorkbenchError(
                    f"{path} is not a GGUF file; choose a .gguf file or a Hugging Face model folder"
                )
            folder = _gguf_folder(path, progress)
            identity = ModelIdentity(path.stem, "gguf", str(path.resolve()), _file_fingerprint(path))
        else:
            folder = path
            _check_hf_folder(folder, trust_remote_code)
            identity = ModelIdentity(folder.name, "hf-folder", str(folder.resolve()), _folder_fingerprint(folder))
    if trust_remote_code:
        logging.getLogger("workbench").warning(REMOTE_CODE_WARNING, folder)
        progress(f"Running the model's own code from {folder}", 0.85)
    loaded = _load_folder(folder, identity, placement, progress, trust_remote_code)
    loaded.load_seconds = time.perf_counter() - started
    progress("Ready", 1.0)
    return loaded


def _gguf_folder(path: Path, progress: ProgressFn) -> Path:
    try:
        return convert_gguf(path, progress)
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


def _load_folder(folder: Path, identity: ModelIdentity, placement: Placement, progress: ProgressFn,
                 trust_remote_code: bool = False) -> LoadedModel:
    try:
        progress("Loading tokenizer", 0.9)
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        progress(f"Loading weights to {placement.device}", 0.93)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=placement.dtype, use_safetensors=True, trust_remote_code=trust_remote_code
        )
    except Exception as exc:
        raise WorkbenchError(f"Cannot load model from {folder}: {_one_line(exc)}") from exc
    model.to(placement.device)
    model.eval()
    model.requires_grad_(False)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        identity=identity,
        placement=placement,
        chat_template_is_fallback=not getattr(tokenizer, "chat_template", None),
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
