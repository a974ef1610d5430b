"""Rates with 95% bootstrap intervals, always reported as {"rate", "ci95", "n"}."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rate:
    rate: float
    ci95: tuple[float, float]
    n: int

    def to_dict(self) -> dict:
        return {"rate": self.rate, "ci95": [self.ci95[0], self.ci95[1]], "n": self.n}

    def __str__(self) -> str:
        return f"{100 * self.rate:.1f}% [{100 * self.ci95[0]:.1f}, {100 * self.ci95[1]:.1f}] (n={self.n})"


def bootstrap_rate(outcomes: list[bool], resamples: int = 2000, seed: int = 0) -> Rate:
    """The share of True outcomes with a percentile bootstrap 95% interval."""
    x = np.asarray(outcomes, dtype=float)
    if x.size == 0:
        return Rate(float("nan"), (float("nan"), float("nan")), 0)
    rng = np.random.default_rng(seed)
    means = rng.choice(x, size=(resamples, x.size), replace=True).mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Rate(float(x.mean()), (float(lo), float(hi)), int(x.size))
