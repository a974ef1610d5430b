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


def follow_in_panel(window, panel, handle: JobHandle, title: str, on_result) -> None:
    """A panel's own job: its progress in `panel`, its result to `on_result`, a failure shown in the panel
    (`panel.show_failure`) and, unless cancelled, in an error box titled `title`. The panel is idle again either
    way (`panel.set_running(False)`)."""
    from .dialogs import show_error

    handle.progress.connect(panel.show_progress)

    def finished(result):
        panel.set_running(False)
        on_result(result)

    def failed(message, detail):
        panel.set_running(False)
        panel.show_failure(message)
        if message != "Cancelled":
            show_error(window, title, message, detail)

    handle.finished.connect(finished)
    handle.failed.connect(failed)
