"""One supervised step: next-token loss on the labelled (answer) tokens of a batch, then an optimizer step."""

from ..lora import StepOptimizer, TokenizedExample, train_step


def sft_step(base_model, optimizer: StepOptimizer, step: int, batch: list[TokenizedExample], pad: int,
             device: str) -> tuple[float, int]:
    """(loss, tokens in the batch). `base_model` is the peft model's base (LoRA layers inside it); under several
    processes `batch` is the global batch and each process trains on its share."""
    return train_step(base_model, optimizer, step, batch, pad, device)
