"""The logit lens under the chat panes: toggled from the View menu, read for the answers each pane shows last."""

from PySide6.QtCore import QObject, Signal

from .dialogs import show_error
from .widgets.lens_table import LensTable


class LensController(QObject):
    """Owns a LensTable per pane and the lens job; reads the lens again after each finished turn while shown."""

    shown = Signal(dict)  # {pane: grid} once the tables are filled

    def __init__(self, window, bridge, chat):
        super().__init__(window)
        self.window, self.bridge, self.chat = window, bridge, chat
        self.tables = {pane: LensTable() for pane in chat.panes}
        for table in self.tables.values():
            table.hide()
        self.on = False
        self._job = None
        chat.turn_finished.connect(lambda result: self.refresh() if self.on and result is not None else None)

    def set_on(self, on: bool) -> None:
        """Show (and read) or hide the lens tables."""
        self.on = on
        for table in self.tables.values():
            table.setVisible(on)
        if on:
            self.refresh()

    def refresh(self) -> None:
        """Read the lens for the last answer of each visible pane (on the model thread)."""
        shown = {}
        for pane, widget in self.chat.panes.items():
            last = widget.last_answer()
            if widget.isVisible() and last is not None and last.message_id is not None:
                shown[pane] = last.message_id
            else:
                self.tables[pane].clear()
        if not shown or self.window.model_info is None:
            return
        handle = self._job = self.bridge.answer_lens(list(shown.values()))

        def finished(grids):
            if handle is not self._job:
                return  # a newer read replaced this one
            for pane, message_id in shown.items():
                self.tables[pane].show_grid(grids[message_id])
            self.shown.emit({pane: grids[m] for pane, m in shown.items()})

        handle.finished.connect(finished)
        handle.failed.connect(lambda message, detail: show_error(self.window, "Logit lens failed", message, detail)
                              if message != "Cancelled" else None)
