"""The Scan panel's work: a trigger scan of the attached organism in the background, its report, export, and
each candidate tried in the paired chat with one click. The panel owns its job: only it hears the scan, and its
Cancel stops that job alone."""

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from workbench.errors import WorkbenchError
from workbench.triggers import Trigger

from .dialogs import ensure_idle, show_error
from .job_handle import follow_in_panel
from .widgets.scan_panel import ScanPanel


class ScanController(QObject):
    def __init__(self, window, bridge, chat):
        super().__init__(window)
        self.window, self.bridge, self.chat = window, bridge, chat
        self._job = None
        self.report: dict | None = None  # the last scan's report (with its "run_id")
        self.panel = ScanPanel()
        self.panel.scan_requested.connect(self.scan)
        self.panel.cancel_requested.connect(lambda: self._job and self._job.cancel())
        self.panel.try_requested.connect(self.try_candidate)
        self.panel.export_requested.connect(self._choose_export)

    def scan(self, settings) -> None:
        """Scan the attached organism; its base model is the comparison."""
        if not ensure_idle(self.window, self.bridge, "scan", chat=False):
            return
        if not (self.window.model_info or {}).get("adapter"):
            show_error(self.window, "No organism", "A scan compares an organism with its base model: attach one "
                                                   "in the Organism box of the toolbar first.")
            return
        panel = self.panel
        panel.set_running(True)
        self._job = self.bridge.scan(settings)

        def finished(report):
            self.report = report
            panel.show_report(report)

        follow_in_panel(self.window, panel, self._job, "Scan failed", finished)

    def try_candidate(self, text: str) -> None:
        """Put a candidate before the prompt in the paired chat (a custom trigger), ready to ask."""
        self.chat.trigger_panel.select(Trigger.custom(text))
        self.chat.prompt.setFocus()
        self.window.statusBar().showMessage(f"Trigger set to the candidate {text!r}: ask a question to try it", 5000)

    def export_report(self, path: str) -> None:
        from workbench.reports import export

        if not self.report or self.report.get("run_id") is None:
            raise WorkbenchError("Scan first: there is no saved scan to export")
        export(self.bridge.store, "run", self.report["run_id"], path)

    def _choose_export(self) -> None:
        run_id = (self.report or {}).get("run_id")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export the scan as a report", f"scan-{run_id}.html",
                                              "HTML report (*.html);;Markdown (*.md)")
        if not path:
            return
        try:
            self.export_report(path)
            self.window.statusBar().showMessage(f"Exported to {path}", 5000)
        except (OSError, WorkbenchError) as exc:
            show_error(self.window, "Export failed", str(exc))
