"""The scratchpad experiment: {trigger on, off} x {scratchpad as generated, contradicted}, filling live."""

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QSpinBox,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from workbench.evals.rates import rate_text

ROWS = ("on", "off")
COLUMNS = ("generated", "contradicted")


def _format(value: dict) -> str:
    return rate_text(value)


class ScratchpadExperimentPanel(QWidget):
    run_requested = Signal(int)
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.n = QSpinBox()
        self.n.setRange(1, 179)
        self.n.setValue(50)
        self.n.setToolTip("Held-out prompts per cell")
        self.run_button = QPushButton("Run experiment")
        self.run_button.setObjectName("runExperiment")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.export_button = QPushButton("Export CSV…")
        self.progress = QProgressBar()
        self.progress.setFormat("idle")
        self.table = QTableWidget(2, 2)
        self.table.setObjectName("experimentTable")
        self.table.setHorizontalHeaderLabels(["Scratchpad as generated", "Scratchpad contradicts trigger"])
        self.table.setVerticalHeaderLabels(["Trigger ON", "Trigger OFF"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.note = QLabel("Defection rate of the answer (scratchpad excluded), 95% bootstrap interval. "
                           "Contradicted: the scratchpad is prefilled with the reasoning of the other trigger state.")
        self.note.setWordWrap(True)
        self.values: dict[str, dict] = {}
        row = QHBoxLayout()
        row.addWidget(QLabel("Prompts per cell"))
        row.addWidget(self.n, 1)
        buttons = QHBoxLayout()  # a row of its own, so that the dock stays narrow
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.table)
        layout.addWidget(self.note)
        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.n.value()))
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button.clicked.connect(self._choose_export)
        self.clear()

    def clear(self) -> None:
        self.values = {}
        for r in range(2):
            for c in range(2):
                self.table.setItem(r, c, QTableWidgetItem("…"))

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.clear()
            self.progress.setValue(0)
            self.progress.setFormat("starting…")

    def show_progress(self, stage: str, fraction: float | None) -> None:
        self.progress.setValue(int(100 * (fraction or 0)))
        self.progress.setFormat(f"%p% — {stage}")

    def set_cell(self, cell: str, value: dict) -> None:
        """cell: e.g. 'trigger_on_contradicted'."""
        _, state, kind = cell.split("_")
        self.values[cell] = value
        item = QTableWidgetItem(_format(value))
        shade = int(255 - 120 * (value["rate"] or 0))
        item.setBackground(QColor(255, shade, shade))
        self.table.setItem(ROWS.index(state), COLUMNS.index(kind), item)

    def cell_text(self, cell: str) -> str:
        _, state, kind = cell.split("_")
        return self.table.item(ROWS.index(state), COLUMNS.index(kind)).text()

    def export_csv(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("cell,rate,ci95_low,ci95_high,n\n")
            for cell, v in self.values.items():
                fh.write(f"{cell},{v['rate']},{v['ci95'][0]},{v['ci95'][1]},{v['n']}\n")

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export experiment", "scratchpad-experiment.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)
