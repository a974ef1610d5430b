"""A live curve of a run's metric (pyqtgraph), exportable as PNG and CSV."""

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget


class MetricPlot(QWidget):
    def __init__(self, title: str = "Training loss", parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(title=title)
        self.plot.setLabel("bottom", "step")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#c62828", width=2), symbol="o", symbolSize=4)
        self.steps: list[int] = []
        self.values: list[float] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def clear(self) -> None:
        self.steps, self.values = [], []
        self.curve.setData([], [])

    def add(self, step: int, value: float) -> None:
        self.steps.append(step)
        self.values.append(value)
        self.curve.setData(self.steps, self.values)

    def export_csv(self, path: str) -> None:
        with open(path, "w") as fh:
            fh.write("step,value\n")
            fh.writelines(f"{s},{v}\n" for s, v in zip(self.steps, self.values))

    def export_png(self, path: str) -> None:
        self.plot.grab().save(path)
