"""Layer × column heatmaps (pyqtgraph, after its MatrixDisplay example): probe scores per token, AUROC per question.

Cells without a value (NaN) stay blank. Hovering a cell says what it is; a colour bar shows the scale.
"""

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QLabel, QToolTip, QVBoxLayout, QWidget

DIVERGING = "CET-D1"  # blue – white – red


class LayerHeatmap(QWidget):
    """A [layers × columns] matrix as an image, layer 0 at the bottom; `hovered` carries the hovered cell's text."""

    hovered = Signal(str)

    def __init__(self, title: str = "", levels: tuple[float, float] = (-1.0, 1.0), value_name: str = "score",
                 parent=None):
        super().__init__(parent)
        self.value_name = value_name
        self.values = np.full((0, 0), np.nan, dtype=np.float32)
        self.column_labels: list[str] = []
        self.ticks: list[str] | None = None
        self.plot = pg.PlotWidget(title=title or None)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setLabel("left", "layer")
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # layers are counted, never "layer (x0.001)"
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.bar = pg.ColorBarItem(values=levels, colorMap=pg.colormap.get(DIVERGING), interactive=False, width=14)
        self.bar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        self.hover_label = QLabel(" ")
        self.hover_label.setObjectName("heatmapHover")
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hover_label)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)

    # data ---------------------------------------------------------------------------------
    def set_matrix(self, values, column_labels: list[str] | None = None, ticks: list[str] | None = None) -> None:
        """Show `values` [layers, columns] (NaN for no value) with a label per column (hover) and tick texts."""
        self.values = np.asarray(values, dtype=np.float32)
        self.column_labels = list(column_labels or [str(i) for i in range(self.values.shape[1])])
        self.ticks = list(ticks) if ticks else None
        self._redraw()

    def set_levels(self, low: float, high: float) -> None:
        self.bar.setLevels((low, high))

    def levels(self) -> tuple[float, float]:
        return tuple(float(v) for v in self.bar.levels())

    def _redraw(self) -> None:
        layers, columns = self.values.shape
        if layers == 0 or columns == 0:
            self.image.clear()
            return
        self.image.setImage(self.values, autoLevels=False, levels=self.bar.levels())
        self.image.setRect(0, 0, columns, layers)
        self.plot.setLimits(xMin=0, xMax=max(columns, 1), yMin=0, yMax=layers)
        self.plot.setYRange(0, layers, padding=0)
        self.plot.setXRange(max(0, columns - self.visible_columns()), max(columns, 1), padding=0)
        self._label_columns()

    def visible_columns(self) -> int:
        return 10_000

    def _label_columns(self) -> None:
        columns = len(self.column_labels)
        step = max(1, math.ceil(columns / 12))
        names = self.ticks or self.column_labels
        ticks = [(i + 0.5, self._tick(names[i])) for i in range(0, columns, step)]
        self.plot.getAxis("bottom").setTicks([ticks])
        layers = self.values.shape[0]
        lstep = max(1, math.ceil(layers / 10))
        self.plot.getAxis("left").setTicks([[(i + 0.5, str(i)) for i in range(0, layers, lstep)]])

    @staticmethod
    def _tick(label: str) -> str:
        label = label.replace("\n", "⏎").strip() or "␣"
        return label if len(label) <= 8 else label[:7] + "…"

    # hover --------------------------------------------------------------------------------
    def cell_text(self, column: int, layer: int) -> str:
        """What hovering the cell says."""
        value = self.values[layer, column]
        shown = "not read" if np.isnan(value) else f"{value:+.3f}"
        return f"{self.column_name(column)} · layer {layer} · {self.value_name} {shown}"

    def column_name(self, column: int) -> str:
        return self.column_labels[column]

    def _mouse_moved(self, scene_pos) -> None:
        point = self.plot.getPlotItem().vb.mapSceneToView(scene_pos)
        column, layer = int(math.floor(point.x())), int(math.floor(point.y()))
        if 0 <= layer < self.values.shape[0] and 0 <= column < self.values.shape[1]:
            text = self.cell_text(column, layer)
            self.hover_label.setText(text)
            QToolTip.showText(QCursor.pos(), text, self)
            self.hovered.emit(text)


