"""The Replicate window and the grid job it starts: the window is made when first shown, and only it hears
how its grid went."""

from PySide6.QtCore import QObject

from .dialogs import ensure_idle, show_error
from .widgets.replicate_dialog import ReplicateDialog


class ReplicateController(QObject):
    def __init__(self, window, bridge):
        super().__init__(window)
        self.window, self.bridge = window, bridge
        self.dialog: ReplicateDialog | None = None
        self._job = None  # JobHandle of the grid the dialog started

    def show(self) -> ReplicateDialog:
        """The Replicate window (one, reused)."""
        if self.dialog is None:
            self.dialog = ReplicateDialog(self.window)
            self.dialog.start_requested.connect(self._start)
            self.dialog.cancel_requested.connect(lambda: self._job and self._job.cancel())
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _start(self, grid: str, quick: bool, out: str) -> None:
        dialog = self.dialog
        if self.window.model_info is None or not ensure_idle(self.window, self.bridge, "start a replication"):
            dialog.finished(None, "The model is busy or not loaded yet.")
            return
        handle = self._job = self.bridge.replicate(grid, quick, out)
        handle.progress.connect(dialog.show_progress)
        handle.finished.connect(lambda result: dialog.finished(result))
        handle.failed.connect(self._failed)

    def _failed(self, message: str, detail: str) -> None:
        self.dialog.finished(None, "Cancelled." if message == "Cancelled" else message)
        if message != "Cancelled":
            show_error(self.window, "Replication stopped", message, detail)
