"""Errors the user caused and can fix: shown as a one-line message, never a traceback."""


class WorkbenchError(Exception):
    """A problem with the user's input (a path, a file, a prompt) that the app reports and survives."""


class Cancelled(Exception):
    """Raised inside a job when the user cancelled it."""


def explain(exc: BaseException) -> str | None:
    """One line for a failure the user's machine caused (memory, disk, a locked or read-only database), or
    None for a bug. The work in progress was not saved half-way: every save is one SQLite transaction."""
    import sqlite3

    text = str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in text.lower() or "can't allocate memory" in text \
            or "not enough memory" in text:
        return ("Out of memory; try fewer prompts, a smaller batch or fewer new tokens "
                f"({_first_line(text) or type(exc).__name__})")
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in text or "busy" in text:
            return "The session database is locked by another program; close it there and try again"
        if "readonly" in text or "read-only" in text:
            return "The session database is read-only; choose a writable file (--db) or change its permissions"
        if "disk" in text or "full" in text:
            return f"The session database could not be written: {_first_line(text)}"
    if isinstance(exc, sqlite3.DatabaseError) and "malformed" in text:
        return f"The session database is damaged ({_first_line(text)}); it was left as it is"
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return None


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""


def write_crash_log(text: str) -> str:
    """Append a traceback to crash.log in the data folder (for a bug report); returns where it went."""
    from .paths import data_dir

    try:
        path = data_dir() / "crash.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
        return str(path)
    except OSError:
        return "nowhere (the data folder is not writable)"
