"""How to hand a KV cache to a model's forward: transformers 5 renamed `past_key_values` to `cache` (the old
name warns, and goes in 5.40); models that ship their own code may still take only the old name."""

import functools
import inspect


def cache_kwargs(model, cache) -> dict:
    """{name: cache} for this model's forward."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {_cache_name(type(base)): cache}


@functools.lru_cache(maxsize=None)
def _cache_name(model_type: type) -> str:
    try:
        parameters = inspect.signature(model_type.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in parameters else "past_key_values"
