"""Chat turns: a prompt answered with and without a trigger, streamed and saved; pause, edit, resume."""

from .live import LiveGenerations
from .resume import ResumedAnswer, rebuild_generation, resume_answers
from .turn import CLEAN, TRIGGERED, ChatRequest, PaneAnswer, TurnResult, run_turn

__all__ = ["CLEAN", "TRIGGERED", "ChatRequest", "LiveGenerations", "PaneAnswer", "ResumedAnswer", "TurnResult",
           "rebuild_generation", "resume_answers", "run_turn"]
