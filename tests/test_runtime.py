"""The model-owner thread: one thread for all model work, in order, cancellable, never killed by a bug."""

import sys
import threading
import time

import pytest

from workbench.errors import Cancelled, WorkbenchError
from workbench.events import JobFailed, JobFinished, Progress
from workbench.runtime import ModelOwner


@pytest.fixture
def owner():
    events = []
    o = ModelOwner(listener=events.append)
    o.events = events
    yield o
    o.shutdown()


def test_jobs_run_in_order_on_one_named_thread(owner):
    seen = []
    jobs = [owner.submit(f"j{i}", lambda ctx, i=i: seen.append((i, threading.current_thread().name)) or i)
            for i in range(5)]
    assert [j.wait(5) for j in jobs] == list(range(5))
    assert seen == [(i, "model-owner") for i in range(5)]
    assert threading.current_thread().name != "model-owner"
    finished = [e for e in owner.events if isinstance(e, JobFinished)]
    assert [e.name for e in finished] == [f"j{i}" for i in range(5)]
    assert [e.job_id for e in finished] == [j.id for j in jobs]


def test_cancel_stops_a_running_job_quickly(owner):
    started = threading.Event()

    def long_job(ctx):
        started.set()
        while True:
            ctx.check()
            ctx.emit(Progress(stage="working"))
            time.sleep(0.01)

    job = owner.submit("long", long_job)
    assert started.wait(5)
    t0 = time.perf_counter()
    owner.cancel_current()
    with pytest.raises(Cancelled):
        job.wait(5)
    assert time.perf_counter() - t0 < 1.0
    assert any(isinstance(e, JobFailed) and e.message == "Cancelled" for e in owner.events)


def test_errors_become_events_and_the_thread_survives(owner):
    def bad_input(ctx):
        raise WorkbenchError("that file is not a model")

    def bug(ctx):
        raise ZeroDivisionError("oops")

    with pytest.raises(WorkbenchError):
        owner.submit("bad", bad_input).wait(5)
    with pytest.raises(ZeroDivisionError):
        owner.submit("bug", bug).wait(5)
    assert owner.submit("after", lambda ctx: "alive").wait(5) == "alive"
    failed = [e for e in owner.events if isinstance(e, JobFailed)]
    assert failed[0].message == "that file is not a model" and not failed[0].detail
    assert "Unexpected error: oops" in failed[1].message and "ZeroDivisionError" in failed[1].detail


def test_the_owner_is_free_when_a_job_s_last_event_arrives():
    """A GUI that reacts to JobFinished by submitting the next job must not find the finished one still running."""
    from workbench.events import JobFinished
    from workbench.runtime import ModelOwner

    seen = []
    owner = ModelOwner(listener=lambda e: seen.append((type(e).__name__, owner.job_names(), owner.busy))
                       if isinstance(e, JobFinished) else None)
    try:
        owner.submit("fit", lambda ctx: 1).wait(5)
        assert seen == [("JobFinished", [], False)]
    finally:
        owner.shutdown()


def test_a_long_job_lets_queued_chat_turns_run_between_its_steps(owner):
    """Chat (interleave=True) runs inside a long job's step boundary; other jobs wait for it to end."""
    order = []
    gate = threading.Event()

    def long_job(ctx):
        gate.wait(5)
        for step in range(3):
            ctx.run_interleaved()
            order.append(f"step{step}")
            ctx.check()
        return "trained"

    long = owner.submit("safety-train", long_job, long=True, yields=True)
    other = owner.submit("load-model", lambda ctx: order.append("load"))
    chat = owner.submit("chat", lambda ctx: order.append(("chat", ctx.owner.job_names())), interleave=True)
    gate.set()
    assert long.wait(5) == "trained" and other.wait(5) is None and chat.wait(5) is None
    # while the chat turn runs, the long job it runs inside is still listed: nothing can take it for idle
    assert order == [("chat", ["chat", "safety-train", "load-model"]), "step0", "step1", "step2", "load"]
    assert not owner.jobs()
    # stopping the chat turn running inside the long job stops only the chat turn
    seen = threading.Event()
    gate.clear()

    def stoppable_chat(ctx):
        seen.set()
        while not ctx.should_stop():
            time.sleep(0.01)
        raise Cancelled()

    long = owner.submit("safety-train", long_job)
    chat = owner.submit("chat", stoppable_chat, interleave=True)
    gate.set()
    assert seen.wait(5)
    owner.cancel_current()
    with pytest.raises(Cancelled):
        chat.wait(5)
    assert long.wait(5) == "trained"


def test_progress_says_how_long_it_ran_and_about_how_long_is_left():
    from workbench.runtime.progress_clock import ProgressClock, format_duration

    now = [100.0]
    clock = ProgressClock(clock=lambda: now[0])
    assert clock.describe(0.0) == ""  # the first report starts the clock
    now[0] += 3
    assert clock.describe(0.01) == "3 s"  # too early to guess
    now[0] += 57
    assert clock.describe(0.25) == "1 min 00 s so far, about 3 min 00 s left"
    now[0] += 60
    assert clock.describe(None) == "2 min 00 s"  # an indeterminate stage: no guess
    assert format_duration(3725) == "1 h 02 min" and format_duration(59.6) == "1 min 00 s"
    resumed = ProgressClock(clock=lambda: now[0])  # a resumed run reports half done from the start
    resumed.describe(0.5)
    now[0] += 100
    assert resumed.describe(0.6) == "1 min 40 s so far, about 6 min 40 s left"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priority is a Linux feature")
def test_a_model_thread_beside_a_window_yields_the_cpu():
    """The window's model thread runs at a lower priority (Linux: the threads torch starts from it inherit it),
    so the GUI thread gets a core the moment it wakes; the CLI's owner keeps the normal one."""
    import os

    import torch

    def priorities(ctx):
        a = torch.randn(512, 512)
        a @ a  # starts torch's compute threads from this thread
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    yielding, plain = ModelOwner(yield_cpu=True), ModelOwner()
    try:
        normal = os.getpriority(os.PRIO_PROCESS, 0)
        assert yielding.submit("p", priorities).wait(30) == min(normal + 10, 19)
        assert plain.submit("p", priorities).wait(30) == normal
    finally:
        yielding.shutdown()
        plain.shutdown()
