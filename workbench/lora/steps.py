"""The loss and the optimizer step that implant and safety training share."""

import contextlib
from typing import Callable

import torch

from ..distributed.ranks import Ranks, current_ranks
from ..distributed.sharding import decoder_then_head
from .data import TokenizedExample, collate


def lm_loss_sum(model, ids, labels, mask, weights=None) -> tuple[torch.Tensor, float]:
    """(summed next-token loss on labelled positions, their count or summed weight): the loss is the first over
    the second. The LM head runs only where it is needed."""
    target = labels[:, 1:]
    keep = target != -100
    logits = decoder_then_head(model, lambda hidden: hidden[:, :-1][keep], input_ids=ids, attention_mask=mask)
    losses = torch.nn.functional.cross_entropy(logits.float(), target[keep], reduction="none")
    if weights is None:
        return losses.sum(), float(keep.sum())
    w = weights[:, 1:][keep]
    return (losses * w).sum(), float(w.sum())


def lm_loss(model, ids, labels, mask, weights=None) -> torch.Tensor:
    """Next-token loss on labelled positions only (a weighted mean when `weights` is given)."""
    total, weight = lm_loss_sum(model, ids, labels, mask, weights)
    return total / weight


class StepOptimizer:
    """AdamW over the trainable parameters, the learning-rate schedule every LoRA run uses and gradient clipping
    at 1.0: the one optimizer step of implant and safety training.

    The schedule warms up linearly over the first tenth of the steps; then it stays (safety training, so that a
    resumed run and an uninterrupted one agree step by step) or, with `decay`, falls linearly to 5% at the end
    (implant). `optimizer` is the torch optimizer, for checkpoints. Under several processes the gradients are
    summed over them before clipping, so every process takes the same step.
    """

    def __init__(self, params: list, learning_rate: float, steps: int, decay: bool, clip: float = 1.0,
                 ranks: Ranks | None = None):
        self.params, self.learning_rate, self.steps, self.decay, self.clip = params, learning_rate, steps, decay, clip
        self.ranks = ranks or current_ranks()
        self.warmup = max(1, steps // 10)
        self.ranks.same_parameters(params)
        self.optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)

    def rate(self, step: int) -> float:
        """The learning rate of `step` (counted from 1)."""
        factor = min(1.0, step / self.warmup)
        if self.decay:
            factor *= max(0.05, 1 - (step - 1) / self.steps)
        return self.learning_rate * factor

    def apply(self, loss: torch.Tensor | None, step: int) -> None:
        """Backward through `loss` (None: this process had no examples this step), sum the gradients over the
        processes, clip, and take step `step`."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.rate(step)
        if loss is not None:
            loss.backward()
        self.ranks.sum_gradients(self.params)
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def train_step(base_model, optimizer: StepOptimizer, step: int, batch: list[TokenizedExample], pad: int,
               device: str, autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
               ) -> tuple[float, int]:
    """One supervised step on the global `batch`: (its loss, its tokens). Under several processes each takes its
    share of the batch and scales its summed loss by the whole batch's weight, so the summed gradients are those
    of one process's step on the whole batch."""
    ranks = optimizer.ranks
    mine = ranks.share(batch)
    total = loss = None
    weight, tokens = 0.0, 0
    if mine or ranks.sharded:  # sharded weights: a process with no examples still takes the forward pass, idle
        ids, labels, mask, weights = collate(mine or batch[:1], pad, device)
        with autocast():
            total, weight = lm_loss_sum(base_model, ids, labels, mask, weights)
        if mine:
            tokens = int(mask.sum())
        else:
            total, weight = total * 0.0, 0.0
    whole = ranks.sum(weight)
    if total is not None:
        loss = total / whole
    optimizer.apply(loss, step)
    value = float(loss.detach()) if loss is not None else 0.0
    return ranks.sum(value), int(ranks.sum(tokens))
