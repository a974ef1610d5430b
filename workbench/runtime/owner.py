"""The model-owner thread: the one thread that does all model work, one job at a time."""

import itertools
import queue
import threading
import traceback
from typing import Any, Callable

from ..errors import Cancelled, WorkbenchError, explain
from ..events import Event, JobFailed, JobFinished
from .work import Work

Listener = Callable[[Event], None]


class JobContext(Work):
    """What a running job sees: its Work (events to the GUI, cancel, pause, chat turns between steps) and the
    owner's shared state."""

    def __init__(self, owner: "ModelOwner", job: "Job"):
        self.owner = owner
        self.job = job

    def emit(self, event: Event) -> None:
        self.owner._emit(_with_job_id(event, self.job.id))

    def should_stop(self) -> bool:
        return self.job.cancel_requested.is_set()

    def should_pause(self) -> bool:
        return self.job.pause_requested.is_set()

    def between_steps(self) -> None:
        self.run_interleaved()

    def run_interleaved(self) -> None:
        """Run the queued jobs that were submitted with `interleave=True` (chat turns) now, on this thread, then
        come back: a long job calls this between its steps so the user need not wait for it to end."""
        self.owner._run_interleaved(self.job)


class Job:
    """A submitted unit of model work. `cancel()` asks it to stop at the next token; `pause()` asks a
    generation to pause there (jobs that cannot pause ignore it).

    `name` is a label for people ("the implant job"); what a job is like is said by its flags: `interleave` (it
    may run between a long job's steps: a chat turn), `long` (it holds the model for minutes), `yields` (a long
    job that runs the interleaved jobs between its steps)."""

    def __init__(self, job_id: int, name: str, fn: Callable[[JobContext], Any], interleave: bool = False,
                 long: bool = False, yields: bool = False):
        self.id = job_id
        self.name = name
        self.fn = fn
        self.interleave = interleave
        self.long = long
        self.yields = yields
        self.cancel_requested = threading.Event()
        self.pause_requested = threading.Event()
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def cancel(self) -> None:
        self.cancel_requested.set()

    def pause(self) -> None:
        self.pause_requested.set()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job ends (never call this on the GUI thread); re-raise its error."""
        if not self.done.wait(timeout):
            raise TimeoutError(f"job {self.name!r} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result


class ModelOwner:
    """Runs submitted jobs in order on one daemon thread and reports their events to listeners.

    With `yield_cpu` (a window is drawing beside it), the thread and the compute threads it starts run at a lower
    scheduling priority, so that a thread drawing on screen gets a core the moment it wakes."""

    def __init__(self, listener: Listener | None = None, yield_cpu: bool = False):
        self._listeners: list[Listener] = [listener] if listener else []
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._current: Job | None = None
        self._paused_for: list[Job] = []  # long jobs that wait, mid-step, for interleaved jobs to finish
        self.state: dict[str, Any] = {}  # owned by the thread: e.g. state["model"]
        self._yield_cpu = yield_cpu
        self._thread = threading.Thread(target=self._run, name="model-owner", daemon=True)
        self._thread.start()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def submit(self, name: str, fn: Callable[[JobContext], Any], interleave: bool = False, long: bool = False,
               yields: bool = False) -> Job:
        """Queue `fn`; with `interleave`, a long job that yields between its steps may run it before it ends
        (see Job for `long` and `yields`)."""
        job = Job(next(self._ids), name, fn, interleave, long, yields)
        self._queue.put(job)
        return job

    @property
    def current(self) -> Job | None:
        """The job running now (inside a long job, the chat turn interleaved into it)."""
        return self._current

    def cancel_current(self) -> None:
        job = self._current
        if job is not None:
            job.cancel()

    def cancel_all(self) -> None:
        """Cancel the running job and every queued one."""
        with self._queue.mutex:
            for job in self._queue.queue:
                if job is not None:
                    job.cancel()
        self.cancel_current()

    def jobs(self) -> list[Job]:
        """The running job (and the long job it runs between the steps of), then the queued ones."""
        with self._queue.mutex:
            queued = [job for job in self._queue.queue if job is not None]
        running = [self._current, *reversed(self._paused_for)]
        return list(dict.fromkeys(job for job in running if job is not None)) + queued

    def job_names(self) -> list[str]:
        """The running job's name, then the queued ones'."""
        return [job.name for job in self.jobs()]

    @property
    def busy(self) -> bool:
        return self._current is not None or not self._queue.empty()

    def shutdown(self, timeout: float = 5.0) -> None:
        self.cancel_all()
        self._queue.put(None)
        self._thread.join(timeout)

    def _emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _run(self) -> None:
        if self._yield_cpu:
            _lower_this_threads_priority()
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._run_job(job, then=None)

    def _run_interleaved(self, outer: Job) -> None:
        while True:
            with self._queue.mutex:
                job = next((j for j in self._queue.queue if j is not None and j.interleave), None)
                if job is None:
                    return
                self._queue.queue.remove(job)
            self._paused_for.append(outer)
            try:
                self._run_job(job, then=outer)
            finally:
                self._paused_for.pop()

    def _run_job(self, job: Job, then: Job | None) -> None:
        """Run one job; `then` is the job that is current again afterwards (the one it was interleaved into)."""
        self._current = job
        ctx = JobContext(self, job)
        try:
            if job.cancel_requested.is_set():
                raise Cancelled()
            job.result = job.fn(ctx)
            final = JobFinished(name=job.name, result=job.result)
        except Cancelled as exc:
            job.error = exc
            final = JobFailed(name=job.name, message="Cancelled")
        except WorkbenchError as exc:
            job.error = exc
            final = JobFailed(name=job.name, message=str(exc))
        except Exception as exc:  # an engine bug, or the machine (memory, disk), must not kill the thread
            job.error = exc
            known = explain(exc)
            final = JobFailed(name=job.name, message=known, detail="") if known else \
                JobFailed(name=job.name, message=f"Unexpected error: {exc}", detail=traceback.format_exc())
        # the owner is free before the job's last event goes out (whoever receives it may submit at once);
        # `done` is set after it, so a waiter has seen every event of the job
        self._current = then
        try:
            ctx.emit(final)
        except Exception:  # a listener's bug must not kill the thread either
            traceback.print_exc()
        job.done.set()


def _lower_this_threads_priority(niceness: int = 10) -> None:
    """Linux schedules threads one by one and a thread inherits its niceness, so the compute threads torch starts
    from this one (its OpenMP team) share it. Elsewhere, or where it is not allowed, nothing changes."""
    import os

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


def _with_job_id(event: Event, job_id: int) -> Event:
    from dataclasses import replace

    return replace(event, job_id=job_id)
