"""Process-wide settings the window relies on, made once when the application starts, not by any widget."""

import gc
import sys

_GUI_THREAD_GC = None


def configure_application() -> None:
    """Once per process, after the QApplication exists and before any window: the GIL switch interval,
    pyqtgraph's look, and garbage collection on the GUI thread. Calling it again does nothing."""
    global _GUI_THREAD_GC
    if _GUI_THREAD_GC is not None:
        return
    import pyqtgraph as pg
    from pyqtgraph.util.garbage_collector import GarbageCollector

    # The model thread runs Python between its kernels; a short switch interval hands the GIL back to the GUI
    # thread within 1 ms instead of 5 (every SQLite row and Qt call re-acquires it).
    sys.setswitchinterval(0.001)
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    # Python's cycle collector may otherwise run on the model thread and destroy Qt objects there (a hang or a
    # crash); pyqtgraph's collector turns automatic collection off and collects from a GUI-thread timer.
    _GUI_THREAD_GC = GarbageCollector(interval=1.0)
    freeze_long_lived()


def freeze_long_lived(release_previous: bool = True) -> None:
    """Take every object alive now out of the cycle collector's scans (gc.freeze), after one collection of the
    objects made since the last freeze. torch, transformers, Qt and a loaded model make half a million objects,
    and a full collection of them on the GUI thread takes about 300 ms on 2 cores: a visible freeze every minute or
    so while a run allocates. With `release_previous` (at start, and after a new model replaced the old one), the
    frozen objects are scanned too, so that whatever the previous model left in reference cycles is freed: that is
    the 300 ms. After an adapter change or a training run the new objects alone are scanned (5 to 100 ms)."""
    if release_previous:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
