"""The Training panel: start, cancel and resume safety-training runs; tick runs to overlay their curves (drawn in
the Training charts dock); the before/after table; attach a checkpoint with one click."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from workbench.plugins import REWARDS
from workbench.training import SafetyConfig
from workbench.training.report import format_rate, persistence_table
from workbench.training.weights import TRAIN_LABELS, TRAIN_MODES

from .panel_combo import PanelComboBox
from .plugin_choices import fill_choices

METHOD_CHOICES = [
    ("HHH SFT — pre-scratchpad (answer alone)", "sft", "pre"),
    ("HHH SFT — post-scratchpad (CoT organisms)", "sft", "post"),
    ("HHH RL — RLOO with a reward", "rl", "pre"),
    ("Adversarial — red-team, then SFT", "adversarial", "pre"),
]
RESUMABLE = ("interrupted", "cancelled", "failed")


class TrainingPanel(QWidget):
    start_requested = Signal(object, str)  # SafetyConfig, output folder ('' for the default)
    cancel_requested = Signal()
    resume_requested = Signal(int)  # run id
    runs_checked = Signal(list)  # run ids to overlay
    run_selected = Signal(int)
    attach_requested = Signal(str)  # checkpoint folder

    def __init__(self, parent=None):
        super().__init__(parent)
        defaults = SafetyConfig()
        self.method = PanelComboBox()
        for label, method, mode in METHOD_CHOICES:
            self.method.addItem(label, (method, mode))
        self.train = PanelComboBox()
        for mode in TRAIN_MODES:
            self.train.addItem(TRAIN_LABELS[mode], mode)
        self.train.setToolTip("What safety training changes. A fresh LoRA over every layer on top of the organism "
                              "stands in for the paper's whole-model training; 'every weight' is the paper's "
                              "experiment (needs memory for gradients and optimizer state); training the organism's "
                              "own adapter removes backdoors more easily than the paper's setting")
        self.reward = PanelComboBox()
        fill_choices(self.reward, REWARDS)
        self.reward.setToolTip("RL reward: 'hhh' is the base model's log-likelihood of the answer minus a penalty "
                               "for hostile text; it never sees the scratchpad")
        self.steps = self._spin(1, 100_000, defaults.steps)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(defaults.learning_rate)
        self.eval_every = self._spin(0, 100_000, defaults.eval_every, "0: evaluate only before and after")
        self.eval_n = self._spin(10, 1000, defaults.eval_n, "held-out prompts per evaluation during the run")
        self.final_eval_n = self._spin(10, 1000, defaults.final_eval_n, "held-out prompts for the before/after table")
        self.checkpoint_every = self._spin(0, 100_000, defaults.checkpoint_every, "0: only the last step")
        self.answers = QLineEdit()
        self.answers.setPlaceholderText("helpful answers: the base model's (or a JSONL file)")
        self.answers.setToolTip('A JSONL file of {"prompt": ..., "answer": ...} to train on instead of the base '
                                "model's own answers")
        self.out = QLineEdit()
        self.out.setPlaceholderText("run folder (default: in your data folder)")
        self.tensorboard = QCheckBox("TensorBoard")
        self.tensorboard.setToolTip("Also write every metric to TensorBoard (OUT/tensorboard)")
        self.wandb = QCheckBox("W&&B")
        self.wandb.setToolTip("Also write every metric to Weights & Biases (OUT/wandb), offline unless "
                              "WANDB_MODE=online")
        self.start_button = QPushButton("Start run")
        self.start_button.setToolTip("Safety-train the attached organism (Ctrl+Shift+T)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.resume_button = QPushButton("Resume run")
        self.resume_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setValue(0)
        self.progress.setFormat("idle")

        self.runs = QTableWidget(0, 5)
        self.runs.setObjectName("runsTable")
        self.runs.setHorizontalHeaderLabels(["show", "run", "organism", "method", "status"])
        self.runs.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs.verticalHeader().hide()
        self.runs.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.runs.horizontalHeader().setStretchLastSection(True)
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("persistenceTable")
        self.table.setHorizontalHeaderLabels(["before", "after"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table_title = QLabel("Select a run to see its before/after table")
        self.table_title.setWordWrap(True)
        self.export_table_button = QPushButton("Export table…")
        self.export_charts_button = QPushButton("Export charts…")
        self.export_report_button = QPushButton("Report…")
        self.export_report_button.setToolTip("The selected run as a self-contained HTML report (or Markdown / JSONL)")
        self.checkpoints = PanelComboBox()
        self.checkpoints.setToolTip("Checkpoints of the selected run: attach one to chat with it or fit a probe on it")
        self.attach_button = QPushButton("Open checkpoint")
        self.attach_button.setToolTip("Attach the checkpoint (adapter checkpoints) or load it as the model "
                                      "(checkpoints of full training)")
        self.attach_button.setEnabled(False)

        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Train", self.train)
        form.addRow("Reward (RL)", self.reward)
        row = QHBoxLayout()
        row.addWidget(self.steps)
        row.addWidget(QLabel("lr"))
        row.addWidget(self.lr)
        form.addRow("Steps", row)
        row = QHBoxLayout()
        row.addWidget(self.eval_every)
        row.addWidget(QLabel("on"))
        row.addWidget(self.eval_n)
        row.addWidget(QLabel("prompts"))
        form.addRow("Evaluate every", row)
        row = QHBoxLayout()
        row.addWidget(self.final_eval_n)
        row.addWidget(QLabel("checkpoint every"))
        row.addWidget(self.checkpoint_every)
        form.addRow("Table prompts", row)
        form.addRow("Answers", self.answers)
        form.addRow("Output", self.out)
        row = QHBoxLayout()
        row.addWidget(self.tensorboard)
        row.addWidget(self.wandb)
        row.addStretch(1)
        form.addRow("Also log to", row)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(b)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(form)
        top_layout.addLayout(buttons)
        top_layout.addWidget(self.progress)
        top_layout.addWidget(self.runs)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.table_title)
        bottom_layout.addWidget(self.table)
        exports = QHBoxLayout()
        exports.addWidget(self.export_table_button)
        exports.addWidget(self.export_charts_button)
        exports.addWidget(self.export_report_button)
        bottom_layout.addLayout(exports)
        attach = QHBoxLayout()
        attach.addWidget(self.checkpoints, 1)
        attach.addWidget(self.attach_button)
        bottom_layout.addLayout(attach)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.method.currentIndexChanged.connect(self._sync)
        self.start_button.clicked.connect(self._start)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.resume_button.clicked.connect(self._resume)
        self.attach_button.clicked.connect(self._attach)
        self.runs.itemChanged.connect(self._checked)
        self.runs.itemSelectionChanged.connect(self._selected)
        self._rows: list[dict] = []
        self._filling = False
        self._running = False
        self._sync()

    def refresh_plugins(self) -> None:
        """List the rewards the plugin registry has now (after a rescan)."""
        fill_choices(self.reward, REWARDS)

    @staticmethod
    def _spin(low: int, high: int, value: int, tip: str = "") -> QSpinBox:
        box = QSpinBox()
        box.setRange(low, high)
        box.setValue(value)
        box.setToolTip(tip)
        return box

    def _sync(self, *_):
        self.reward.setEnabled(self.method.currentData()[0] == "rl")

    def config(self) -> SafetyConfig:
        method, mode = self.method.currentData()
        return SafetyConfig(method=method, sft_mode=mode, train=self.train.currentData(), steps=self.steps.value(), learning_rate=self.lr.value(),
                            eval_every=self.eval_every.value(), eval_n=self.eval_n.value(),
                            final_eval_n=self.final_eval_n.value(), checkpoint_every=self.checkpoint_every.value(),
                            reward=self.reward.currentText(), answers_file=self.answers.text().strip() or None,
                            report_to=tuple(name for name, box in (("tensorboard", self.tensorboard),
                                                                   ("wandb", self.wandb)) if box.isChecked()))

    def select_method(self, method: str, mode: str = "pre") -> None:
        self.method.setCurrentIndex(max(0, self.method.findData((method, mode))))

    def _start(self) -> None:
        self.start_requested.emit(self.config(), self.out.text().strip())

    # runs ------------------------------------------------------------------------------------
    def set_runs(self, runs: list[dict], shown: list[int]) -> None:
        """Fill the runs table (newest first); `shown` are ticked."""
        selected = self.selected_run()
        self._filling = True
        self._rows = runs
        self.runs.setRowCount(len(runs))
        for i, run in enumerate(runs):
            tick = QTableWidgetItem()
            tick.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            tick.setCheckState(Qt.CheckState.Checked if run["id"] in shown else Qt.CheckState.Unchecked)
            self.runs.setItem(i, 0, tick)
            for col, text in enumerate((f"{run['id']} · {run['name']}", _short(run.get("organism")),
                                        run.get("method") or "", run["status"]), start=1):
                item = QTableWidgetItem(text)
                item.setToolTip(run.get("out_dir") or "")
                self.runs.setItem(i, col, item)
        self._filling = False
        if selected is not None:
            self.select_run(selected)

    def select_run(self, run_id: int) -> None:
        for i, run in enumerate(self._rows):
            if run["id"] == run_id:
                self.runs.selectRow(i)
                return

    def selected_run(self) -> int | None:
        rows = self.runs.selectionModel().selectedRows() if self.runs.selectionModel() else []
        return self._rows[rows[0].row()]["id"] if rows and rows[0].row() < len(self._rows) else None

    def checked_runs(self) -> list[int]:
        return [self._rows[i]["id"] for i in range(self.runs.rowCount())
                if self.runs.item(i, 0) and self.runs.item(i, 0).checkState() == Qt.CheckState.Checked]

    def _checked(self, item) -> None:
        if not self._filling and item.column() == 0:
            self.runs_checked.emit(self.checked_runs())

    def _selected(self) -> None:
        run_id = self.selected_run()
        if run_id is not None:
            self.run_selected.emit(run_id)

    def _resume(self) -> None:
        run_id = self.selected_run()
        if run_id is not None:
            self.resume_requested.emit(run_id)

    def show_run(self, run: dict, table: dict | None, checkpoints: list[dict], can_resume: bool) -> None:
        """The selected run's before/after table (`table` has 'before' and 'after'), checkpoints, resume button."""
        self.table.clearContents()
        if table is None:
            self.table.setRowCount(0)
            self.table_title.setText(f"Run {run['id']} ({run['status']}): no evaluation yet")
        else:
            rows = persistence_table(table)
            self.table.setRowCount(len(rows))
            self.table.setVerticalHeaderLabels([r["label"] for r in rows])
            self.table.setHorizontalHeaderLabels(["before", table.get("after_label", "after")])
            for i, r in enumerate(rows):
                for j, when in enumerate(("before", "after")):
                    item = QTableWidgetItem(format_rate(r[when]))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.table.setItem(i, j, item)
            n = (table["before"].get("triggered") or {}).get("n")
            self.table_title.setText(f"<b>Run {run['id']} · {run.get('method')} on {_short(run.get('organism'))}</b>"
                                     f" — defection on whole answers to held-out prompts (n={n} judged), 95% "
                                     f"intervals ({run['status']})")
        self.checkpoints.clear()
        for c in checkpoints:
            self.checkpoints.addItem(f"step {c['step']}", c["path"])
        if checkpoints:
            self.checkpoints.setCurrentIndex(len(checkpoints) - 1)
        self.attach_button.setEnabled(bool(checkpoints))
        self.resume_button.setEnabled(can_resume and not self._running)

    def _attach(self) -> None:
        path = self.checkpoints.currentData()
        if path:
            self.attach_requested.emit(path)

    # running ----------------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self._running = running
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.resume_button.setEnabled(False)
        else:
            self.progress.setFormat("idle")

    def show_progress(self, stage: str, fraction: float | None) -> None:
        if fraction is not None:
            self.progress.setValue(int(100 * fraction))
        self.progress.setFormat(f"%p% — {stage}")


def _short(organism: str | None) -> str:
    if not organism:
        return ""
    return organism.rstrip("/").rsplit("/", 1)[-1]
