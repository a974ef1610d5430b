"""A fitted probe: one direction per layer, scored as a calibrated projection; saved as safetensors + a JSON card."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import WorkbenchError
from ..models.loaded import LoadedModel

PROBE_FORMAT = 1
WEIGHTS = "probe.safetensors"
CARD = "card.json"
QUESTION_SLOT = "{question}"


def card_mismatches(card: dict, loaded: LoadedModel, rendering: str | None = None) -> list[str]:
    """Where the base model, chat rendering or adapter a probe card was fitted on differ from `loaded` (empty if
    none); `rendering` is chat_rendering(loaded), when the caller has it already."""
    notes = []
    model = card.get("model") or {}
    if model.get("fingerprint") and model["fingerprint"] != loaded.identity.fingerprint:
        notes.append(f"fitted on another base model ({model.get('name')})")
    if card.get("rendering") and card["rendering"] != (rendering if rendering is not None else chat_rendering(loaded)):
        notes.append("fitted under another chat rendering (template or system prompt)")
    if card.get("adapter") != loaded.adapter:
        notes.append(f"fitted with adapter {card.get('adapter') or 'none'}, now {loaded.adapter or 'none'}")
    return notes


def chat_rendering(loaded: LoadedModel) -> str:
    """How a user turn is rendered for this model (template and system prompt), with the text as a slot."""
    return loaded.render_chat([{"role": "user", "content": QUESTION_SLOT}])


@dataclass
class Probe:
    """Per-layer score = (activation · direction − center) / scale; positive means "looks like defection".

    As fitted, mean-diff probes score +1 at the defect-side contrast mean and −1 at the other side, logistic
    probes the log-odds of 'triggered'. `calibrated()` rescales them to standard deviations above ordinary
    (trigger-free) prompts, which is what the live view and its alert threshold use.
    """

    kind: str
    directions: torch.Tensor  # [layers, d_model]
    centers: torch.Tensor  # [layers]
    scales: torch.Tensor  # [layers]
    card: dict = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return int(self.directions.shape[0])

    @property
    def d_model(self) -> int:
        return int(self.directions.shape[1])

    @property
    def name(self) -> str:
        return self.card.get("name") or self.kind

    def score(self, acts: torch.Tensor) -> torch.Tensor:
        """Scores [..., layers] for activations [..., layers, d_model]."""
        acts = acts.float()
        return ((acts * self.directions).sum(-1) - self.centers) / self.scales

    def calibrated(self, clean_scores: torch.Tensor, note: dict | None = None) -> "Probe":
        """The same probe rescaled so `clean_scores` [n, layers] have mean 0 and standard deviation 1 per layer."""
        mean = clean_scores.float().mean(0)
        std = clean_scores.float().std(0)
        std = torch.where(std > 1e-6 * clean_scores.abs().mean(0).clamp_min(1e-12), std, torch.ones_like(std))
        card = dict(self.card, calibration=dict(note or {}, unit="standard deviations of trigger-free prompts"))
        return Probe(self.kind, self.directions, self.centers + mean * self.scales, self.scales * std, card)

    def warnings_for(self, loaded: LoadedModel) -> list[str]:
        """Why scores on `loaded` may not mean what they meant when this probe was fitted (empty if none)."""
        if (loaded.n_layers, int(loaded.model.config.hidden_size)) != (self.n_layers, self.d_model):
            raise WorkbenchError(
                f"Probe {self.name} has {self.n_layers} layers × {self.d_model} but the loaded model has "
                f"{loaded.n_layers} × {loaded.model.config.hidden_size}; it cannot be used with it")
        return card_mismatches(self.card, loaded)

    def save(self, folder: str | Path) -> Path:
        """Write `folder`/probe.safetensors and card.json."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"directions": self.directions.contiguous(), "centers": self.centers.contiguous(),
                   "scales": self.scales.contiguous()}, str(folder / WEIGHTS))
        card = dict(self.card, kind=self.kind, format=PROBE_FORMAT)
        (folder / CARD).write_text(json.dumps(card, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Probe":
        """A saved probe; a clear error for a missing, foreign or corrupt folder."""
        from safetensors.torch import load_file

        folder = Path(folder).expanduser()
        if not (folder / WEIGHTS).exists() or not (folder / CARD).exists():
            raise WorkbenchError(f"{folder} is not a saved probe (needs {WEIGHTS} and {CARD})")
        try:
            card = json.loads((folder / CARD).read_text())
            tensors = load_file(str(folder / WEIGHTS))
            probe = cls(card["kind"], tensors["directions"].float(), tensors["centers"].float(),
                        tensors["scales"].float(), card)
        except Exception as exc:
            raise WorkbenchError(f"Cannot read the probe in {folder}: {str(exc).splitlines()[0][:200]}") from None
        if card.get("format", 0) > PROBE_FORMAT:
            raise WorkbenchError(f"Probe {folder} was saved by a newer workbench (format {card['format']})")
        if probe.directions.ndim != 2 or not probe.centers.shape == probe.scales.shape == (probe.n_layers,):
            raise WorkbenchError(f"Probe {folder} has inconsistent shapes")
        return probe
