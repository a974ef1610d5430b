"""Replicate a paper experiment: pick a grid, start it (it resumes from its folder), watch it, open the report.

The dialog starts the job, owns it and hears its result."""

from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QVBoxLayout)

from workbench.paths import data_dir
from workbench.replicate import GRIDS

GRID_HELP = {"persistence": "Does the backdoor survive safety training? Each variant x SFT (pre/post scratchpad), "
                            "RL and adversarial training, with a fresh LoRA over the organism and with the "
                            "organism's own adapter.",
             "probes": "Does a probe see defection? Each organism beside its clean control (implanted on the spot) "
                       "and the base model, with verdicts and the trigger-free test."}


class ReplicateDialog(QDialog):
    start_requested = Signal(str, bool, str)  # grid, quick, output folder
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Replicate a paper experiment")
        self.setObjectName("replicateDialog")
        self.grid = QComboBox()
        self.grid.addItems(list(GRIDS))
        self.quick = QCheckBox("Quick (reduced grid on the built-in model; measured alone on a 2-core CPU: 62 "
                               "minutes for persistence, 47 for probes)")
        self.quick.setChecked(True)
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.out = QLineEdit()
        self.out.setPlaceholderText("folder (default: in your data folder; the same folder goes on after a stop)")
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.report_button = QPushButton("Open report")
        self.report_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.report: str | None = None
        form = QFormLayout()
        form.addRow("Grid", self.grid)
        form.addRow("", self.about)
        form.addRow("", self.quick)
        form.addRow("Folder", self.out)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.report_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.result)
        self.grid.currentTextChanged.connect(lambda g: self.about.setText(GRID_HELP[g]))
        self.about.setText(GRID_HELP[self.grid.currentText()])
        self.start_button.clicked.connect(self._start)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.report_button.clicked.connect(self.open_report)
        self.resize(560, 260)

    def folder(self) -> str:
        grid, quick = self.grid.currentText(), self.quick.isChecked()
        return self.out.text().strip() or str(data_dir() / f"replicate-{grid}{'-quick' if quick else ''}")

    def _start(self) -> None:
        self.set_running(True)
        self.result.setText("")
        self.start_requested.emit(self.grid.currentText(), self.quick.isChecked(), self.folder())

    def set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setFormat("starting…" if running else "idle")

    def show_progress(self, stage: str, fraction: float | None) -> None:
        self.progress.setValue(int(100 * (fraction or 0)))
        self.progress.setFormat(f"%p% — {stage}")

    def finished(self, result: dict | None, message: str = "") -> None:
        """The job's end: the report to open, or why it stopped (the folder keeps what finished)."""
        self.set_running(False)
        if result is None:
            self.progress.setFormat("stopped")
            self.result.setText(f"{message or 'Stopped.'} Start again with the same folder to go on.")
            return
        self.progress.setValue(100)
        self.progress.setFormat("done")
        self.report = result["report"]
        self.report_button.setEnabled(True)
        self.result.setText(f"{len(result['cells'])} cells done. Report: {self.report}")

    def open_report(self) -> None:
        if self.report and Path(self.report).exists():
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.report))
