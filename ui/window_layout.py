"""The main window's size and docks, kept in the user data folder when it closes and put back when it opens."""

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMainWindow

from workbench.paths import data_dir

LAYOUT_FILE = "window-layout.ini"
LAYOUT_VERSION = 1  # raise when the docks change, so that an old layout is not forced onto new ones


def _settings() -> QSettings:
    return QSettings(str(data_dir() / LAYOUT_FILE), QSettings.Format.IniFormat)


def restore_layout(window: QMainWindow) -> None:
    """The window's size and docks as they were when it was last closed (nothing the first time)."""
    settings = _settings()
    geometry, state = settings.value("geometry"), settings.value("state")
    if geometry is not None:
        window.restoreGeometry(geometry)
    if state is not None:
        window.restoreState(state, LAYOUT_VERSION)


def save_layout(window: QMainWindow) -> None:
    settings = _settings()
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("state", window.saveState(LAYOUT_VERSION))
    settings.sync()
