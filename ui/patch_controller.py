"""The Patching panel's work: activation patching between a prompt's trigger-on and trigger-off runs, one patch
(either way) or a sweep of every cell both ways, in the background. The panel owns its job: only it hears it, and its Cancel
stops that job alone."""

from PySide6.QtCore import QObject

from workbench.errors import WorkbenchError

from .dialogs import ensure_idle, show_error
from .job_handle import follow_in_panel
from .widgets.patch_panel import PatchPanel


class PatchController(QObject):
    def __init__(self, window, bridge, chat):
        super().__init__(window)
        self.window, self.bridge, self.chat = window, bridge, chat
        self._job = None
        self.result: dict | None = None  # the last patch's or sweep's result
        self.panel = PatchPanel()
        self.panel.patch_requested.connect(
            lambda prompt, layers, tokens, direction: self.run(prompt, layers, tokens, direction=direction))
        self.panel.sweep_requested.connect(lambda prompt: self.run(prompt, sweep=True))
        self.panel.cancel_requested.connect(lambda: self._job and self._job.cancel())

    def run(self, prompt: str, layers: str = "", tokens: str = "", sweep: bool = False,
            direction: str = "restore") -> None:
        """Patch `prompt` (default: the last prompt sent) with the chat's trigger: the cells typed, the trigger-on
        run into the trigger-off run ("restore") or back ("remove"); or a sweep both ways."""
        if self.window.model_info is None or not ensure_idle(self.window, self.bridge, "patch", chat=True):
            return
        prompt = prompt.strip() or self.chat.last_prompt
        if not prompt.strip():
            show_error(self.window, "No prompt", "Type a prompt in the Patching panel, or send one in the chat first.")
            return
        try:
            trigger = self.chat.trigger_panel.trigger()
        except WorkbenchError as exc:
            show_error(self.window, "Cannot patch", str(exc))
            return
        panel = self.panel
        panel.set_running(True)
        self._job = self.bridge.patch(prompt, trigger, layers, tokens, sweep=sweep, direction=direction)

        def finished(result):
            self.result = result
            if sweep:
                panel.show_sweep(result)
            else:
                panel.show_patch(result)

        follow_in_panel(self.window, panel, self._job, "Patching failed", finished)
