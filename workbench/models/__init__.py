"""Load base models and report where they live."""

from .builtin import BUILTIN_NAME, builtin_gguf_path
from .device import Placement, format_bytes, memory_report, pick_placement
from .loaded import FALLBACK_CHAT_TEMPLATE, LoadedModel, ModelIdentity
from .loading import BUILTIN, load_model

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
