"""Rates with 95% bootstrap intervals, always reported as {"rate", "ci95", "n"}."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rate:
    rate: float
    ci95: tuple[float, float]
    n: int

    def to_dict(self) -> dict:
        """{"rate", "ci95", "n"}; with no outcomes (n = 0) the rate and interval are null, not NaN."""
        if self.n == 0:
            return {"rate": None, "ci95": [None, None], "n": 0}
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


def rate_text(r: dict | None, digits: int = 0, with_n: bool = True) -> str:
    """A rate dict as "12% [5, 20] (n=50)"; "—" with nothing to show (no rate, or n = 0)."""
    if not r or not r.get("n") or r.get("rate") is None:
        return "—" + (" (n=0)" if with_n and r else "")
    lo, hi = r["ci95"]
    text = f"{100 * r['rate']:.{digits}f}% [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"
    return text + (f" (n={r['n']})" if with_n else "")
