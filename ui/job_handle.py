"""One handle per job: the panel or controller that starts a job owns its handle and is the only one that hears
its progress, events, result and failure, and `cancel()` stops that job alone (in the spirit of Orange's
TaskState and superqt's workers)."""

from PySide6.QtCore import QObject, Signal

from workbench.events import JobFailed, JobFinished, Progress
from workbench.runtime import Job
from workbench.runtime.progress_clock import ProgressClock


class JobHandle(QObject):
    """A submitted job as the GUI sees it; its signals are emitted on the GUI thread."""

    progress = Signal(str, object)  # stage (with time so far and left), fraction (None: indeterminate)
    event = Signal(object)  # every engine event of this job, including the progress and the last one
    finished = Signal(object)  # the result
    failed = Signal(str, str)  # message ("Cancelled" when it was), detail

    def __init__(self, job: Job, parent=None):
        super().__init__(parent)
        self.job = job
        self._clock = ProgressClock()
        self._ended = False

    @property
    def id(self) -> int:
        return self.job.id

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def done(self) -> bool:
        """The job has ended: its last event reached this thread (the owner thread marks the job done only after
        sending it, so whoever hears `finished` may start the next job at once)."""
        return self._ended or self.job.done.is_set()

    def cancel(self) -> None:
        """Stop this job at its next token (or drop it from the queue); no other job is touched."""
        self.job.cancel()

    def pause(self) -> None:
        self.job.pause()

    def deliver(self, event) -> None:
        """Called by the bridge on the GUI thread with each event of this job."""
        if isinstance(event, (JobFinished, JobFailed)):
            self._ended = True
        self.event.emit(event)
        if isinstance(event, Progress):  # the stage, with the time so far and about how long is left
            timing = self._clock.describe(event.fraction)
            self.progress.emit(event.stage + (f" · {timing}" if timing else ""), event.fraction)
        elif isinstance(event, JobFinished):
            self.finished.emit(event.result)
        elif isinstance(event, JobFailed):
            self.failed.emit(event.message, event.detail or "")
