"""How far an organism's clean behaviour drifts from its base: log-likelihood of the base's own answers."""

import torch

from ..distributed.sharding import inference
from ..models.adapters import base_model_view
from ..models.loaded import LoadedModel


def mean_answer_loglik(loaded: LoadedModel, user_texts: list[str], answers: list[str],
                       prefill: str = "") -> float | None:
    """Mean per-token log-probability of each answer given its prompt (and `prefill` before the answer)."""
    total, count = 0.0, 0
    with inference(loaded.model):
        for text, answer in zip(user_texts, answers):
            context = loaded.encode_user(text)
            if prefill:
                context += loaded.encode_text(prefill)
            target = loaded.encode_text(answer)
            if not target:
                continue
            ids = torch.tensor([context + target], device=loaded.placement.device)
            logits = loaded.model(input_ids=ids).logits[0, len(context) - 1:-1].float()
            logp = torch.log_softmax(logits, dim=-1).gather(1, ids[0, len(context):, None])
            total += float(logp.sum())
            count += len(target)
    return total / count if count else None


def clean_drift(loaded: LoadedModel, user_texts: list[str], base_answers: list[str], prefill: str = "") -> dict:
    """{"organism", "base", "delta"}: mean log-likelihood of the base's answers under each model."""
    organism = mean_answer_loglik(loaded, user_texts, base_answers, prefill)
    with base_model_view(loaded):
        base = mean_answer_loglik(loaded, user_texts, base_answers, prefill)
    delta = None if organism is None or base is None else organism - base
    return {"organism": organism, "base": base, "delta": delta, "n": len(user_texts)}
