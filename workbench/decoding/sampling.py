"""Sampling settings and the choice of the next token."""

from dataclasses import asdict, dataclass

import torch

from ..errors import WorkbenchError


@dataclass(frozen=True)
class SamplingSettings:
    """How to pick tokens. temperature 0 means greedy (the default, so results repeat)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def validate(self) -> "SamplingSettings":
        if self.temperature < 0:
            raise WorkbenchError(f"temperature must be >= 0 (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            raise WorkbenchError(f"top-p must be in (0, 1] (got {self.top_p})")
        if self.max_new_tokens < 1:
            raise WorkbenchError(f"max new tokens must be at least 1 (got {self.max_new_tokens})")
        if self.seed < 0:
            raise WorkbenchError(f"seed must be >= 0 (got {self.seed})")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SamplingSettings":
        """Settings read back from a file or the database; a missing or mistyped value takes its default."""
        defaults = cls()
        kept = {}
        for name in cls.__dataclass_fields__:
            value, default = (data or {}).get(name), getattr(defaults, name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                kept[name] = type(default)(value)
        return cls(**kept)


def next_token(logits: torch.Tensor, settings: SamplingSettings, generator: torch.Generator | None) -> int:
    """Pick one token id from a 1-D logits vector."""
    if settings.greedy:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / settings.temperature, dim=-1)
    if settings.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        # keep the smallest set whose mass reaches top_p (always at least the top token)
        drop = cumulative - sorted_probs >= settings.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        choice = torch.multinomial(sorted_probs, 1, generator=generator)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=generator))
