"""Carries work to the model-owner thread and its events back to the GUI thread as a Qt signal."""

import gc

from PySide6.QtCore import QObject, Signal

from workbench.chat import ChatRequest, run_turn
from workbench.errors import WorkbenchError
from workbench.events import ModelLoaded, Progress
from workbench.runtime import Job, ModelOwner
from workbench.store import SessionStore


class EngineBridge(QObject):
    """The GUI's handle on the engine. Every method returns at once; results arrive as `event`."""

    event = Signal(object)  # emitted on the owner thread, delivered queued on the GUI thread

    def __init__(self, store: SessionStore, device: str | None = None, parent=None):
        super().__init__(parent)
        self.store = store
        self.device = device
        self.owner = ModelOwner(listener=self.event.emit)

    def load_model(self, spec: str) -> Job:
        """Load `spec` in the background; the previous model stays until the new one is ready."""
        device = self.device

        def job(ctx):
            from workbench.models import load_model  # transformers loads here, off the GUI thread

            loaded = load_model(spec, device=device, progress=lambda s, f: ctx.emit(Progress(stage=s, fraction=f)))
            ctx.owner.state.pop("model", None)
            gc.collect()
            ctx.owner.state["model"] = loaded
            info = loaded.describe()
            ctx.emit(ModelLoaded(info=info))
            return info

        return self.owner.submit("load-model", job)

    def ask(self, request: ChatRequest, session_id: int | None) -> Job:
        """Answer one chat turn on the loaded model, streaming its tokens."""
        store = self.store

        def job(ctx):
            loaded = ctx.owner.state.get("model")
            if loaded is None:
                raise WorkbenchError("No model is loaded yet; wait for it or open one from the File menu")
            return run_turn(loaded, store, request, session_id=session_id, emit=ctx.emit,
                            should_stop=lambda: ctx.cancelled)

        return self.owner.submit("chat", job)

    def stop(self) -> None:
        """Stop the running generation at the next token."""
        self.owner.cancel_current()

    @property
    def busy(self) -> bool:
        return self.owner.busy

    def shutdown(self) -> None:
        self.owner.shutdown()
