"""Where a run should go on a cluster: nodes, GPUs, time, partition and the folder the Slurm script and the
accelerate config are written to."""

import shlex

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSpinBox)

from workbench.distributed.cluster import ClusterPlan


class LaunchScriptDialog(QDialog):
    def __init__(self, command: list[str], folder: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export launch script")
        self.nodes = self._spin(1, 4096, 1)
        self.gpus = self._spin(0, 64, 8)
        self.gpus.setToolTip("0: CPU nodes")
        self.per_node = self._spin(0, 256, 0)
        self.per_node.setSpecialValueText("one per GPU")
        self.hours = QDoubleSpinBox()
        self.hours.setRange(0.25, 720)
        self.hours.setValue(24)
        self.hours.setSuffix(" h")
        self.partition = QLineEdit()
        self.partition.setPlaceholderText("the cluster's default")
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.folder)
        where.addWidget(browse)
        shown = QPlainTextEdit(" ".join(shlex.quote(part) for part in command))
        shown.setObjectName("launchCommand")
        shown.setReadOnly(True)
        shown.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        shown.setMaximumHeight(110)
        note = QLabel("launch.sbatch (submit it with <code>sbatch</code>) and accelerate.yaml are written into the "
                      "folder. The run folder must be on a filesystem the nodes share; follow the run here with "
                      "<i>Training → Follow run folder…</i>")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.setMinimumWidth(620)
        form = QFormLayout(self)
        form.addRow(QLabel("<b>The job runs</b>"))
        form.addRow(shown)
        form.addRow("Nodes", self.nodes)
        form.addRow("GPUs per node", self.gpus)
        form.addRow("Processes per node", self.per_node)
        form.addRow("Time limit", self.hours)
        form.addRow("Partition", self.partition)
        form.addRow("Write into", where)
        form.addRow(note)
        form.addRow(buttons)

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(low, high)
        box.setValue(value)
        return box

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Write the launch script into", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def plan(self) -> ClusterPlan:
        return ClusterPlan(nodes=self.nodes.value(), gpus_per_node=self.gpus.value(),
                           processes_per_node=self.per_node.value() or None, hours=self.hours.value(),
                           partition=self.partition.text().strip() or None)
