"""Stop a long forward pass between layers when the user cancels (a training step can take seconds on a CPU)."""

import contextlib

from ..errors import Cancelled
from ..probes.layers import decoder_layers


@contextlib.contextmanager
def cancellable(model, should_stop):
    """Within this block every decoder layer first asks `should_stop` and raises Cancelled if it says so."""

    def check(module, args):
        if should_stop():
            raise Cancelled()

    handles = [layer.register_forward_pre_hook(check) for layer in decoder_layers(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
