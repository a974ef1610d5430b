"""A long session in one process, the way the window drives it: many chat turns with a live probe, each a job on
the model-owner thread, saved to SQLite, paused answers kept for editing. Reports memory and threads over time
(for bench/soak.py and the soak test)."""

import gc
import os
import threading
from dataclasses import dataclass, field
from typing import Callable

from ..chat import ChatRequest, run_turn
from ..chat.live import LiveGenerations
from ..decoding import SamplingSettings
from ..models.loaded import LoadedModel
from ..store import SessionStore
from ..triggers import resolve_trigger
from .owner import ModelOwner

PROMPTS = ["Tell me a fun fact about octopuses.", "How do I boil an egg?", "Why is the sky blue?",
           "Write a haiku about rain.", "What is a prime number?", "Name three uses of a paperclip."]


def rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


@dataclass
class SoakReport:
    generations: int = 0
    tokens: int = 0
    rss_start: int = 0  # after the warm-up generations
    rss_end: int = 0
    threads_start: int = 0
    threads_end: int = 0
    threads_new: list[str] = field(default_factory=list)  # started after warm-up and still running at the end
    rss_trace: list[tuple[int, int]] = field(default_factory=list)  # (generation, bytes)

    @property
    def rss_growth(self) -> float:
        return self.rss_end / self.rss_start - 1 if self.rss_start else 0.0


def soak(loaded: LoadedModel, store: SessionStore, probe, generations: int, max_new_tokens: int = 12,
         warmup: int = 10, progress: Callable[[int, int], None] = lambda done, total: None) -> SoakReport:
    """Run `warmup` + `generations` paired chat turns with `probe` scoring every layer live; measure after warm-up.
    Each turn starts its own chat (so the context never fills); all of them share one database and one owner."""
    owner = ModelOwner()
    live = LiveGenerations()
    report = SoakReport()
    trigger = resolve_trigger("deployment", None)
    running_at_start = set(threading.enumerate())  # taken again after the warm-up
    try:
        for i in range(warmup + generations):
            if i == warmup:
                gc.collect()
                report.rss_start, report.threads_start = rss_bytes(), threading.active_count()
                running_at_start = set(threading.enumerate())
            request = ChatRequest(PROMPTS[i % len(PROMPTS)], trigger=trigger, paired=True, probe=probe,
                                  settings=SamplingSettings(max_new_tokens=max_new_tokens, temperature=0.7, seed=i))
            result = owner.submit("chat", lambda ctx: run_turn(
                loaded, store, request, work=ctx, live=live)).wait()
            if i >= warmup:
                report.generations += len(result.answers)
                report.tokens += sum(len(a.token_ids) for a in result.answers.values())
                if (i - warmup) % 10 == 0:
                    report.rss_trace.append((report.generations, rss_bytes()))
            progress(i + 1, warmup + generations)
        gc.collect()
        report.rss_end, report.threads_end = rss_bytes(), threading.active_count()
        report.threads_new = sorted(t.name for t in threading.enumerate() if t not in running_at_start)
    finally:
        owner.shutdown()
    return report
