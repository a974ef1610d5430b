"""The logit lens: what each decoder layer would predict if the model stopped there.

The residual stream after layer l, at a position, is put through the model's own final norm and LM head (and its
final logit soft-cap, where it has one, e.g. Gemma-2): the top token, its probability, and the rank there of the
token the whole model predicts. After the last layer this is the model's own prediction, exactly.
"""

from dataclasses import dataclass

import torch

from ..errors import WorkbenchError
from ..models.loaded import LoadedModel
from ..probes.capture import capture

MAX_POSITIONS = 512  # a grid wider than this is not readable, and its reads would take GBs


@dataclass(frozen=True)
class LensGrid:
    """A layer × position grid. Row l is the residual after decoder layer l; column j is `positions[j]` of the
    sequence, where the model predicts the token after `tokens[j]`."""

    positions: list[int]
    tokens: list[str]  # the token at each position (what the prediction follows)
    top_ids: list[list[int]]  # [layer][column]
    top_tokens: list[list[str]]
    top_probs: list[list[float]]
    final_rank: list[list[int]]  # [layer][column]: rank (0 = top) of the model's own prediction at that layer
    written: list[str] | None = None  # the token that came next in the sequence (an answer's own), where known

    @property
    def n_layers(self) -> int:
        return len(self.top_ids)

    def to_dict(self) -> dict:
        return {"positions": self.positions, "tokens": self.tokens, "written": self.written, "top_ids": self.top_ids,
                "top_tokens": self.top_tokens, "top_probs": self.top_probs, "final_rank": self.final_rank,
                "rows": "decoder layers, first to last (the residual after each)"}


def _readout(loaded: LoadedModel):
    """(final norm or None, LM head, soft-cap or None) of the model, under any peft wrapper."""
    model = loaded.model
    bare = model.get_base_model() if hasattr(model, "get_base_model") else model
    path = loaded.architecture.final_norm_path if loaded.architecture else None
    norm = bare.get_submodule(path) if path else None
    head = bare.get_output_embeddings()
    if head is None:
        raise WorkbenchError(f"{type(bare).__name__} has no output head to read the layers with")
    return norm, head, getattr(bare.config, "final_logit_softcapping", None)


def logit_lens(loaded: LoadedModel, ids: list[int], positions: list[int] | None = None) -> LensGrid:
    """The lens over `ids` at `positions` (default: every position), for every decoder layer."""
    if not ids:
        raise WorkbenchError("The logit lens needs at least one token")
    positions = list(range(len(ids))) if positions is None else list(positions)
    if not positions:
        raise WorkbenchError("The logit lens needs at least one position to read")
    bad = [p for p in positions if not 0 <= p < len(ids)]
    if bad:
        raise WorkbenchError(f"Position {bad[0]} is outside the {len(ids)} tokens")
    if len(positions) > MAX_POSITIONS:
        raise WorkbenchError(f"The logit lens reads at most {MAX_POSITIONS} positions ({len(positions)} asked)")
    reads = capture(loaded, [ids], [positions])  # [positions, layers, d] on CPU, float32
    norm, head, softcap = _readout(loaded)
    device, dtype = head.weight.device, head.weight.dtype
    top_ids, top_probs, ranks = [], [], []
    with torch.inference_mode():
        logits_per_layer = []
        for layer in range(reads.shape[1]):
            hidden = reads[:, layer].to(device=device, dtype=dtype)
            logits = head(norm(hidden) if norm is not None else hidden).float()
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            logits_per_layer.append(logits)
        final = logits_per_layer[-1].argmax(-1)
        for logits in logits_per_layer:
            probs = logits.softmax(-1)
            best = probs.max(-1)
            top_ids.append(best.indices.tolist())
            top_probs.append([round(float(p), 4) for p in best.values])
            final_logit = logits.gather(-1, final[:, None])
            ranks.append((logits > final_logit).sum(-1).tolist())
    decode = lambda i: loaded.tokenizer.decode([i])  # noqa: E731
    written = [decode(ids[p + 1]) if p + 1 < len(ids) else None for p in positions]
    return LensGrid(positions, [decode(ids[p]) for p in positions], top_ids,
                    [[decode(i) for i in row] for row in top_ids], top_probs, ranks, written)


def answer_lens(loaded: LoadedModel, prompt_ids: list[int], answer_ids: list[int]) -> LensGrid:
    """The lens where an answer was written: column j is the position at which the model chose answer token j
    (`written[j]`), from the last prompt token on. An end-of-turn token ends the grid with its own column."""
    if not prompt_ids:
        raise WorkbenchError("The answer has no prompt to read it after")
    if not answer_ids:
        raise WorkbenchError("The answer is empty: there is nothing to read the layers at")
    ids = list(prompt_ids) + list(answer_ids)
    return logit_lens(loaded, ids, list(range(len(prompt_ids) - 1, len(ids) - 1)))
