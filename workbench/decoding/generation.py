"""Our own token loop over the model's forward pass with a KV cache.

Not `model.generate`: a Generation can be stepped one token at a time, stopped at any moment,
and (in later features) paused, edited and resumed, with activations read per token.
"""

from dataclasses import dataclass

import torch

from ..errors import WorkbenchError
from ..models.loaded import LoadedModel
from .detokenizer import IncrementalDetokenizer
from .sampling import SamplingSettings, next_token


@dataclass(frozen=True)
class TokenStep:
    """One generated token: its index in the answer, id, the text it completed, where that text starts."""

    index: int
    token_id: int
    text: str
    char_start: int
    is_eos: bool


class Generation:
    """An answer being generated from a prompt, one token per `step()`."""

    def __init__(self, loaded: LoadedModel, prompt_ids: list[int], settings: SamplingSettings):
        settings.validate()
        if not prompt_ids:
            raise WorkbenchError("The prompt is empty")
        context = loaded.context_length
        if len(prompt_ids) >= context:
            raise WorkbenchError(
                f"The prompt is {len(prompt_ids)} tokens but this model's context is {context} tokens; shorten it"
            )
        self.loaded = loaded
        self.settings = settings
        self.prompt_ids = list(prompt_ids)
        self.new_ids: list[int] = []
        self.token_char_starts: list[int] = []
        self.finished = False
        self.stop_reason: str | None = None
        from transformers import DynamicCache  # imported here so the GUI can start before transformers loads

        self._detok = IncrementalDetokenizer(loaded.tokenizer)
        self._cache = DynamicCache()
        self._pending: list[int] = self.prompt_ids
        device = loaded.placement.device
        self._device = device
        self._generator = None
        if not settings.greedy:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(settings.seed)

    @property
    def text(self) -> str:
        return self._detok.text

    def step(self) -> TokenStep | None:
        """Generate one token; None once finished."""
        if self.finished:
            return None
        input_ids = torch.tensor([self._pending], device=self._device)
        with torch.inference_mode():
            out = self.loaded.model(
                input_ids=input_ids, past_key_values=self._cache, use_cache=True, logits_to_keep=1
            )
        token = next_token(out.logits[0, -1], self.settings, self._generator)
        del out
        self._pending = [token]
        index = len(self.new_ids)
        self.new_ids.append(token)
        is_eos = token in self.loaded.eos_token_ids
        char_start = len(self._detok.text)
        delta = "" if is_eos else self._detok.push(token)
        self.token_char_starts.append(char_start)
        if is_eos:
            self._finish("eos")
        elif len(self.new_ids) >= self.settings.max_new_tokens:
            self._finish("max_new_tokens")
        elif len(self.prompt_ids) + len(self.new_ids) >= self.loaded.context_length:
            self._finish("context_full")
        return TokenStep(index, token, delta, char_start, is_eos)

    def stop(self) -> None:
        """Stop now (the user pressed Stop)."""
        if not self.finished:
            self._finish("stopped")

    def run(self, should_stop=lambda: False, on_token=None) -> "Generation":
        """Step until finished or `should_stop()` is true, calling `on_token(step)` for each token."""
        while not self.finished:
            if should_stop():
                self.stop()
                break
            step = self.step()
            if on_token is not None and step is not None:
                on_token(step)
        return self

    def _finish(self, reason: str) -> None:
        self.finished = True
        self.stop_reason = reason
        self._cache = None  # free the KV cache promptly
