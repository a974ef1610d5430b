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
