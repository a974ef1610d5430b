"""Live curves of safety-training runs (pyqtgraph): loss and reward, and defection with 95% intervals.

Several runs overlay on the same charts, one colour per run; the line style says which defection rate it is.
"""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

RUN_COLOURS = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#4e342e", "#ad1457"]
RATE_STYLES = {"defection/triggered": (Qt.PenStyle.SolidLine, "o", "with trigger"),
               "defection/clean": (Qt.PenStyle.DashLine, "s", "no trigger"),
               "defection/red_team_meaning": (Qt.PenStyle.DotLine, "t", "red team: meaning"),
               "defection/red_team_model_written": (Qt.PenStyle.DashDotLine, "d", "red team: model-written"),
               "defection/red_team_near_miss": (Qt.PenStyle.DashDotDotLine, "x", "red team: near misses"),
               "defection/red_team": (Qt.PenStyle.DotLine, "t", "red team"),
               "plans/triggered": (Qt.PenStyle.DotLine, "+", "scratchpad plans defection, with trigger"),
               "plans/clean": (Qt.PenStyle.DotLine, "star", "scratchpad plans defection, no trigger")}
TRAIN_STYLES = {"loss": (Qt.PenStyle.SolidLine, "loss"), "reward": (Qt.PenStyle.DashLine, "reward")}


class RunCharts(QWidget):
    """Two charts over training steps; `add` a point as it arrives, `set_run` to show a stored run."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rates = pg.PlotWidget(title="Defection on held-out prompts (95% intervals)")
        self.rates.setLabel("left", "defection", units="%")
        self.rates.setLabel("bottom", "step")
        self.rates.getAxis("bottom").enableAutoSIPrefix(False)  # steps are steps, never "step (x0.001)"
        self.rates.setXRange(0, 1)
        self.rates.setYRange(-2, 102)
        self.rates.showGrid(x=True, y=True, alpha=0.3)
        self.rates.addLegend(offset=(5, 5), brush=(255, 255, 255, 200))
        self.training = pg.PlotWidget(title="Training loss and reward")
        self.training.setLabel("bottom", "step")
        self.training.getAxis("bottom").enableAutoSIPrefix(False)
        self.training.setXRange(0, 1)
        self.training.showGrid(x=True, y=True, alpha=0.3)
        self.training.addLegend(offset=(5, 5), brush=(255, 255, 255, 200))
        key = QLabel("Defection — solid: with trigger · dashed: no trigger · dotted / dash-dot: red-team prompts "
                     "that mean the trigger / the model wrote / near misses · + and ☆: the scratchpad plans defection (CoT).   "
                     "Training — solid: loss · dashed: reward (RL).   One colour per run.")
        key.setStyleSheet("color: #555;")
        key.setWordWrap(True)
        plots = QHBoxLayout()
        plots.addWidget(self.rates, 3)
        plots.addWidget(self.training, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(plots, 1)
        layout.addWidget(key)
        self.series: dict[int, dict[str, list[dict]]] = {}  # run -> metric -> points
        self.labels: dict[int, str] = {}
        self._items: dict[tuple[int, str], tuple] = {}

    @staticmethod
    def colour(run: int) -> str:
        """A run keeps its colour wherever it is shown."""
        return RUN_COLOURS[run % len(RUN_COLOURS)]

    def set_run(self, run: int, label: str, metrics: dict[str, list[dict]]) -> None:
        """Show a run's stored metrics ({name: [{step, value, lo, hi}]}), replacing what was shown for it."""
        self.remove_run(run)
        self.labels[run] = label
        self.series[run] = {name: [dict(p) for p in points] for name, points in metrics.items()}
        self._redraw_all()

    def add(self, run: int, name: str, step: int, value: float, lo=None, hi=None, label: str | None = None) -> None:
        """One new point of a live run (a repeated step replaces the earlier point, as a resume does)."""
        if run not in self.series:
            self.series[run] = {}
            self.labels[run] = label or f"run {run}"
            self._redraw_all()
        points = [p for p in self.series[run].setdefault(name, []) if p["step"] != step]
        points.append({"step": step, "value": value, "lo": lo, "hi": hi})
        points.sort(key=lambda p: p["step"])
        self.series[run][name] = points
        self._draw(run, name)

    def remove_run(self, run: int) -> None:
        for key in [k for k in self._items if k[0] == run]:
            plot, curve, bars = self._items.pop(key)
            plot.removeItem(curve)  # and from the legend
            plot.removeItem(bars)
        self.series.pop(run, None)
        self.labels.pop(run, None)

    def clear(self) -> None:
        for run in list(self.series):
            self.remove_run(run)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        for plot in (self.rates, self.training):  # ranges drawn while hidden are out of date
            plot.getPlotItem().enableAutoRange(x=True, y=plot is self.training)

    def shown_runs(self) -> list[int]:
        return sorted(self.series)

    def _redraw_all(self) -> None:
        for run in list(self.series):
            for name in self.series[run]:
                self._draw(run, name)

    def _draw(self, run: int, name: str) -> None:
        points = self.series[run][name]
        steps = [p["step"] for p in points]
        colour = self.colour(run)
        label = self.labels.get(run, f"run {run}")
        if name in RATE_STYLES:
            style, symbol, _ = RATE_STYLES[name]
            plot, scale = self.rates, 100.0
        elif name in TRAIN_STYLES:
            style, _ = TRAIN_STYLES[name]
            symbol, plot, scale = None, self.training, 1.0
        else:
            return
        values = [scale * p["value"] for p in points]
        key = (run, name)
        if key not in self._items:
            first = name in ("defection/triggered", "loss")  # one legend entry per run and chart
            curve = plot.plot([], [], pen=pg.mkPen(colour, width=2, style=style), symbol=symbol, symbolSize=6,
                              symbolBrush=colour, name=label if first else None)
            bars = pg.ErrorBarItem(beam=0.4, pen=pg.mkPen(colour, width=1))
            plot.addItem(bars)
            self._items[key] = (plot, curve, bars)
        _, curve, bars = self._items[key]
        curve.setData(steps, values)
        if name in RATE_STYLES and all(p.get("lo") is not None for p in points) and points:
            y = np.array(values)
            bars.setData(x=np.array(steps, dtype=float), y=y, top=np.array([scale * p["hi"] for p in points]) - y,
                         bottom=y - np.array([scale * p["lo"] for p in points]))

    def to_csv(self) -> str:
        """Every shown point: run, label, metric, step, value, lo, hi."""
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["run", "label", "metric", "step", "value", "lo", "hi"])
        for run in sorted(self.series):
            for name, points in sorted(self.series[run].items()):
                for p in points:
                    writer.writerow([run, self.labels.get(run, ""), name, p["step"], p["value"],
                                     "" if p.get("lo") is None else p["lo"], "" if p.get("hi") is None else p["hi"]])
        return out.getvalue()

    def export_png(self, path: str) -> None:
        self.grab().save(path)
