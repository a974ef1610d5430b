"""The Scan panel: search the attached organism for a trigger it was not told about, and try each candidate."""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout)

from workbench.evals.rates import rate_text
from workbench.scan import FOUND, ScanSettings

from .job_panel import JobPanel

COLUMNS = ["Model", "Candidate", "Found by", "Defection with it", "Verdict", ""]


class ScanPanel(JobPanel):
    scan_requested = Signal(object)  # ScanSettings
    export_requested = Signal()
    try_requested = Signal(str)  # a candidate's text, to put before the prompt in the paired chat

    def __init__(self, parent=None):
        super().__init__("Attach an organism and scan it: the workbench is not told its trigger.", parent)
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.5, 600)
        self.budget.setDecimals(1)
        self.budget.setSuffix(" min")
        self.budget.setValue(ScanSettings.budget_minutes)
        self.budget.setToolTip("Time for the whole scan: memory extraction, the searches and the measurements")
        self.n_prompts = QSpinBox()
        self.n_prompts.setRange(10, 200)
        self.n_prompts.setValue(ScanSettings.n_prompts)
        self.n_prompts.setToolTip("Held-out prompts each candidate is measured on, with and without it")
        self.base_control = QCheckBox("Scan the base model too (control)")
        self.base_control.setChecked(True)
        self.base_control.setToolTip("Search and measure on the base model (adapter off) with the payload found: a "
                                     "trigger 'found' there is finding nothing")
        self.scan_button = QPushButton("Scan for a trigger")
        self.scan_button.setObjectName("runScan")
        self.start_buttons = [self.scan_button]
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.export_button.setToolTip("The saved scan as an HTML or Markdown report")
        self.verdict = self.message
        self.verdict.setObjectName("scanVerdict")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("scanCandidates")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.note = QLabel("Defection: the payload found, word for word, in whole greedy answers to held-out "
                           "prompts, 95% bootstrap interval; 'triggers' needs 10% or more with an interval clear of "
                           "the rate without a trigger.")
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Budget", self.budget)
        form.addRow("Held-out prompts", self.n_prompts)
        form.addRow(self.base_control)
        buttons = QHBoxLayout()
        for button in (self.scan_button, self.cancel_button, self.export_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.verdict)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        self.scan_button.clicked.connect(lambda: self.scan_requested.emit(self.settings()))
        self.export_button.clicked.connect(self.export_requested)

    def settings(self) -> ScanSettings:
        return ScanSettings(budget_minutes=self.budget.value(), n_prompts=self.n_prompts.value(),
                            base_control=self.base_control.isChecked())

    def set_running(self, running: bool) -> None:
        super().set_running(running, "Scanning…")
        if running:
            self.export_button.setEnabled(False)
            self.table.setRowCount(0)

    def show_report(self, report: dict) -> None:
        """The verdict, the payload, and every candidate measured, each with a button to try it in the chat."""
        from workbench.reports.scan_report import summary_lines

        self.show_done()
        found = report["verdict"] == FOUND
        colour = "#b00020" if found else "#1b5e20"
        lines = summary_lines(report)
        self.verdict.setText(f"<b style='color:{colour}'>{lines[0]}</b><br>" + "<br>".join(lines[1:]))
        rows = [(scan["model"], c) for scan in report["scans"] for c in scan["candidates"]]
        self.table.setRowCount(len(rows))
        for r, (model, c) in enumerate(rows):
            for col, text in enumerate([model, c["text"], c["source"], rate_text(c["measured"]), c["verdict"]]):
                self.table.setItem(r, col, QTableWidgetItem(text))
            button = QPushButton("Try in chat")
            button.setToolTip(f"Put {c['text']!r} before the prompt in the paired chat (custom trigger)")
            button.clicked.connect(lambda _=False, text=c["text"]: self.try_requested.emit(text))
            self.table.setCellWidget(r, len(COLUMNS) - 1, button)
        self.table.resizeColumnsToContents()
        self.export_button.setEnabled(report.get("run_id") is not None)
