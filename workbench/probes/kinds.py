"""Probe kinds by name (built-in mean-diff and logistic, and every plugin's), and fitting one safely.

A kind's fit function returns one direction per layer ([layers, d_model] tensor) or a whole Probe. Contrast
kinds get (defect, comply) activations of the yes/no contrast answers; labelled kinds get (acts, labels) of
prompts with (1) and without (0) the trigger.
"""

from typing import Callable

import torch

from ..plugins import PROBE_KINDS, PluginError, ProbeKind, plugin_registry
from .fit import probe_from_directions
from .probe import Probe


def probe_kind_names() -> list[str]:
    """Usable probe kinds, built-ins first (no plugin is imported by this call)."""
    return plugin_registry().names(PROBE_KINDS)


def probe_kind(name: str) -> ProbeKind:
    """The kind `name`, loaded; WorkbenchError if unknown or broken."""
    return plugin_registry().get(PROBE_KINDS, name)


def fits_on(name: str) -> str:
    """'contrast' or 'labelled', from the manifest (without importing the plugin)."""
    return plugin_registry().find(PROBE_KINDS, name).spec.data.get("fits_on", "contrast")


def fit_probe(name: str, positive: torch.Tensor, negative: torch.Tensor,
              should_stop: Callable[[], bool] = lambda: False) -> Probe:
    """Fit kind `name` on activations [n, layers, d] of the defect/triggered side and the other side.

    Whatever the plugin does wrong (raises, hangs, returns the wrong shape) is a PluginError naming it.
    """
    registry = plugin_registry()
    contribution = registry.find(PROBE_KINDS, name)
    kind = registry.load(contribution)
    if kind.fits_on == "labelled":
        acts = torch.cat([positive, negative])
        labels = torch.cat([torch.ones(len(positive)), torch.zeros(len(negative))])
        args = (acts, labels)
    else:
        args = (positive, negative)
    shape = tuple(positive.shape[1:])

    def as_probe(result) -> Probe:
        if isinstance(result, Probe):
            if tuple(result.directions.shape) != shape:
                raise PluginError(f"the probe's directions have shape {tuple(result.directions.shape)}, "
                                  f"expected {shape} (layers, d_model)")
            result.kind = name
            return result
        if not torch.is_tensor(result):
            raise PluginError(f"the fit returned {type(result).__name__}; expected a [layers, d_model] tensor "
                              f"or a Probe")
        if tuple(result.shape) != shape:
            raise PluginError(f"the fit returned shape {tuple(result.shape)}, expected {shape} (layers, d_model)")
        if not torch.isfinite(result).all():
            raise PluginError("the fit returned directions that are not finite")
        return probe_from_directions(name, result.detach().float().cpu(), positive, negative)

    return registry.call(contribution, kind.fit, *args, should_stop=should_stop, check=as_probe)
