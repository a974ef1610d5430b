"""Whole answers for judging: generated in batches to their end of turn (or the cap), decoded, with the
prefill a person or an experiment put before them."""

from dataclasses import dataclass
from typing import Callable

from ..decoding.batched import answers_batch_size, complete_batch
from ..distributed.ranks import current_ranks
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
    ranks = current_ranks()
    if not batch_size:  # the same batches on every process, so the answers do not depend on how many there are
        batch_size = ranks.from_main(lambda: answers_batch_size(
            loaded, max(map(len, contexts)) + len(prefill_ids) + max_new_tokens))
    order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]))
    starts = list(range(0, len(order), batch_size))

    def answer(start: int) -> list[Answer]:
        rows = order[start:start + batch_size]
        new = complete_batch(loaded, [contexts[i] + prefill_ids for i in rows], max_new_tokens, temperature,
                             seed + start, should_stop=ranks.alone(should_stop))
        found = []
        for ids in new:
            ended = bool(ids) and ids[-1] in loaded.eos_token_ids
            body = [t for t in ids if t not in loaded.eos_token_ids]
            found.append(Answer(prefill + loaded.tokenizer.decode(body, skip_special_tokens=True), ids, ended))
        return found

    # under several processes the batches are dealt out and every process gets every answer
    done = lambda k: on_batch(min(k * batch_size, len(order)), len(order))  # noqa: E731
    out: list[Answer | None] = [None] * len(contexts)
    for start, found in zip(starts, ranks.spread(starts, answer, should_stop, done)):
        for i, a in zip(order[start:start + batch_size], found):
            out[i] = a
    return out
