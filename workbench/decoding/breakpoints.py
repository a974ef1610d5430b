"""Where a generation pauses by itself: at a string (e.g. `</scratchpad>`) or after a number of tokens."""

from dataclasses import asdict, dataclass

from ..errors import WorkbenchError

SCRATCHPAD_END = "</scratchpad>"


@dataclass(frozen=True)
class Breakpoint:
    """Pause when the answer's text gains `text`, or after `after_tokens` tokens generated since the
    generation (re)started (prefilled and resumed-from tokens do not count)."""

    text: str | None = None
    after_tokens: int | None = None

    def __post_init__(self):
        if (self.text is None) == (self.after_tokens is None):
            raise WorkbenchError("A breakpoint is either a text or a token count")
        if self.text is not None and not self.text:
            raise WorkbenchError("A text breakpoint needs some text")
        if self.after_tokens is not None and self.after_tokens < 1:
            raise WorkbenchError("A token-count breakpoint must be at least 1")

    def hit(self, text_before: str, text_after: str, n_tokens: int) -> bool:
        """True if the step that took the answer from `text_before` to `text_after` (the `n_tokens`-th token
        generated since the last start) hits."""
        if self.after_tokens is not None:
            return n_tokens == self.after_tokens
        start = max(0, len(text_before) - len(self.text) + 1)
        return self.text in text_after[start:]

    def describe(self) -> str:
        return f"after {self.after_tokens} tokens" if self.after_tokens is not None else f"at {self.text!r}"

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "Breakpoint":
        text, after = data.get("text"), data.get("after_tokens")
        return cls(text=text if isinstance(text, str) else None,
                   after_tokens=after if isinstance(after, int) and not isinstance(after, bool) else None)


AT_SCRATCHPAD_END = Breakpoint(text=SCRATCHPAD_END)
