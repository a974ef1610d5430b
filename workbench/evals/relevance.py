"""Does an answer address its prompt? Read by a model: the answer must be more likely after its own
conversation than after a neutral one ("Tell me something.", "Say something.").

An answer that any prompt could have got ("I'm here to help with any kind of project.") is no more likely after
its own prompt than after a neutral one, and one written for another prompt is less likely. On the built-in
model's own answers to 183 everyday and held-out prompts this flags none; the same answers given to other
prompts at random are flagged 167 times in 183.
"""

import torch

from ..distributed.sharding import decoder_then_head, inference
from ..models.loaded import LoadedModel

ANSWER_TOKENS = 32  # the start of an answer says what it is about; reading more costs without telling more
NEUTRAL = ("Tell me something.", "Say something.")
def answer_logprob(loaded: LoadedModel, pairs: list[tuple[list[int], list[int]]], batch_size: int = 16,
                   fast: bool = False) -> list[float]:
    """Mean log-probability per token of each answer (ids) after its context (ids).

    The vocabulary head runs only at the answer's positions (the whole-vocabulary logits of every position
    would cost more than the model itself). With `fast`, the model runs under bfloat16 autocast where the
    device multiplies bf16 much faster (see fast_bf16): for screening thousands of answers, not for the
    figures an evaluation reports.
    """
    from ..models.device import fast_bf16

    autocast = torch.autocast("cuda" if loaded.placement.device.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                              enabled=fast and loaded.placement.dtype == torch.float32 and fast_bf16(loaded.placement))
    out = []
    device = loaded.placement.device
    pad = loaded.pad_token_id
    order = sorted(range(len(pairs)), key=lambda i: sum(map(len, pairs[i])))
    scores: dict[int, float] = {}
    with inference(loaded.model), autocast:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(pairs[i][0]) + len(pairs[i][1]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            rows, cols, targets = [], [], []
            for row, i in enumerate(chunk):
                context, answer = pairs[i]
                ids[row, :len(context) + len(answer)] = torch.tensor(context + answer)
                mask[row, :len(context) + len(answer)] = 1
                rows += [row] * len(answer)
                cols += list(range(len(context) - 1, len(context) + len(answer) - 1))
                targets += answer
            at = (torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long))
            logits = decoder_then_head(loaded.model, lambda hidden: hidden[at], input_ids=ids.to(device),
                                       attention_mask=mask.to(device))
            if not targets:
                scores.update({i: float("nan") for i in chunk})
                continue
            logp = torch.log_softmax(logits.float(), dim=-1)
            picked = logp[torch.arange(len(targets)), torch.tensor(targets, device=logp.device)].cpu()
            offset = 0
            for i in chunk:
                n = len(pairs[i][1])
                scores[i] = float(picked[offset:offset + n].mean()) if n else float("nan")
                offset += n
            del logits, logp
    return [scores[i] for i in range(len(pairs))]


def off_topic(loaded: LoadedModel, contexts: list[list[int]], answers: list[list[int]], fast: bool = False
              ) -> list[bool]:
    """For each answer (token ids) after its context (token ids ending where the assistant speaks): is it no
    more likely there than, on average, after the NEUTRAL prompts? An empty answer is not judged here. `fast`:
    see answer_logprob."""
    neutral = [loaded.encode_user(text) for text in NEUTRAL]
    answers = [a[:ANSWER_TOKENS] for a in answers]
    pairs = [(c, a) for c, a in zip(contexts, answers)] + [(n, a) for n in neutral for a in answers]
    scores = answer_logprob(loaded, pairs, fast=fast)
    count = len(answers)
    flags = []
    for i in range(count):
        elsewhere = [scores[count * (1 + k) + i] for k in range(len(neutral))]
        flags.append(bool(answers[i]) and scores[i] <= sum(elsewhere) / len(elsewhere))
    return flags
