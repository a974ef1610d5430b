"""How long a job has run and about how long it has left, from the fractions it reports."""

import time


def format_duration(seconds: float) -> str:
    """'45 s', '3 min 05 s', '1 h 02 min'."""
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class ProgressClock:
    """Started by a job's first progress report. The estimate is the time so far scaled by the fraction still to
    do over the fraction done since that first report (a resumed run starts part of the way in): rough where
    stages run at different speeds, so it says "about", and it waits for 2% and 5 s of work."""

    MIN_FRACTION, MIN_SECONDS = 0.02, 5.0

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._start: float | None = None
        self._first: float | None = None  # the first fraction seen (a resumed job starts part of the way in)

    def describe(self, fraction: float | None) -> str:
        """'12 s' at first, then '1 min 20 s so far, about 3 min 10 s left' ('' on the first report)."""
        now = self._clock()
        if self._start is None:
            self._start, self._first = now, fraction
            return ""
        if self._first is None:
            self._first = fraction
        elapsed = now - self._start
        done = (fraction - self._first) if fraction is not None and self._first is not None else 0.0
        if fraction is None or fraction >= 1 or done < self.MIN_FRACTION or elapsed < self.MIN_SECONDS:
            return format_duration(elapsed) if elapsed >= 1 else ""
        return f"{format_duration(elapsed)} so far, about {format_duration(elapsed * (1 - fraction) / done)} left"
