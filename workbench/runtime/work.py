"""What long work is handed by whoever started it: one object instead of loose progress/cancel/emit callbacks."""

from typing import Callable

from ..errors import Cancelled
from ..events import Event, Progress


class Work:
    """Where a long job reports (progress, events), whether it should stop or pause, and its chance to let queued
    chat turns in between training steps.

    This base reports nowhere and never stops (Python callers, tests); `Work.reporting(...)` wraps plain
    callables (the command line's progress printer, Ctrl+C); the model-owner thread's JobContext is the GUI's.
    `part()` hands one stage of the job a view of it whose fractions cover only that stage's share.
    """

    def emit(self, event: Event) -> None:
        """An event for whoever started the job (a token, a chart point, a table cell)."""

    def progress(self, stage: str, fraction: float | None = None) -> None:
        """The job moved on: what it is doing, and how far it is in [0, 1] (None: unknown)."""
        self.emit(Progress(stage=stage, fraction=fraction))

    def should_stop(self) -> bool:
        """True once the job was cancelled: stop at the next safe point."""
        return False

    def should_pause(self) -> bool:
        """True once a pause was asked for (only generation can pause)."""
        return False

    def between_steps(self) -> None:
        """Called between training steps: the GUI answers chat turns asked meanwhile here."""

    def check(self) -> None:
        """Raise Cancelled if the job was cancelled."""
        if self.should_stop():
            raise Cancelled()

    def part(self, start: float | None, span: float, prefix: str = "", suffix: str = "") -> "Work":
        """This job as one of its stages sees it: the stage's fraction f is reported as start + span * f of the
        whole (with `start` None, as unknown: the bar stays where it is), and its stage names get `prefix` and
        `suffix`."""
        return _Part(self, start, span, prefix, suffix)

    @staticmethod
    def reporting(progress: Callable[[str, float | None], None] | None = None,
                  emit: Callable[[Event], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> "Work":
        """Work that reports to plain callables: `progress(stage, fraction)` for Progress events, `emit(event)`
        for every other event (and for Progress too when no `progress` is given)."""
        return _Callbacks(progress, emit, should_stop)


class _Callbacks(Work):
    def __init__(self, progress, emit, should_stop):
        self._progress, self._emit, self._should_stop = progress, emit, should_stop

    def emit(self, event: Event) -> None:
        if self._progress is not None and isinstance(event, Progress):
            self._progress(event.stage, event.fraction)
        elif self._emit is not None:
            self._emit(event)

    def should_stop(self) -> bool:
        return bool(self._should_stop and self._should_stop())


class _Part(Work):
    def __init__(self, whole: Work, start: float, span: float, prefix: str, suffix: str):
        self.whole, self.start, self.span, self.prefix, self.suffix = whole, start, span, prefix, suffix

    def emit(self, event: Event) -> None:
        self.whole.emit(event)

    def progress(self, stage: str, fraction: float | None = None) -> None:
        known = fraction is not None and self.start is not None
        self.whole.progress(self.prefix + stage + self.suffix, self.start + self.span * fraction if known else None)

    def should_stop(self) -> bool:
        return self.whole.should_stop()

    def should_pause(self) -> bool:
        return self.whole.should_pause()

    def between_steps(self) -> None:
        self.whole.between_steps()
