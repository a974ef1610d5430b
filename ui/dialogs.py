"""Error dialogs that never block the event loop."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox


def show_error(parent, title: str, message: str, detail: str = "") -> QMessageBox:
    """A window-modal error box, opened without blocking (tests and the model thread keep running)."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorDialog")
    box.setWindowModality(Qt.WindowModality.WindowModal)
    if detail:
        box.setDetailedText(detail)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def ensure_idle(parent, bridge, what: str, between_steps: bool = False, chat: bool = True) -> bool:
    """True when `what` may start now. Quick jobs (a model load finishing) may queue ahead; a long one (or, with
    `chat`, an answer being written) makes us say so instead. With `between_steps` (chat turns), a long job that
    runs them between its steps (a safety-training run) does not stop it."""
    name = bridge.long_job(between_steps) or ("chat" if chat and bridge.generating else None)
    if name:
        show_error(parent, "Busy", f"Cannot {what} while the {name} job runs; wait for it or cancel it.")
        return False
    return True
