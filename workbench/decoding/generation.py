"""Our own token loop over the model's forward pass with a KV cache.

Not `model.generate`: a Generation can be stepped one token at a time, stopped, paused (by the user
or at a breakpoint), edited and resumed. An edit cuts the KV cache back to the longest unchanged
token prefix, so only the changed suffix is processed again.
"""

import contextlib
from dataclasses import dataclass

import torch

from ..errors import WorkbenchError
from ..models.loaded import LoadedModel
from .breakpoints import Breakpoint
from .detokenizer import IncrementalDetokenizer
from .edit import TokenEdit, common_prefix, retokenize_edit
from .kv_cache import cache_kwargs
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
    """An answer being generated from a prompt, one token per `step()`.

    `prefill_ids` start the answer (a person wrote them); `breakpoints` pause it by itself, each once. A paused or
    finished generation keeps its KV cache, so `edit()` + `resume()` continue it cheaply.

    With a `probe` (a probes.LiveProbe), `token_scores[i]` holds per-layer scores for answer token i, read from
    the residual stream at the position where the model chose it (None where not read yet); `last_scores` is
    (first index, rows) of what the last step read.
    """

    def __init__(self, loaded: LoadedModel, prompt_ids: list[int], settings: SamplingSettings,
                 prefill_ids: list[int] | None = None, breakpoints: list[Breakpoint] | tuple = (), probe=None):
        settings.validate()
        if not prompt_ids:
            raise WorkbenchError("The prompt is empty")
        self.loaded = loaded
        self.settings = settings
        self.prompt_ids = list(prompt_ids)
        self.breakpoints = list(breakpoints)
        self.finished = False
        self.stop_reason: str | None = None
        self.paused_at: Breakpoint | None = None
        self.reprocessed_tokens = 0  # tokens fed to the model by the last edit/resume (for the bench and tests)
        self.probe = probe
        self.token_scores: list[list[float] | None] = []
        self.last_scores: tuple[int, list[list[float]]] | None = None
        from transformers import DynamicCache  # imported here so the GUI can start before transformers loads

        self._cache = DynamicCache()
        self._cache_ids: list[int] = []  # the tokens the KV cache holds, in order
        self._device = loaded.placement.device
        self._generator = None
        if not settings.greedy:
            self._generator = torch.Generator(device=self._device)
            self._generator.manual_seed(settings.seed)
        self._set_answer(list(prefill_ids or []))
        self._check_room()

    # state --------------------------------------------------------------------------------
    @property
    def text(self) -> str:
        return self._detok.text

    @property
    def new_ids(self) -> list[int]:
        return self._ids

    @property
    def cached_tokens(self) -> int:
        return len(self._cache_ids)

    def _set_answer(self, ids: list[int]) -> None:
        self._ids = ids
        self._detok = IncrementalDetokenizer(self.loaded.tokenizer)
        self.token_char_starts = []
        for token in ids:
            self.token_char_starts.append(len(self._detok.text))
            if token not in self.loaded.eos_token_ids:
                self._detok.push(token)
        self._budget_start = len(ids)
        full = self.prompt_ids + ids
        keep = min(common_prefix(self._cache_ids, full), len(full) - 1)
        if keep < len(self._cache_ids):
            if self._cache.is_croppable:
                self._cache.crop(keep - len(self._cache_ids))
            else:  # e.g. sliding-window layers: start again from an empty cache
                from transformers import DynamicCache

                self._cache, keep = DynamicCache(), 0
            self._cache_ids = self._cache_ids[:keep]
        self._pending = full[keep:]
        # a score depends only on the tokens before its own, so those read from kept positions stay valid
        valid = keep - len(self.prompt_ids) + 1
        old = self.token_scores
        self.token_scores = [old[i] if i < min(valid, len(old)) else None for i in range(len(ids))]

    def _check_room(self) -> None:
        context = self.loaded.context_length
        if len(self.prompt_ids) >= context:
            raise WorkbenchError(
                f"The prompt is {len(self.prompt_ids)} tokens but this model's context is {context} tokens; shorten it"
            )
        total = len(self.prompt_ids) + len(self._ids)
        if total >= context:
            raise WorkbenchError(
                f"The prompt and answer are {total} tokens but this model's context is {context} tokens; shorten them"
            )

    # stepping -----------------------------------------------------------------------------
    def step(self) -> TokenStep | None:
        """Generate one token; None once finished or paused."""
        if self.finished:
            return None
        input_ids = torch.tensor([self._pending], device=self._device)
        first_position = len(self._cache_ids)
        with torch.inference_mode(), (self.probe.reading() if self.probe else contextlib.nullcontext()):
            out = self.loaded.model(
                input_ids=input_ids, use_cache=True, logits_to_keep=1, **cache_kwargs(self.loaded.model, self._cache)
            )
        self._cache_ids.extend(self._pending)
        token = next_token(out.logits[0, -1], self.settings, self._generator)
        del out
        self._pending = [token]
        index = len(self._ids)
        self._ids.append(token)
        self.token_scores.append(None)
        if self.probe is not None:
            self._record_scores(first_position)
        is_eos = token in self.loaded.eos_token_ids
        char_start = len(self._detok.text)
        delta = "" if is_eos else self._detok.push(token)
        self.token_char_starts.append(char_start)
        if is_eos:
            self._finish("eos")
        elif len(self._ids) - self._budget_start >= self.settings.max_new_tokens:
            self._finish("max_new_tokens")
        elif len(self.prompt_ids) + len(self._ids) >= self.loaded.context_length:
            self._finish("context_full")
        else:
            before = self._detok.text[: len(self._detok.text) - len(delta)]
            for breakpoint in self.breakpoints:
                if breakpoint.hit(before, self._detok.text, len(self._ids) - self._budget_start):
                    self.paused_at = breakpoint
                    self.breakpoints.remove(breakpoint)  # each breakpoint pauses once
                    self._finish("paused")
                    break
        return TokenStep(index, token, delta, char_start, is_eos)

    def set_probe(self, probe) -> None:
        """Score with `probe` from now on (a different probe forgets the scores read with the old one)."""
        old = self.probe.probe if self.probe is not None else None
        if (probe.probe if probe is not None else None) is not old:
            self.token_scores = [None] * len(self._ids)
        self.probe = probe
        self.last_scores = None

    def _record_scores(self, first_position: int) -> None:
        rows = self.probe.scores().tolist()  # one per position fed; position p chose answer token p + 1 - prompt
        start = first_position + 1 - len(self.prompt_ids)
        skip = max(0, -start)
        for offset, row in enumerate(rows[skip:]):
            self.token_scores[start + skip + offset] = row
        self.last_scores = (start + skip, rows[skip:])

    def stop(self) -> None:
        """Stop now (the user pressed Stop)."""
        if not self.finished:
            self._finish("stopped")

    def pause(self) -> None:
        """Pause now (the user pressed Pause); `resume()` or `edit()` + `resume()` go on."""
        if not self.finished:
            self._finish("paused")

    def edit(self, new_text: str) -> TokenEdit:
        """Replace the answer so far with `new_text`; old tokens before the change are kept as they were."""
        change = retokenize_edit(self.loaded.tokenizer, self._ids, self.token_char_starts, self.text, new_text)
        self.set_answer_ids(change.ids)
        return change

    def set_answer_ids(self, ids: list[int]) -> None:
        """Make `ids` the answer so far (the KV cache keeps its longest matching prefix); then `resume()`."""
        self._set_answer(list(ids))
        self._check_room()
        self.finished = True  # until resume()
        self.stop_reason = "paused"

    def resume(self) -> None:
        """Continue after a pause, a stop or an edit. An answer that ended at end-of-turn loses that token."""
        if self._ids and self._ids[-1] in self.loaded.eos_token_ids:
            self.set_answer_ids(self._ids[:-1])
        self._check_room()
        self.reprocessed_tokens = len(self._pending)
        self._budget_start = len(self._ids)
        self.finished = False
        self.stop_reason = None
        self.paused_at = None

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
