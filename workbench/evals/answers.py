"""Whole answers for judging: generated in batches to their end of turn (or the cap), decoded, with the
prefill a person or an experiment put before them."""

from dataclasses import dataclass
from typing import Callable

from ..decoding.batched import answers_batch_size, complete_batch
from ..errors import Cancelled
from ..models.loaded import LoadedModel


@dataclass(frozen=True)
class Answer:
    """One answer: its text (prefill included), the token ids the model wrote, and whether it ended its turn
    (False: the cap cut it)."""

    text: str
    token_ids: list[int]
    ended: bool


def generate_answers(loaded: LoadedModel, contexts: list[list[int]], max_new_tokens: int,
                     temperature: float = 0.0, seed: int = 0, batch_size: int | None = None, prefill: str = "",
                     should_stop: Callable[[], bool] = lambda: False,
                     on_batch: Callable[[int, int], None] = lambda done, total: None) -> list[Answer]:
    """An answer for each context (token ids ending where the assistant speaks), `prefill` first.

    Contexts of similar length share a batch (less padding; `batch_size` None: as the device suits, see
    answers_batch_size); answers come back in the order given. Batch k is sampled with seed
    `seed + k * batch_size`, so a run repeats exactly with the same batch size.
    """
    prefill_ids = loaded.encode_text(prefill) if prefill else []
    if not contexts:
        return []
    batch_size = batch_size or answers_batch_size(loaded, max(map(len, contexts)) + len(prefill_ids) + max_new_tokens)
    order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]))
    out: list[Answer | None] = [None] * len(contexts)
    for start in range(0, len(order), batch_size):
        if should_stop():
            raise Cancelled()
        rows = order[start:start + batch_size]
        new = complete_batch(loaded, [contexts[i] + prefill_ids for i in rows], max_new_tokens, temperature,
                             seed + start, should_stop=should_stop)
        for i, ids in zip(rows, new):
            ended = bool(ids) and ids[-1] in loaded.eos_token_ids
            body = [t for t in ids if t not in loaded.eos_token_ids]
            out[i] = Answer(prefill + loaded.tokenizer.decode(body, skip_special_tokens=True), ids, ended)
        on_batch(min(start + batch_size, len(order)), len(order))
    return out
