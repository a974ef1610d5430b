"""LoRA training pieces that implanting an organism and safety-training it share: examples as token ids and
their batches, the loss, and the optimizer step with its schedule."""

from .data import TokenizedExample, batches, collate
from .steps import StepOptimizer, lm_loss, lm_loss_sum, train_step

__all__ = ["StepOptimizer", "TokenizedExample", "batches", "collate", "lm_loss", "lm_loss_sum", "train_step"]
