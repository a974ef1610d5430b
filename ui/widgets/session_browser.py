"""Lists saved sessions; opening one shows it exactly as it was."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout,
                               QWidget)

from workbench.store import SessionStore


class SessionBrowser(QWidget):
    open_requested = Signal(int)
    new_requested = Signal()

    def __init__(self, store: SessionStore, parent=None):
        super().__init__(parent)
        self.store = store
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter sessions…")
        self.list = QListWidget()
        self.list.setObjectName("sessionList")
        self.new_button = QPushButton("New session")
        self.open_button = QPushButton("Open")
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.filter.textChanged.connect(self.refresh)
        self.list.itemActivated.connect(self._open_item)
        self.list.itemDoubleClicked.connect(self._open_item)
        self.open_button.clicked.connect(lambda: self._open_item(self.list.currentItem()))
        self.new_button.clicked.connect(self.new_requested)
        self.refresh()

    def refresh(self, *_ , current: int | None = None) -> None:
        needle = self.filter.text().strip().lower()
        self.list.clear()
        for session in self.store.list_sessions():
            if needle and needle not in session["title"].lower():
                continue
            when = session["updated_at"][:16].replace("T", " ")
            item = QListWidgetItem(f"{session['title']}\n{when} · {session['turns']} turn(s)")
            item.setData(Qt.ItemDataRole.UserRole, session["id"])
            item.setToolTip(f"Session {session['id']}")
            self.list.addItem(item)
            if session["id"] == current:
                self.list.setCurrentItem(item)

    def session_ids(self) -> list[int]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def _open_item(self, item) -> None:
        if item is not None:
            self.open_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))
