"""Runs repeated over seeds: each seed's folder, and the mean and spread of every rate across them."""

import json
import math
from pathlib import Path
from typing import Callable

from ..errors import WorkbenchError

SUMMARY_FILE = "seeds.json"


def seeds_from(first: int, n: int) -> list[int]:
    """`n` seeds starting at `first`; a clear error for fewer than one."""
    if n < 1:
        raise WorkbenchError("--seeds must be at least 1")
    return list(range(first, first + n))


def seed_folder(out: str | Path, seed: int) -> Path:
    return Path(out).expanduser() / f"seed-{seed}"


def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation (0 for one value), min and max of `values` (NaNs left out)."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return {"mean": None, "sd": None, "min": None, "max": None, "n_seeds": 0}
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return {"mean": mean, "sd": sd, "min": min(vals), "max": max(vals), "n_seeds": len(vals)}


def across_seeds(results: list[dict], rates: Callable[[dict], dict[str, dict]]) -> dict[str, dict]:
    """{name: spread of that rate over the seeds} for every rate `rates(result)` gives ({name: rate dict})."""
    per_seed = [rates(r) for r in results]
    names = list(dict.fromkeys(name for rs in per_seed for name in rs))
    return {name: {**spread([(rs.get(name) or {}).get("rate") for rs in per_seed]),
                   "values": [(rs.get(name) or {}).get("rate") for rs in per_seed]} for name in names}


def spread_text(s: dict) -> str:
    """'12.0% ± 3.1 (8.0–15.0, 3 seeds)' for a spread of rates."""
    if s.get("mean") is None:
        return "—"
    return (f"{100 * s['mean']:.1f}% ± {100 * s['sd']:.1f} ({100 * s['min']:.1f}–{100 * s['max']:.1f}, "
            f"{s['n_seeds']} seed{'s' if s['n_seeds'] != 1 else ''})")


def write_summary(out: str | Path, kind: str, seeds: list[int], summary: dict, folders: list[Path]) -> Path:
    """OUT/seeds.json: what ran, each seed's folder, and the spread of every rate."""
    path = Path(out).expanduser() / SUMMARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"kind": kind, "seeds": seeds, "folders": [str(f) for f in folders],
                                "across_seeds": summary}, indent=2))
    return path
