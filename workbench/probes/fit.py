"""Fitting probe directions: mean difference of contrast pairs, or logistic regression on labelled prompts."""

import torch

from .probe import Probe


def mean_diff_directions(defect: torch.Tensor, comply: torch.Tensor) -> torch.Tensor:
    """The built-in contrast probe kind: mean(defect) − mean(comply) per layer, from activations [n, layers, d]."""
    return defect.float().mean(0) - comply.float().mean(0)


def fit_mean_diff(defect: torch.Tensor, comply: torch.Tensor, card: dict | None = None) -> Probe:
    """Direction per layer = mean(defect) − mean(comply), from activations [n, layers, d]; calibrated to ±1."""
    return probe_from_directions("mean-diff", mean_diff_directions(defect, comply), defect, comply, card)


def probe_from_directions(kind: str, directions: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                          card: dict | None = None) -> Probe:
    """A probe scoring +1 at the positive class's mean and −1 at the negative's, along the given directions.

    A direction pointing the other way still scores the positive side +1 (its scale is negative).
    """
    directions = directions.float()
    mu_p, mu_n = positive.float().mean(0), negative.float().mean(0)
    centers = (directions * (mu_p + mu_n) / 2).sum(-1)
    scales = (directions * (mu_p - mu_n)).sum(-1) / 2
    scales = torch.where(scales.abs() > 1e-20, scales, torch.ones_like(scales))
    return Probe(kind, directions, centers, scales, dict(card or {}))


def fit_logistic(acts: torch.Tensor, labels: torch.Tensor, l2: float = 1e-2, steps: int = 100,
                 card: dict | None = None) -> Probe:
    """One L2-regularised logistic regression per layer (features standardised), labels 1 = triggered."""
    x = acts.float()  # [n, layers, d]
    y = labels.float()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    n_layers, d = x.shape[1], x.shape[2]
    w = torch.zeros(n_layers, d, requires_grad=True)
    b = torch.zeros(n_layers, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        logits = (z * w).sum(-1) + b  # [n, layers]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y[:, None].expand_as(logits), reduction="mean") * n_layers + l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    w, b = w.detach(), b.detach()
    directions = w / std  # folded back into raw-activation space
    centers = (directions * mean).sum(-1) - b
    return Probe("logistic", directions, centers, torch.ones(n_layers), dict(card or {}))
