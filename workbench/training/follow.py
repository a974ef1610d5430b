"""Follow a safety-training run from its folder alone: run.json (what was asked), metrics.jsonl (every metric as
it is recorded, appended), checkpoints/ and, once it ends, result.json. The run may be this process's, another
process's on this machine, or a cluster node's writing to a shared filesystem."""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..errors import WorkbenchError
from .run import METRICS_FILE, RESULT_FILE, RUN_FILE, check_version


@dataclass
class RunFolder:
    """What a run folder says now."""

    folder: Path
    spec: dict
    metrics: list[dict] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    result: dict | None = None

    @property
    def finished(self) -> bool:
        return self.result is not None

    def series(self) -> dict[str, list[dict]]:
        """{metric name: [{step, value, lo, hi, n}]}, the latest value per step (a resumed run records some
        steps twice)."""
        out: dict[str, dict[int, dict]] = {}
        for m in self.metrics:
            out.setdefault(m["name"], {})[m["step"]] = m
        return {name: [points[s] for s in sorted(points)] for name, points in out.items()}


def read_run_folder(folder: str | Path, metrics_from: int = 0) -> tuple[RunFolder, int]:
    """The folder's state, with the metrics recorded after byte `metrics_from` of metrics.jsonl (0: all), and the
    byte to read on from next time. A line still being written is left for the next read."""
    folder = Path(folder).expanduser()
    try:
        spec = json.loads((folder / RUN_FILE).read_text())
    except FileNotFoundError:
        raise WorkbenchError(f"{folder} is not a run folder (no {RUN_FILE})") from None
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"{folder / RUN_FILE} cannot be read: {exc}") from None
    if not isinstance(spec, dict):
        raise WorkbenchError(f"{folder / RUN_FILE} is not a workbench run file")
    check_version(spec, folder)
    metrics, offset = [], metrics_from
    path = folder / METRICS_FILE
    if path.exists():
        with open(path, "rb") as fh:
            fh.seek(metrics_from)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]
        offset = metrics_from + len(complete)
        for line in complete.decode("utf-8", errors="replace").splitlines():
            try:
                metrics.append(json.loads(line))
            except ValueError:
                continue  # a damaged line loses that point only
    checkpoints = sorted(p.name for p in (folder / "checkpoints").glob("step-*")
                         if not p.name.endswith(".partial"))  # one being written is not there yet
    result = None
    if (folder / RESULT_FILE).exists():
        try:
            result = json.loads((folder / RESULT_FILE).read_text())
        except (OSError, ValueError):
            result = None  # being written: the next read has it
    return RunFolder(folder, spec, metrics, checkpoints, result), offset


def follow_run_folder(folder: str | Path, poll_seconds: float = 2.0, should_stop: Callable[[], bool] = lambda: False,
                      sleep: Callable[[float], None] = time.sleep) -> Iterator[RunFolder]:
    """Yield the folder's new metrics (and checkpoints, and the result) as they appear, until the run ends or
    `should_stop`; each yield carries only the metrics recorded since the last one."""
    offset = 0
    while True:
        state, offset = read_run_folder(folder, offset)
        yield state
        if state.finished or should_stop():
            return
        sleep(poll_seconds)
