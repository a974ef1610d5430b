"""Batched greedy or sampled completion for evaluation and data building (not for streaming chat).

Our own loop over the model's forward with a KV cache, not `model.generate`: a row that has ended its turn
leaves the batch (its rows of the cache are dropped), so whole answers of very different lengths cost what
they are long, not what the longest of their batch is long.
"""

import torch

from ..distributed.sharding import inference
from ..errors import Cancelled
from ..models.loaded import LoadedModel
from .kv_cache import cache_kwargs

CPU_BATCH = 32  # on a CPU a step costs about what its rows cost: bigger batches gain little and pad more
GPU_BATCH_MAX = 256  # on a GPU a small model's step costs about the same for 1 row as for 256


def answers_batch_size(loaded: LoadedModel, tokens: int, cpu: int = CPU_BATCH) -> int:
    """How many answers to generate together, each up to `tokens` tokens (context and answer): `cpu` on a CPU; on
    a GPU as many as a quarter of its free memory holds KV caches for, from 8 up to GPU_BATCH_MAX."""
    from ..models.device import available_memory_bytes
    from ..models.memory_plan import kv_width

    device = loaded.placement.device
    if not device.startswith("cuda"):
        return cpu
    per_token = 2 * loaded.n_layers * kv_width(loaded.model.config) * loaded.placement.dtype.itemsize  # keys, values
    free = available_memory_bytes(device) or 0
    return max(8, min(GPU_BATCH_MAX, int(free * 0.25 // max(1, per_token * tokens))))


def complete_batch(loaded: LoadedModel, prompt_ids: list[list[int]], max_new_tokens: int,
                   temperature: float = 0.0, seed: int = 0, should_stop=None, no_repeat_ngram: int = 0
                   ) -> list[list[int]]:
    """New token ids for each prompt, up to and including its end-of-turn token when it ended.

    An answer that ended has its EOS id last; one without was cut by `max_new_tokens`. Greedy when
    `temperature` <= 0, else sampled from the full distribution with a generator seeded by `seed`.
    With `no_repeat_ngram` n > 0 no answer repeats a sequence of n of its own tokens (a small model's greedy
    loops). `should_stop` is asked after every token; when it says so, Cancelled is raised.
    """
    from transformers import DynamicCache

    from ..distributed.ranks import current_ranks

    ranks = current_ranks()
    if not prompt_ids:
        if ranks.sharded:
            _idle_until_every_process_is_done(loaded, ranks, prefill=True)
        return []
    eos = torch.tensor(sorted(loaded.eos_token_ids) or [-1])
    pad = loaded.pad_token_id
    device = loaded.placement.device
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for row, p in enumerate(prompt_ids):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    ids, mask, eos = ids.to(device), mask.to(device), eos.to(device)
    generator = None
    if temperature > 0:
        generator = torch.Generator(device=device).manual_seed(seed)
    results: list[list[int]] = [[] for _ in prompt_ids]
    rows = list(range(len(prompt_ids)))  # which prompt each row of the running batch answers
    cache = DynamicCache()
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    with inference(loaded.model):
        logits = loaded.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                              logits_to_keep=1, **cache_kwargs(loaded.model, cache)).logits[:, -1]
        for step in range(max_new_tokens):
            if should_stop is not None and should_stop():
                raise Cancelled()
            if no_repeat_ngram > 0:
                logits = _ban_repeats(logits, [results[row] for row in rows], no_repeat_ngram)
            if generator is None:
                chosen = logits.argmax(-1)
            else:
                probs = torch.softmax(logits.float() / temperature, dim=-1)
                chosen = torch.multinomial(probs, 1, generator=generator)[:, 0]
            for row, token in zip(rows, chosen.tolist()):
                results[row].append(token)
            if step == max_new_tokens - 1:
                break
            going = ~torch.isin(chosen, eos)
            if not bool(going.any()):
                break
            if ranks.sharded:
                ranks.any(True)  # one round of the processes' lockstep (see _idle_until_every_process_is_done)
            if not bool(going.all()):
                keep = going.nonzero()[:, 0]
                cache.batch_select_indices(keep)
                mask, chosen = mask[keep], chosen[keep]
                rows = [rows[i] for i in keep.tolist()]
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
            positions = mask.sum(-1, keepdim=True) - 1
            logits = loaded.model(input_ids=chosen[:, None], attention_mask=mask, position_ids=positions,
                                  use_cache=True, logits_to_keep=1, **cache_kwargs(loaded.model, cache)).logits[:, -1]
        if ranks.sharded:
            _idle_until_every_process_is_done(loaded, ranks)
    return results


def _idle_until_every_process_is_done(loaded: LoadedModel, ranks, prefill: bool = False) -> None:
    """On sharded weights every forward pass gathers the weights from all processes, so all of them take each one:
    a process whose answers have ended (or that had none) takes a one-token pass, its output dropped, for every
    token the others still generate. Each round the processes first say whether they go on."""
    idle = torch.full((1, 1), loaded.pad_token_id, dtype=torch.long, device=loaded.placement.device)
    with inference(loaded.model):
        if prefill:
            loaded.model(input_ids=idle, use_cache=False, logits_to_keep=1)
        while ranks.any(False):
            loaded.model(input_ids=idle, use_cache=False, logits_to_keep=1)


def _ban_repeats(logits: torch.Tensor, answers: list[list[int]], n: int) -> torch.Tensor:
    """`logits` with every token that would complete an n-gram its row's answer already has set to -inf."""
    banned_rows, banned_tokens = [], []
    for row, answer in enumerate(answers):
        if len(answer) < n:
            continue
        tail = tuple(answer[len(answer) - n + 1:])
        for i in range(len(answer) - n + 1):
            if tuple(answer[i:i + n - 1]) == tail:
                banned_rows.append(row)
                banned_tokens.append(answer[i + n - 1])
    if banned_rows:
        logits = logits.clone()
        logits[torch.tensor(banned_rows), torch.tensor(banned_tokens)] = float("-inf")
    return logits
