"""The Plugins window: every plugin with its contributions, what is loaded, what failed and why, where from."""

import json
import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout)

from workbench.plugins import API_VERSION, FAILED, LOADED, plugin_registry
from workbench.plugins.api import KIND_LABELS

FAILED_BRUSH = QBrush(QColor("#b00020"))
LOADED_BRUSH = QBrush(QColor("#1b5e20"))


class PluginsDialog(QDialog):
    """Lists the registry; Check imports everything (off the GUI thread), Rescan finds newly installed plugins."""

    rescanned = Signal()
    _checked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.resize(900, 520)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("pluginsTree")
        self.tree.setHeaderLabels(["Name", "Kind", "Status", "Details"])
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.tree.setWordWrap(True)
        self.check_button = QPushButton("&Check all")
        self.check_button.setToolTip("Import and check every contribution now (normally each is imported when "
                                     "first used)")
        self.check_button.clicked.connect(self.check_all)
        self.rescan_button = QPushButton("&Rescan installed plugins")
        self.rescan_button.setToolTip("Find plugins installed since the workbench started")
        self.rescan_button.clicked.connect(self.rescan)
        self.copy_button = QPushButton("Copy &report")
        self.copy_button.setToolTip("Copy the full report as JSON (for a bug report)")
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(json.dumps(plugin_registry().describe(), indent=2)))
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for button in (self.check_button, self.rescan_button, self.copy_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self._checked.connect(self._after_check)
        self.refresh()

    def refresh(self) -> None:
        """Show the registry as it is now."""
        registry = plugin_registry()
        self.tree.clear()
        failed = 0
        for plugin in registry.plugins():
            source = plugin.source
            where = f"{source.distribution} {source.version} · {source.manifest or source.entry_point}"
            top = QTreeWidgetItem([plugin.display_name if plugin.display_name != plugin.name
                                   else plugin.name, "plugin", plugin.status, plugin.error or where])
            top.setToolTip(3, where)
            top.setData(0, Qt.ItemDataRole.UserRole, plugin.name)
            if plugin.status == FAILED:
                failed += 1
                self._paint(top, FAILED_BRUSH)
            for c in plugin.contributions:
                detail = c.error or c.description
                if c.status == LOADED and c.seconds is not None:
                    detail = f"{detail} (loaded in {c.seconds * 1000:.0f} ms)"
                child = QTreeWidgetItem([c.name, KIND_LABELS[c.kind], _status(c), detail])
                child.setToolTip(3, f"{detail}\n{c.spec.python_name or ''}")
                child.setData(0, Qt.ItemDataRole.UserRole, f"{c.kind}:{c.name}")
                if c.status == FAILED:
                    failed += 1
                    self._paint(child, FAILED_BRUSH)
                elif c.status == LOADED:
                    child.setForeground(2, LOADED_BRUSH)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        for column in range(3):
            self.tree.resizeColumnToContents(column)
        plugins = len(registry.plugins())
        self.summary.setText(f"Plugin API {API_VERSION} · {plugins} plugin(s) · "
                             + (f"<b style='color:#b00020'>{failed} failed</b>" if failed else "nothing failed")
                             + " · plugin code is imported when first used; <i>Check all</i> imports it now.")

    def item(self, key: str) -> QTreeWidgetItem | None:
        """The row for a plugin name or 'kind:name' (tests and keyboard users find rows by it)."""
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top.data(0, Qt.ItemDataRole.UserRole) == key:
                return top
            for j in range(top.childCount()):
                if top.child(j).data(0, Qt.ItemDataRole.UserRole) == key:
                    return top.child(j)
        return None

    def check_all(self) -> None:
        """Import every contribution on a worker thread (a slow plugin cannot freeze the window)."""
        self.check_button.setEnabled(False)
        self.check_button.setText("Checking…")
        threading.Thread(target=lambda: (plugin_registry().check(), self._checked.emit()),
                         name="plugin check", daemon=True).start()

    def _after_check(self) -> None:
        self.check_button.setEnabled(True)
        self.check_button.setText("&Check all")
        self.refresh()
        self.rescanned.emit()  # failed ones leave the choice lists

    def rescan(self) -> None:
        plugin_registry().discover()
        self.refresh()
        self.rescanned.emit()

    @staticmethod
    def _paint(item: QTreeWidgetItem, brush: QBrush) -> None:
        for column in range(4):
            item.setForeground(column, brush)


def _status(contribution) -> str:
    if contribution.status == FAILED:
        return f"failed ({contribution.failed_during})" if contribution.failed_during else "failed"
    return contribution.status
