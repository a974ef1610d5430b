"""The logit lens of one answer as a table: a row per layer (the last on top), a column per answer token; each cell
is the top token that layer predicts there, shaded by its probability, outlined where it is the token written."""

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

WRITTEN = QColor(30, 140, 60)  # the layer already predicts the token the model wrote


class LensTable(QWidget):
    """A LensGrid (interpret.LensGrid, or its to_dict()) as a layer × answer-token table."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("Logit lens: the top token each layer would predict where each answer token was chosen "
                            "(shade: its probability; green: the token written)")
        self.title.setWordWrap(True)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(18)
        self.table.horizontalHeader().setDefaultSectionSize(64)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        self.grid: dict | None = None

    def show_grid(self, grid) -> None:
        grid = grid.to_dict() if hasattr(grid, "to_dict") else grid
        self.grid = grid
        layers, columns = len(grid["top_tokens"]), len(grid["positions"])
        self.table.clear()
        self.table.setRowCount(layers)
        self.table.setColumnCount(columns)
        self.table.setHorizontalHeaderLabels([repr(t) for t in grid["written"]])
        self.table.setVerticalHeaderLabels([f"layer {layer}" for layer in reversed(range(layers))])
        for row, layer in enumerate(reversed(range(layers))):
            for col in range(columns):
                token, prob = grid["top_tokens"][layer][col], grid["top_probs"][layer][col]
                item = QTableWidgetItem(repr(token)[1:-1])
                written = token == grid["written"][col]
                item.setBackground(QBrush(QColor(WRITTEN) if written else QColor(70, 110, 200, int(20 + 120 * prob))))
                if written:
                    item.setForeground(QBrush(QColor("white")))
                item.setToolTip(f"layer {layer}, answer token {col} ({grid['written'][col]!r}): predicts {token!r} "
                                f"with p={prob:.2f}; the model's own prediction ranks "
                                f"{grid['final_rank'][layer][col] + 1} here")
                self.table.setItem(row, col, item)

    def cell_text(self, layer: int, column: int) -> str:
        """The top token shown for `layer` at answer token `column` (what a reader sees in the cell)."""
        return self.table.item(self.table.rowCount() - 1 - layer, column).text()

    def clear(self) -> None:
        self.grid = None
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
