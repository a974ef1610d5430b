"""One supervised step: next-token loss on the labelled (answer) tokens of a batch, then an optimizer step."""

from ..lora import StepOptimizer, TokenizedExample, collate, lm_loss


def sft_step(base_model, optimizer: StepOptimizer, step: int, batch: list[TokenizedExample], pad: int,
             device: str) -> tuple[float, int]:
    """(loss, tokens in the batch). `base_model` is the peft model's base (LoRA layers inside it)."""
    ids, labels, mask, weights = collate(batch, pad, device)
    loss = lm_loss(base_model, ids, labels, mask, weights)
    optimizer.apply(loss, step)
    return float(loss.detach()), int(mask.sum())
