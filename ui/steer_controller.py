"""The Steering panel's work: defection of the attached organism with and without the probe in use's direction
added while it answers, in the background. The panel owns its job: only it hears it, and its Cancel stops that
job alone."""

from PySide6.QtCore import QObject

from .dialogs import ensure_idle, show_error
from .job_handle import follow_in_panel
from .widgets.steer_panel import SteerPanel


class SteerController(QObject):
    def __init__(self, window, bridge, probes):
        super().__init__(window)
        self.window, self.bridge, self.probes = window, bridge, probes
        self._job = None
        self.result: dict | None = None  # the last measurement (SteeringResult.to_dict())
        self.panel = SteerPanel()
        self.panel.steer_requested.connect(self.steer)
        self.panel.cancel_requested.connect(lambda: self._job and self._job.cancel())
        probes.probe_changed.connect(lambda p: self.panel.set_probe(p.name if p else None, p.n_layers if p else None))

    def steer(self, layers: str, scale: float, n: int) -> None:
        """Measure the steer along the probe in use at `layers` (as typed), `scale` score units, on `n` prompts."""
        if self.window.model_info is None or not ensure_idle(self.window, self.bridge, "steer", chat=True):
            return
        probe = self.probes.probe
        if probe is None:
            show_error(self.window, "No probe", "Steering adds a probe's direction: fit or load one in the Probes "
                                                "panel first.")
            return
        panel = self.panel
        panel.set_running(True)
        self._job = self.bridge.steer(probe, layers, scale, n)

        def finished(result):
            self.result = result
            panel.show_result(result)

        follow_in_panel(self.window, panel, self._job, "Steering failed", finished)
