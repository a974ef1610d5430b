"""Probes: residual-stream reads (nnsight), probe kinds (mean-diff, logistic, plugins), AUROC with controls, live scoring."""

from .capture import adapter_key, capture, capture_cached
from .consistency import check_saved_answers, consistency_check, recompute_scores
from .contrast import ContrastQuestion, contrast_sequences, load_questions
from .evaluation import ProbeReport, ProbeSettings, evaluate_probes
from .fit import fit_logistic, fit_mean_diff
from .kinds import fit_probe, probe_kind_names
from .library import load_remembered, probes_dir, remember_fit, remembered_fit, saved_probes
from .live import LiveProbe
from .metrics import auroc, random_direction_baseline, variance_ratio
from .probe import Probe, chat_rendering

__all__ = [
    "ContrastQuestion", "LiveProbe", "Probe", "ProbeReport", "ProbeSettings", "adapter_key", "auroc",
    "capture", "capture_cached", "chat_rendering", "check_saved_answers", "consistency_check",
    "contrast_sequences", "evaluate_probes", "fit_logistic", "fit_mean_diff", "fit_probe", "load_questions",
    "load_remembered", "probe_kind_names", "probes_dir", "random_direction_baseline", "recompute_scores",
    "remember_fit", "remembered_fit", "saved_probes",
    "variance_ratio",
]
