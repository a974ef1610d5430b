"""Find a causal LM's decoder layers, whatever wraps it (peft, nnsight)."""

import torch

from ..errors import WorkbenchError


def decoder_layers_path(model: torch.nn.Module) -> str:
    """Dotted name of the ModuleList holding the decoder layers (e.g. 'model.layers')."""
    n_layers = int(model.config.num_hidden_layers)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers and name.endswith("layers"):
            return name
    raise WorkbenchError(f"Cannot find the {n_layers} decoder layers of {type(model).__name__}")


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    return model.get_submodule(decoder_layers_path(model))


def residual(output) -> torch.Tensor:
    """The residual stream from a decoder layer's output (a tensor, or a tuple led by one in older models)."""
    return output[0] if isinstance(output, tuple) else output