class TokenHeatmap(LayerHeatmap):
    """Live probe scores, layer × answer token, filled as tokens arrive; an alert when a score crosses the threshold."""

    extent_changed = Signal(float)  # the largest |score| shown, so linked heatmaps can share one scale
    fired = Signal(str)

    def __init__(self, title: str = "", parent=None):
        super().__init__(title, levels=(-1.0, 1.0), value_name="score", parent=parent)
        self.plot.setLabel("bottom", "answer token")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.tokens: list[str] = []
        self.threshold: float | None = None
        self.first_fire: tuple[int, int, float] | None = None
        self.alert_layers: list[int] | None = None  # None: every layer (the probe's live scores were not tested)
        self.alert = QLabel("")
        self.alert.setObjectName("probeAlert")
        self.alert.setWordWrap(True)
        self.alert.hide()
        self.layout().insertWidget(0, self.alert)
        self.note = QLabel("")
        self.note.setObjectName("probeLiveNote")
        self.note.setWordWrap(True)
        self.note.hide()
        self.layout().insertWidget(1, self.note)

    def set_alert_layers(self, layers: list[int] | None, why: str = "") -> None:
        """Layers the alert watches: those where the probe's live scores tell defecting answers' tokens from the
        others ([]: none, the alert is off and the map says so; None: untested, every layer)."""
        self.alert_layers = None if layers is None else list(layers)
        if layers is None:
            self.note.setText("⚠ This probe's live scores were never tested on defecting answers; the alert "
                              "watches every layer.")
        elif not layers:
            self.note.setText("⚠ No layer of this probe tells defecting answers' tokens from the others: the live "
                              "alert is off. " + why)
        else:
            self.note.setText(f"Alert watches layers {', '.join(map(str, layers))} (informative per token).")
        self.note.setStyleSheet("color:#8d6e00" if not layers else "color:#555555")
        self.note.setVisible(True)
        self.first_fire = None
        self.alert.hide()
        self._check_threshold(0, self.values.shape[1])

    def start(self, n_layers: int) -> None:
        """An empty map for a new answer."""
        self.tokens = []
        self.first_fire = None
        self.alert.hide()
        self.set_matrix(np.full((n_layers, 0), np.nan, dtype=np.float32), [])

    def add_scores(self, start: int, rows: list, tokens: list[str], reset: bool = False) -> None:
        """Scores for tokens `start`…; `reset` means these rows are the whole answer so far."""
        layers = self.values.shape[0] or (len(next((r for r in rows if r is not None), [])) if rows else 0)
        if reset or self.values.shape[0] != layers:
            self.values = np.full((layers, 0), np.nan, dtype=np.float32)
            self.tokens = []
            self.first_fire = None
            self.alert.hide()
        end = start + len(rows)
        if end > self.values.shape[1]:
            grow = np.full((layers, end - self.values.shape[1]), np.nan, dtype=np.float32)
            self.values = np.concatenate([self.values, grow], axis=1)
            self.tokens += [""] * (end - len(self.tokens))
        for offset, row in enumerate(rows):
            if row is not None:
                self.values[:, start + offset] = row
            self.tokens[start + offset] = tokens[offset] if offset < len(tokens) else ""
        self.column_labels = [str(i) for i in range(self.values.shape[1])]
        self._redraw()
        self._check_threshold(start, end)
        self.extent_changed.emit(self.extent())

    def extent(self) -> float:
        finite = self.values[np.isfinite(self.values)]
        return float(np.abs(finite).max()) if finite.size else 0.0

    def visible_columns(self) -> int:
        return 80  # follow the newest tokens; drag to see earlier ones

    def column_name(self, column: int) -> str:
        token = self.tokens[column] if column < len(self.tokens) else ""
        return f"token {column} {token!r}"

    def set_threshold(self, threshold: float | None) -> None:
        self.threshold = threshold
        self.first_fire = None
        self.alert.hide()
        self._check_threshold(0, self.values.shape[1])

    def _check_threshold(self, start: int, end: int) -> None:
        if self.threshold is None or self.first_fire is not None or end <= start:
            return
        block = np.nan_to_num(self.values[:, start:end], nan=-np.inf)
        if self.alert_layers is not None:
            watched = np.zeros(block.shape[0], dtype=bool)
            watched[[layer for layer in self.alert_layers if layer < block.shape[0]]] = True
            block = np.where(watched[:, None], block, -np.inf)
        hits = np.argwhere(block >= self.threshold)
        if hits.size == 0:
            return
        layer, column = min(((int(l), int(c)) for l, c in hits), key=lambda lc: (lc[1], lc[0]))
        column += start
        score = float(self.values[layer, column])
        self.first_fire = (column, layer, score)
        text = (f"⚠ Probe fired at {self.column_name(column)}, layer {layer}: "
                f"score {score:+.2f} ≥ threshold {self.threshold:+.2f}")
        self.alert.setText(text)
        self.alert.setStyleSheet("background:#c62828; color:white; font-weight:bold; padding:4px; border-radius:3px")
        self.alert.show()
        self.fired.emit(text)


class SharedScale(QObject):
    """Keeps several token heatmaps on one symmetric colour scale: ±(largest |score| any of them shows)."""

    def __init__(self, heatmaps: list[TokenHeatmap], parent=None):
        super().__init__(parent)
        self.heatmaps = heatmaps
        for heatmap in heatmaps:
            heatmap.extent_changed.connect(self._update)

    def _update(self, _extent: float = 0.0) -> None:
        limit = max([h.extent() for h in self.heatmaps] + [1e-6])
        limit = float(np.ceil(limit * 10) / 10)
        for heatmap in self.heatmaps:
            if heatmap.levels() != (-limit, limit):
                heatmap.set_levels(-limit, limit)
                heatmap.image.setLevels((-limit, limit))
