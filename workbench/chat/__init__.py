"""Chat turns: a prompt answered with and without a trigger, streamed and saved."""

from .turn import CLEAN, TRIGGERED, ChatRequest, PaneAnswer, TurnResult, run_turn

__all__ = ["CLEAN", "TRIGGERED", "ChatRequest", "PaneAnswer", "TurnResult", "run_turn"]
