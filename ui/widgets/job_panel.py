"""The common frame of a panel that runs one background job at a time (Scan, Patching, Steering): its start
buttons, a Cancel button, a progress bar and a message line. The panel's controller owns the job
(job_handle.follow_in_panel) and calls set_running, show_progress and show_failure."""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QWidget


class JobPanel(QWidget):
    cancel_requested = Signal()

    def __init__(self, message: str, parent=None):
        super().__init__(parent)
        self.start_buttons: list[QPushButton] = []  # disabled while the job runs
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.message = QLabel(message)
        self.message.setWordWrap(True)

    def set_running(self, running: bool, note: str = "") -> None:
        """Start buttons off and Cancel on while a job runs (and the other way round after); `note` is shown as
        the message when it starts."""
        for button in self.start_buttons:
            button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("starting…")
            if note:
                self.message.setText(note)

    def show_progress(self, stage: str, fraction: float | None) -> None:
        self.progress.setValue(int(100 * (fraction or 0)))
        self.progress.setFormat(f"%p% — {stage}" if fraction is not None else stage)

    def show_done(self) -> None:
        self.progress.setValue(100)
        self.progress.setFormat("done")

    def show_failure(self, message: str) -> None:
        self.progress.setFormat("cancelled" if message == "Cancelled" else "failed")
        self.message.setText("Cancelled." if message == "Cancelled" else message)
