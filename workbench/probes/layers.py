"""A causal LM's decoder layers, whatever wraps it (peft, nnsight), and the residual stream they output."""

import torch

from ..models.architecture import decoder_layers, decoder_layers_path

__all__ = ["decoder_layers", "decoder_layers_path", "residual"]


def residual(output) -> torch.Tensor:
    """The residual stream from a decoder layer's output (a tensor, or a tuple led by one in older models)."""
    return output[0] if isinstance(output, tuple) else output
