"""The answers of a session as a tree: each edit is a branch of the answer it was edited from."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from workbench.errors import WorkbenchError
from workbench.store import SessionStore

PANE_NAMES = {"triggered": "trigger ON", "clean": "trigger OFF"}
ID_ROLE = Qt.ItemDataRole.UserRole


class BranchTree(QWidget):
    """Double-click (or Enter on) an answer to make it the shown and continued branch."""

    branch_chosen = Signal(int)  # message id

    def __init__(self, store: SessionStore, parent=None):
        super().__init__(parent)
        self.store = store
        self.session_id: int | None = None
        self.tree = QTreeWidget()
        self.tree.setObjectName("branchTree")
        self.tree.setHeaderLabels(["Answer", "Status", "Edit"])
        self.tree.setColumnWidth(0, 230)
        self.tree.itemActivated.connect(self._activated)
        self.hint = QLabel("Each edit keeps the original answer and adds a branch. Double-click one to show it.")
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.hint)

    def show_session(self, session_id: int | None) -> None:
        self.session_id = session_id
        self.tree.clear()
        if session_id is None:
            return
        try:
            rows = [m for m in self.store.messages(session_id, all_branches=True) if m["role"] == "assistant"]
        except WorkbenchError:
            return
        groups: dict[tuple, QTreeWidgetItem] = {}
        items: dict[int, QTreeWidgetItem] = {}
        for m in sorted(rows, key=lambda m: (m["turn"], m["pane"] != "triggered", m["pane"], m["id"])):
            key = (m["turn"], m["pane"])
            if key not in groups:
                groups[key] = QTreeWidgetItem([f"Turn {m['turn'] + 1} · {PANE_NAMES.get(m['pane'], m['pane'])}"])
                self.tree.addTopLevelItem(groups[key])
            edit = m.get("edit") or {}
            label = ("● " if m["active"] else "○ ") + (m["text"].replace("\n", " ")[:60] or "(empty)")
            change = f"{edit.get('replaced', '')!r} → {edit.get('inserted', '')!r}" if edit else ""
            item = QTreeWidgetItem([label, m["status"], change])
            item.setData(0, ID_ROLE, m["id"])
            item.setToolTip(0, m["text"])
            item.setToolTip(2, f"edited at {edit.get('at', '')}" if edit else "written by the model")
            if m["active"]:
                font = QFont()
                font.setBold(True)
                item.setFont(0, font)
            parent = items.get(m.get("parent_id")) or groups[key]
            parent.addChild(item)
            items[m["id"]] = item
        self.tree.expandAll()

    def message_ids(self) -> list[int]:
        """Every answer shown, in tree order (for tests and keyboard navigation)."""
        out = []

        def walk(item):
            if item.data(0, ID_ROLE) is not None:
                out.append(item.data(0, ID_ROLE))
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        message_id = item.data(0, ID_ROLE)
        if message_id is not None:
            self.branch_chosen.emit(int(message_id))
