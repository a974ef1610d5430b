"""Soak, small: many chat turns with a live probe through the model-owner thread leave no thread behind and
hold memory flat (Python allocations after warm-up; the 300-generation figure on the real model is bench/soak.py)."""

import threading
import tracemalloc

from workbench.probes.capture import capture
from workbench.probes.contrast import contrast_sequences, load_questions
from workbench.probes.fit import fit_mean_diff
from workbench.runtime.soak import soak


def test_many_generations_with_a_live_probe_leak_neither_threads_nor_memory(tiny, store):
    defect, comply = contrast_sequences(tiny, load_questions())
    acts = capture(tiny, defect + comply)
    probe = fit_mean_diff(acts[: len(defect)], acts[len(defect):], card={"name": "soak"})
    # Compared by identity, not by count: a thread left by an earlier test may end meanwhile.
    threads_before = set(threading.enumerate())
    soak(tiny, store, probe, generations=5, warmup=5)  # warm every cache first
    tracemalloc.start()
    try:
        first = soak(tiny, store, probe, generations=20, warmup=0)
        after_20 = tracemalloc.get_traced_memory()[0]
        second = soak(tiny, store, probe, generations=60, warmup=0)
        after_80 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert first.generations == 40 and second.generations == 120
    left_running = [t.name for t in threading.enumerate() if t not in threads_before]
    assert left_running == []  # the owner thread ended; nothing else was left running
    assert second.threads_new == []  # no thread piled up over 120 generations
    per_generation = (after_80 - after_20) / 120
    assert per_generation < 2048, f"{per_generation:.0f} bytes of Python objects kept per generation"
