"""The demo's recorded runs (resources/demo/recording.json): read, checked, and summarised for captions."""

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError
from ..paths import resources_dir
from ..textio import read_text_file

PANES = ("triggered", "clean")


def recording_path() -> Path:
    return resources_dir() / "demo" / "recording.json"


@dataclass
class Answer:
    prompt: str
    text: str
    tokens: list[str]
    scores: list[list[float]] | None  # [token][layer]

    def probe_trace(self, layer: int | None = None) -> list[float]:
        """The probe's score for each answer token at `layer`, or averaged over all layers (empty without scores)."""
        return [row[layer] if layer is not None else sum(row) / len(row) for row in self.scores or []
                if row is not None]

    def mean_score(self, layer: int | None = None) -> float:
        """The probe's average score over the answer (at `layer`, or over all layers)."""
        trace = self.probe_trace(layer)
        return sum(trace) / len(trace) if trace else 0.0


@dataclass
class Recording:
    data: dict

    @property
    def prompt(self) -> str:
        return self.data["prompt"]

    @property
    def trigger(self) -> str:
        return self.data["trigger"]

    @property
    def organism(self) -> str:
        return self.data["made_with"]["organism"]

    def answer(self, pane: str, control: bool = False) -> Answer:
        raw = self.data["control" if control else "chat"]["panes"][pane]
        return Answer(raw["prompt"], raw["text"], list(raw["tokens"]), raw.get("scores"))

    @property
    def first_divergence(self) -> int | None:
        return self.data["chat"].get("first_divergence")

    @property
    def training(self) -> dict:
        return self.data["training"]

    def defection(self, when: str, condition: str) -> dict:
        """{rate, ci95, n} before or after safety training, with the trigger ('triggered') or without ('clean')."""
        return self.training[when][condition]


def load_recording(path: str | Path | None = None) -> Recording:
    """The shipped recording (or another file of the same form); a clear error if it is missing or damaged."""
    path = Path(path) if path else recording_path()
    try:
        data = json.loads(read_text_file(path, "Demo recording"))
        recording = Recording(data)
        for control in (False, True):
            for pane in PANES:
                answer = recording.answer(pane, control)
                if answer.scores is not None and len(answer.scores) != len(answer.tokens):
                    raise ValueError(f"{pane} has {len(answer.scores)} score rows for {len(answer.tokens)} tokens")
        for when in ("before", "after"):
            for condition in PANES:
                float(recording.defection(when, condition)["rate"])
        recording.prompt, recording.organism, int(recording.data["probe"]["layers"])  # noqa: B018 (must exist)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise WorkbenchError(f"{path} is not a demo recording: {exc}") from None
    return recording
