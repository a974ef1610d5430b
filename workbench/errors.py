"""Errors the user caused and can fix: shown as a one-line message, never a traceback."""


class WorkbenchError(Exception):
    """A problem with the user's input (a path, a file, a prompt) that the app reports and survives."""


class Cancelled(Exception):
    """Raised inside a job when the user cancelled it."""
