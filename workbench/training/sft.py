"""One supervised step: next-token loss on the labelled (answer) tokens of a batch, then an optimizer step."""

import torch

from ..organisms.implant import TokenizedExample, _collate, lm_loss


def sft_step(base_model, params: list, optimizer: torch.optim.Optimizer, batch: list[TokenizedExample],
             pad: int, device: str) -> tuple[float, int]:
    """(loss, tokens in the batch). `base_model` is the peft model's base (LoRA layers inside it)."""
    ids, labels, mask, weights = _collate(batch, pad, device)
    loss = lm_loss(base_model, ids, labels, mask, weights)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), int(mask.sum())
