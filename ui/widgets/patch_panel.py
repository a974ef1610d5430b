"""The Patching panel: patch the trigger-on run's residual stream into the trigger-off run of a prompt, see the
patched answer beside the two originals, and sweep every (layer, prompt token) cell into a heatmap; clicking a
cell of the sweep patches that cell and regenerates."""

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout

from .job_panel import JobPanel
from .layer_heatmap import LayerHeatmap


class PatchPanel(JobPanel):
    patch_requested = Signal(str, str, str)  # prompt, layers, tokens
    sweep_requested = Signal(str)  # prompt

    def __init__(self, parent=None):
        super().__init__("Patch the trigger-on run into the trigger-off run (trigger from the Settings panel).", parent)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("the prompt (default: the last one sent)")
        self.layers = QLineEdit("10")
        self.layers.setToolTip("Layers whose incoming residual stream is patched: 3,5 or 2-6 or all (0: the token "
                               "embeddings)")
        self.tokens = QLineEdit("trigger")
        self.tokens.setToolTip("Prompt tokens patched: trigger (its own tokens), all, or positions 3,4 / 3-7")
        self.patch_button = QPushButton("Patch")
        self.patch_button.setObjectName("runPatch")
        self.sweep_button = QPushButton("Sweep every cell")
        self.sweep_button.setToolTip("Patch each (layer, prompt token) cell alone; click a cell of the map to patch "
                                     "it and see the answer")
        self.start_buttons = [self.patch_button, self.sweep_button]
        self.result = self.message
        self.result.setObjectName("patchResult")
        self.map = LayerHeatmap("Share of the payload restored", levels=(-1.0, 1.0), value_name="restored")
        self.map.setMinimumHeight(220)
        self.map.plot.scene().sigMouseClicked.connect(self._clicked)
        form = QFormLayout()
        form.addRow("Prompt", self.prompt)
        form.addRow("Layers", self.layers)
        form.addRow("Tokens", self.tokens)
        buttons = QHBoxLayout()
        for button in (self.patch_button, self.sweep_button, self.cancel_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.result)
        layout.addWidget(self.map, 1)
        self.patch_button.clicked.connect(
            lambda: self.patch_requested.emit(self.prompt.text(), self.layers.text(), self.tokens.text()))
        self.sweep_button.clicked.connect(lambda: self.sweep_requested.emit(self.prompt.text()))

    def show_patch(self, result: dict) -> None:
        p, pair = result["patch"], result["pair"]
        self.show_done()
        answers = p["answers"]
        self.result.setText(
            f"Patched layers {p['layers']} at tokens {p['positions']}: restores <b>{100 * p['restored']:.0f}%</b> of "
            f"the payload's log-probability gap ({p['payload_gap']:.2f} nats; payload {pair['payload']!r}).<br>"
            f"<b>Trigger on:</b> {_html(answers['source'])}<br><b>Trigger off:</b> {_html(answers['target'])}<br>"
            f"<b>Trigger off, patched:</b> {_html(answers['patched'])}")

    def show_sweep(self, result: dict) -> None:
        sweep = result["sweep"]
        self.show_done()
        labels = [("▶" if i in sweep["trigger_positions"] else "") + t for i, t in enumerate(sweep["tokens"])]
        self.map.set_matrix(sweep["restored"], labels)
        best = max((v, layer, t) for layer, row in enumerate(sweep["restored"]) for t, v in enumerate(row))
        self.result.setText(f"Payload gap {sweep['payload_gap']:.2f} nats; rows: the residual stream entering each "
                            f"layer (0: embeddings); ▶ the trigger's tokens. Best cell: layer {best[1]}, token "
                            f"{best[2]} {sweep['tokens'][best[2]]!r}, {100 * best[0]:.0f}%. Click a cell to patch it.")

    def patch_cell(self, layer: int, token: int) -> None:
        """Patch one cell of the sweep (what clicking it does)."""
        self.layers.setText(str(layer))
        self.tokens.setText(str(token))
        self.patch_button.click()

    def _clicked(self, event) -> None:
        point = self.map.plot.getPlotItem().vb.mapSceneToView(event.scenePos())
        column, layer = int(math.floor(point.x())), int(math.floor(point.y()))
        rows, columns = self.map.values.shape
        if 0 <= layer < rows and 0 <= column < columns and self.patch_button.isEnabled():
            self.patch_cell(layer, column)


def _html(text: str) -> str:
    from html import escape

    return escape(text) or "<i>(empty)</i>"
