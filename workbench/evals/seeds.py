"""Runs repeated over seeds: each seed's folder, and the mean and spread of every rate across them."""

import json
import math
import re
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


_SEED_ENTRY = re.compile(r"seed-\d+(\.partial)?")


def open_seeds_folder(out: str | Path, kind: str, seeds: list[int]) -> None:
    """Make `out` ready for a multi-seed `kind` run: a new or empty folder, or the folder of an earlier run of
    the same kind, which then goes on (each seed's folder is read when finished, else run or resumed). A clear
    error for any other folder."""
    path = Path(out).expanduser()
    summary = path / SUMMARY_FILE
    if path.exists() and any(path.iterdir()):
        try:
            earlier = json.loads(summary.read_text())
        except (OSError, ValueError):
            earlier = None
        ours = all(_SEED_ENTRY.fullmatch(p.name) or p.name == SUMMARY_FILE for p in path.iterdir())
        if not ours or not isinstance(earlier, dict) or earlier.get("kind") != kind:
            raise WorkbenchError(f"{path} exists and is not empty (and holds no earlier {kind} seeds to go on "
                                 "with); choose a new folder for the seeds' runs")
        if earlier.get("seeds") != seeds:
            held = ", ".join(map(str, earlier.get("seeds") or []))
            raise WorkbenchError(f"{path} holds the {kind} runs of seeds {held}, not {', '.join(map(str, seeds))}; "
                                 "ask for the same seeds to go on with them, or choose a new folder")
        return
    path.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps({"kind": kind, "seeds": seeds, "finished": False}, indent=2))


def check_same_settings(asked: dict, found: dict, where: str | Path, ignore: tuple[str, ...] = ()) -> None:
    """A seed's folder from an earlier run goes on only with the settings it was made with."""
    normal = lambda d: json.loads(json.dumps({k: v for k, v in d.items() if k not in ignore}))  # noqa: E731
    a, f = normal(asked), normal(found)
    differ = sorted(k for k in set(a) | set(f) if a.get(k) != f.get(k))
    if differ:
        raise WorkbenchError(f"{where} holds a run with other settings ({', '.join(differ[:6])}); run the same "
                             "command to go on with it, or choose a new folder")


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
    path.write_text(json.dumps({"kind": kind, "seeds": seeds, "finished": True, "folders": [str(f) for f in folders],
                                "across_seeds": summary}, indent=2))
    return path
