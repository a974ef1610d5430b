"""Load base models and report where they live."""

from .builtin import BUILTIN_NAME, builtin_gguf_path
from .device import Placement, format_bytes, memory_report, pick_placement
from .loaded import FALLBACK_CHAT_TEMPLATE, LoadedModel, ModelIdentity

BUILTIN = "builtin"


def __getattr__(name):
    # `load_model` imports transformers (~1 s); importing it lazily lets the window appear first.
    if name == "load_model":
        from .loading import load_model

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILTIN",
    "BUILTIN_NAME",
    "FALLBACK_CHAT_TEMPLATE",
    "LoadedModel",
    "ModelIdentity",
    "Placement",
    "builtin_gguf_path",
    "format_bytes",
    "load_model",
    "memory_report",
    "pick_placement",
]
