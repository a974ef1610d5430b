"""Check live scores against one forward pass without a KV cache over the same tokens (read with nnsight)."""

import torch

from ..models.loaded import LoadedModel
from .capture import capture
from .probe import Probe


def recompute_scores(loaded: LoadedModel, probe: Probe, prompt_ids: list[int], answer_ids: list[int]) -> torch.Tensor:
    """Scores [answer tokens, layers]: token i scored where the model chose it (the position before it)."""
    if not answer_ids:
        return torch.empty(0, probe.n_layers)
    sequence = list(prompt_ids) + list(answer_ids[:-1])
    start = len(prompt_ids) - 1
    positions = list(range(start, start + len(answer_ids)))
    return probe.score(capture(loaded, [sequence], [positions]))


def consistency_check(loaded: LoadedModel, probe: Probe, prompt_ids: list[int], answer_ids: list[int],
                      live_scores: list) -> dict:
    """Largest absolute difference between live scores and a fresh single pass (tokens without live scores skipped)."""
    fresh = recompute_scores(loaded, probe, prompt_ids, answer_ids)
    rows = [i for i, s in enumerate(live_scores[: len(answer_ids)]) if s is not None]
    if not rows:
        return {"max_abs_diff": None, "tokens": 0, "layers": probe.n_layers}
    live = torch.tensor([live_scores[i] for i in rows], dtype=torch.float32)
    diff = (live - fresh[rows]).abs()
    worst = int(diff.max(1).values.argmax())
    return {"max_abs_diff": float(diff.max()), "tokens": len(rows), "layers": probe.n_layers,
            "worst_token": rows[worst], "score_range": [float(fresh.min()), float(fresh.max())]}


def check_saved_answers(loaded: LoadedModel, store, probe: Probe, answers: dict) -> dict:
    """`consistency_check` for saved answers {message_id: live rows}: the worst case over them, and each one's."""
    checks = []
    for message_id, rows in answers.items():
        prompt = store.prompt_of(message_id)["token_ids"] or []
        answer = store.get_message(message_id).get("token_ids") or []
        checks.append(consistency_check(loaded, probe, prompt, answer, rows))
    read = [c for c in checks if c["max_abs_diff"] is not None]
    if not read:
        return {"max_abs_diff": None, "tokens": 0, "layers": probe.n_layers, "answers": checks}
    return {"max_abs_diff": max(c["max_abs_diff"] for c in read), "tokens": sum(c["tokens"] for c in read),
            "layers": probe.n_layers, "answers": checks,
            "score_range": [min(c["score_range"][0] for c in read), max(c["score_range"][1] for c in read)]}
