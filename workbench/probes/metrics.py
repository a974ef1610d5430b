"""How well a probe separates triggered from clean: AUROC per layer, random-direction baseline, variance ratio."""

import torch


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks (1-based, ties averaged) along dim 0 of a [n, ...] tensor."""
    flat = values.reshape(values.shape[0], -1)
    out = torch.empty_like(flat, dtype=torch.float64)
    for column in range(flat.shape[1]):
        v = flat[:, column].double()
        _, inverse, counts = torch.unique(v, sorted=True, return_inverse=True, return_counts=True)
        ends = torch.cumsum(counts, 0).double()
        average = ends - (counts.double() - 1) / 2
        out[:, column] = average[inverse]
    return out.reshape(values.shape)


def auroc(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Area under the ROC curve of `scores` [n, ...] for `labels` [n] (1 positive); ties count one half.

    Computed per trailing column (e.g. per layer), as the Mann–Whitney U statistic.
    """
    labels = labels.bool()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs both positive and negative examples")
    ranks = _ranks(scores)
    rank_sum = ranks[labels].sum(0)
    return ((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)).float()


def _auroc_untied(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """AUROC per column for continuous scores (no ties), vectorised over all columns."""
    labels = labels.bool()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    ranks = scores.argsort(0).argsort(0).double() + 1
    return ((ranks[labels].sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)).float()


def random_direction_baseline(acts: torch.Tensor, labels: torch.Tensor, n_directions: int = 1000,
                              seed: int = 0) -> torch.Tensor:
    """Per layer, the best AUROC of `n_directions` random directions, each tried with both signs.

    This is what a probe gets for free: if the trigger moves activations a lot, many directions separate.
    """
    generator = torch.Generator().manual_seed(seed)
    n, n_layers, d = acts.shape
    best = torch.zeros(n_layers)
    for layer in range(n_layers):
        directions = torch.randn(d, n_directions, generator=generator)
        scores = acts[:, layer].float() @ directions  # [n, n_directions]
        area = _auroc_untied(scores, labels)
        best[layer] = torch.maximum(area, 1 - area).max()
    return best


def variance_ratio(acts: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per layer, between-class over within-class variance of the activations (triggered vs clean)."""
    x = acts.float()
    labels = labels.bool()
    mean = x.mean(0)
    between = torch.zeros(x.shape[1])
    within = torch.zeros(x.shape[1])
    for group in (labels, ~labels):
        xs = x[group]
        mu = xs.mean(0)
        between += xs.shape[0] * ((mu - mean) ** 2).sum(-1)
        within += ((xs - mu) ** 2).sum((0, 2))
    return between / within.clamp_min(1e-12)
