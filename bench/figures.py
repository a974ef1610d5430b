"""How a bench script hands its figures to `make bench` (bench/report.py): one FIGURE line per figure."""

import json


def figure(name: str, value: float | str, unit: str = "", target: str = "", met: bool | None = None) -> None:
    """Print one figure for the report; `target` in words ("≥ 0.95"), `met` whether this run reached it."""
    print("FIGURE " + json.dumps({"name": name, "value": value, "unit": unit, "target": target, "met": met}),
          flush=True)
