"""Batched greedy or sampled completion for evaluation and data building (not for streaming chat)."""

import torch

from ..errors import Cancelled
from ..models.loaded import LoadedModel


def complete_batch(loaded: LoadedModel, prompt_ids: list[list[int]], max_new_tokens: int,
                   temperature: float = 0.0, seed: int = 0, should_stop=None) -> list[list[int]]:
    """New token ids for each prompt (left-padded batch through `generate`), EOS and after removed.

    `should_stop` is asked after every token; when it says so, generation ends there and Cancelled is raised.
    """
    pad = loaded.tokenizer.pad_token_id
    if pad is None:
        pad = min(loaded.eos_token_ids)
    width = max(len(p) for p in prompt_ids)
    device = loaded.placement.device
    ids = torch.full((len(prompt_ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for row, p in enumerate(prompt_ids):
        ids[row, width - len(p):] = torch.tensor(p)
        mask[row, width - len(p):] = 1
    kwargs = dict(do_sample=False) if temperature <= 0 else dict(do_sample=True, temperature=temperature, top_p=1.0)
    if temperature > 0:
        torch.manual_seed(seed)
    if should_stop is not None:
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids, scores, **_):
                return torch.full((input_ids.shape[0],), bool(should_stop()), device=input_ids.device)

        kwargs["stopping_criteria"] = StoppingCriteriaList([_Cancel()])
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
            pad_token_id=pad, eos_token_id=sorted(loaded.eos_token_ids), **kwargs,
        )
    if should_stop is not None and should_stop():
        raise Cancelled()
    results = []
    for row in out[:, width:].tolist():
        cut = next((i for i, t in enumerate(row) if t in loaded.eos_token_ids), None)
        results.append(row if cut is None else row[: cut + 1])
    return results
