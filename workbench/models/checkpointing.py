"""Gradient checkpointing for a training run: layer activations are recomputed in the backward pass instead of
kept, trading about a third more compute for most of the activation memory (see models.memory_plan)."""

from contextlib import contextmanager

import torch


def _base(model: torch.nn.Module) -> torch.nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@contextmanager
def gradient_checkpointing(model: torch.nn.Module, on: bool):
    """Within the block, `model` (a transformers model, or one wrapped by peft) checkpoints its layers when
    training; off again afterwards. Non-reentrant checkpointing: frozen inputs need no gradient hooks."""
    base = _base(model)
    if not on or not getattr(base, "supports_gradient_checkpointing", False):
        yield False
        return
    base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    try:
        yield True
    finally:
        base.gradient_checkpointing_disable()
