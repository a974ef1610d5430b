"""The last line of defence on the GUI thread: an exception in a slot shows a message, and the app stays up."""

import sys
import traceback

from workbench.errors import explain, write_crash_log

from .dialogs import show_error


def install_crash_guard(parent_of) -> None:
    """Route uncaught GUI-thread exceptions to an error dialog (over `parent_of()`) and the crash log."""
    previous = sys.excepthook

    def hook(kind, exc, tb):
        if issubclass(kind, KeyboardInterrupt):
            return previous(kind, exc, tb)
        message = explain(exc)
        if message is None:
            log = write_crash_log("".join(traceback.format_exception(kind, exc, tb)))
            message = f"Unexpected error: {type(exc).__name__}: {str(exc)[:300]} (details in {log})"
        show_error(parent_of(), "Something went wrong",
                   message + "\n\nYour sessions and runs are saved; the workbench keeps running.")

    sys.excepthook = hook
