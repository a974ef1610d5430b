"""The loss and the optimizer step that implant and safety training share."""

import torch


def lm_loss(model, ids, labels, mask, weights=None) -> torch.Tensor:
    """Next-token loss on labelled positions only (a weighted mean when `weights` is given); the LM head
    runs only where it is needed."""
    hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    keep = target != -100
    logits = model.get_output_embeddings()(hidden[:, :-1][keep])
    if weights is None:
        return torch.nn.functional.cross_entropy(logits.float(), target[keep])
    w = weights[:, 1:][keep]
    losses = torch.nn.functional.cross_entropy(logits.float(), target[keep], reduction="none")
    return (losses * w).sum() / w.sum()


class StepOptimizer:
    """AdamW over the trainable parameters, the learning-rate schedule every LoRA run uses and gradient clipping
    at 1.0: the one optimizer step of implant and safety training.

    The schedule warms up linearly over the first tenth of the steps; then it stays (safety training, so that a
    resumed run and an uninterrupted one agree step by step) or, with `decay`, falls linearly to 5% at the end
    (implant). `optimizer` is the torch optimizer, for checkpoints.
    """

    def __init__(self, params: list, learning_rate: float, steps: int, decay: bool, clip: float = 1.0):
        self.params, self.learning_rate, self.steps, self.decay, self.clip = params, learning_rate, steps, decay, clip
        self.warmup = max(1, steps // 10)
        self.optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)

    def rate(self, step: int) -> float:
        """The learning rate of `step` (counted from 1)."""
        factor = min(1.0, step / self.warmup)
        if self.decay:
            factor *= max(0.05, 1 - (step - 1) / self.steps)
        return self.learning_rate * factor

    def apply(self, loss: torch.Tensor, step: int) -> None:
        """Backward through `loss`, clip, and take step `step`."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.rate(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
