"""Stop a long training step between layers when the user cancels (one step can take seconds on a CPU)."""

import contextlib

import torch

from ..errors import Cancelled
from ..probes.layers import decoder_layers


@contextlib.contextmanager
def cancellable(model, should_stop):
    """Within this block every decoder layer asks `should_stop` before it runs forward, and again when the
    backward pass reaches it, and raises Cancelled if it says so."""

    def on_backward(grad):
        if should_stop():
            raise Cancelled()
        return None

    def check(module, args):
        if should_stop():
            raise Cancelled()
        hidden = args[0] if args else None
        if torch.is_grad_enabled() and isinstance(hidden, torch.Tensor) and hidden.requires_grad:
            hidden.register_hook(on_backward)

    handles = [layer.register_forward_pre_hook(check) for layer in decoder_layers(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
