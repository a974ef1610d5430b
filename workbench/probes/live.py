"""Score every layer as tokens are generated: forward hooks on the decoder layers, read during our own token loop.

nnsight is not a streaming engine, so live reads use plain forward hooks, registered only around one forward
pass; every layer's hook must fire, or the read is an error rather than a silent blank. A token step's hooks only
keep the layer outputs (views, no work on the device), and `scores()` scores all layers in one product: on a GPU,
where a small model's decode time is kernel launches, per-layer products cost a third of the step.
"""

import contextlib

import torch

from ..errors import WorkbenchError
from ..models.loaded import LoadedModel
from .layers import decoder_layers, residual
from .probe import Probe


KEPT_POSITIONS = 16  # a forward pass of at most this many positions keeps its layer outputs until scores()


class LiveProbe:
    """A probe bound to a loaded model, ready to score the positions of one forward pass at a time."""

    def __init__(self, probe: Probe, loaded: LoadedModel):
        self.warnings = probe.warnings_for(loaded)  # raises when the shapes do not fit at all
        self.probe = probe
        self.loaded = loaded
        device = loaded.placement.device
        self._directions = probe.directions.to(device)
        self._centers = probe.centers.to(device)
        self._scales = probe.scales.to(device)
        self._device = device
        self._per_layer = list(self._directions)
        self._reads: list[torch.Tensor | None] = []

    @contextlib.contextmanager
    def reading(self):
        """Hooks on for the forward pass run inside this block; `scores()` afterwards."""
        layers = decoder_layers(self.loaded.model)
        self._reads = [None] * len(layers)
        handles = [layer.register_forward_hook(self._hook(i)) for i, layer in enumerate(layers)]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
        missing = [i for i, r in enumerate(self._reads) if r is None]
        if missing:
            raise WorkbenchError(f"Probe hooks did not fire on layers {missing[:5]}; no scores for this token")

    def _hook(self, index: int):
        direction = self._per_layer[index]

        def read(module, args, output):
            hidden = residual(output)[0]
            if hidden.shape[0] <= KEPT_POSITIONS:
                self._reads[index] = hidden  # [positions, hidden]: scored with the other layers' in scores()
            else:  # a long prompt: score it here, so that every layer's states are not kept at once
                self._reads[index] = hidden.to(self._device).float() @ direction
        return read

    def scores(self) -> torch.Tensor:
        """[positions, layers] calibrated scores of the last forward pass, on the CPU."""
        if self._reads[0].dim() == 2:
            states = torch.stack([r.to(self._device) for r in self._reads]).float()  # [layers, positions, hidden]
            raw = torch.einsum("lph,lh->pl", states, self._directions)
        else:
            raw = torch.stack(self._reads, dim=1)
        return ((raw - self._centers) / self._scales).cpu()
