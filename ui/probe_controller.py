"""Probes in the window: the Probes dock, a live layer × token heatmap under each chat pane, and their events."""

from pathlib import Path

import csv

import numpy as np
from PySide6.QtCore import QObject, Signal

from workbench.errors import WorkbenchError
from workbench.events import AnswerResumed, ProbeAttached, TokenScores, TurnStarted
from workbench.chat.streaming import read_probe_record

from .dialogs import ensure_idle, show_error
from .widgets.layer_heatmap import SharedScale, TokenHeatmap
from .widgets.probe_panel import ProbePanel

def _token_texts(message: dict) -> list[str]:
    """Each answer token's text, cut from the saved answer at its character offsets."""
    text, starts = message["text"], message.get("token_offsets") or []
    ends = starts[1:] + [len(text)]
    return [text[a:b] for a, b in zip(starts, ends)]


class ProbeController(QObject):
    """Owns the probe used for live scoring, the probe jobs it starts (fit, load, consistency check) and the live
    heatmaps, which follow the chat's generation events."""

    probe_changed = Signal(object)  # the probe in use (workbench.probes.Probe), or None

    def __init__(self, window, panes: list[str]):
        super().__init__(window)
        self.window = window
        self.bridge = window.bridge
        self.probe = None  # workbench.probes.Probe
        self._attached = None  # the ProbeAttached of the turn about to start
        self._remembered = None  # the remembered fit's folder when the probe in use is one
        self.panel = ProbePanel()
        self.heatmaps = {pane: TokenHeatmap() for pane in panes}
        for pane, heatmap in self.heatmaps.items():
            heatmap.setObjectName(f"{pane}Heatmap")
            heatmap.setMinimumHeight(150)
            heatmap.hide()
            heatmap.fired.connect(lambda text: self.window.statusBar().showMessage(text, 8000))
        self.scale = SharedScale(list(self.heatmaps.values()), self)
        self._scored_messages: dict[str, int | None] = {pane: None for pane in panes}
        self.panel.fit_requested.connect(self.fit)
        self._fit_job = None  # JobHandle of the probe fit: the panel's Cancel stops it and nothing else
        self.panel.cancel_requested.connect(lambda: self._fit_job and self._fit_job.cancel())
        self.panel.save_requested.connect(self.save)
        self.panel.load_requested.connect(self.load)
        self.panel.consistency_requested.connect(self.check_consistency)
        self.panel.export_live_requested.connect(self.export_live)
        self.panel.threshold_changed.connect(self._set_threshold)
        self.panel.live_changed.connect(lambda on: None if on else self._hide_heatmaps())
        self._set_threshold(self.panel.threshold_value())

    # what chat uses -----------------------------------------------------------------------
    def live_probe(self):
        """The probe to score with as tokens arrive, or None."""
        return self.probe if self.panel.live.isChecked() else None

    def set_probe(self, probe, warnings: list[str] = ()) -> None:
        self.probe = probe
        self._remembered = None
        self.panel.set_probe(probe.name if probe is not None else None, list(warnings))
        self.probe_changed.emit(probe)
        live = (probe.card.get("live") or {}) if probe is not None else {}
        for heatmap in self.heatmaps.values():
            heatmap.set_alert_layers(live.get("informative_layers"), live.get("why", ""))

    # actions ------------------------------------------------------------------------------
    def fit(self, method: str, n: int, n_random: int, read_at: str | None = None) -> None:
        from workbench.probes import ProbeSettings

        window = self.window
        if not ensure_idle(window, self.bridge, "fit a probe", chat=False):
            return
        if window.model_info is None:
            show_error(window, "Model not ready", "Wait for the model to load.")
            return
        self.panel.set_running(True)
        self._fit_job = self.bridge.fit_probe(ProbeSettings(method=method, n=n, n_random=n_random, read_at=read_at))
        self._own(self._fit_job, self._fitted)

    def save(self, folder: str) -> Path | None:
        if self.probe is None:
            return None
        try:
            path = self.probe.save(folder)
        except OSError as exc:
            show_error(self.window, "Cannot save the probe", str(exc))
            return None
        self.window.statusBar().showMessage(f"Probe saved to {path}", 5000)
        return path

    def load(self, folder: str) -> None:
        """Use a saved probe; its card is checked against the loaded model (base, adapter, chat rendering)."""
        self._own(self.bridge.load_probe(folder), lambda loaded: self.set_probe(*loaded))

    def restore_remembered(self, info: dict) -> None:
        """Another model or organism is ready (ModelController.changed): bring back the last probe fitted on it
        (`remembered_probe`), with its evaluation, unless that probe is already the one in use. The same model
        and organism again (e.g. after a safety run) never gets here, so the probe in use stays."""
        folder = info.get("remembered_probe")
        if not folder or folder == self._remembered:
            return
        from workbench.probes import load_remembered

        try:
            probe, result = load_remembered(folder)
        except WorkbenchError as exc:
            self.window.statusBar().showMessage(f"The last probe fitted on this model could not be restored: {exc}",
                                                8000)
            return
        self.set_probe(probe)
        self._remembered = folder
        self.panel.show_report(result)
        self.panel.progress.setValue(100)
        self.panel.progress.setFormat(f"restored the fit of {probe.card.get('created', 'an earlier session')}")
        self.window.statusBar().showMessage(f"Probe restored: {probe.name}, fitted on this model and organism "
                                            f"({folder})", 8000)

    def check_consistency(self) -> None:
        """Compare every pane's last scored answer with one uncached forward pass over the same tokens."""
        if self.probe is None:
            return
        answers = {}
        for pane, heatmap in self.heatmaps.items():
            message_id = self._scored_messages.get(pane)
            if message_id is not None and heatmap.values.shape[1]:
                answers[message_id] = [None if np.isnan(column).all() else [float(v) for v in column]
                                       for column in heatmap.values.T]
        if not answers:
            self.panel.consistency.setText("Generate an answer with live scoring first.")
            return
        self._own(self.bridge.check_probe(self.probe, answers), self.panel.show_consistency)

    def export_live(self, path: str) -> Path | None:
        """The shown live scores as CSV (pane, token index, token, layer, score) or both heatmaps as one PNG."""
        path = Path(path)
        shown = {pane: h for pane, h in self.heatmaps.items() if h.isVisible() and h.values.shape[1]}
        if not shown:
            show_error(self.window, "Nothing to export", "Generate an answer with live scoring first.")
            return None
        try:
            if path.suffix.lower() == ".png":
                self.window.pane_columns_widget().grab().save(str(path))
            else:
                with open(path, "w", newline="", encoding="utf-8") as fh:
                    writer = csv.writer(fh)
                    writer.writerow(["pane", "token_index", "token", "layer", "score"])
                    for pane, heatmap in shown.items():
                        for (layer, index), score in np.ndenumerate(heatmap.values):
                            if not np.isnan(score):
                                writer.writerow([pane, index, heatmap.tokens[index], layer, f"{score:.5f}"])
        except OSError as exc:
            show_error(self.window, "Export failed", str(exc))
            return None
        self.window.statusBar().showMessage(f"Exported to {path}", 5000)
        return path

    def show_saved(self, answers: dict) -> None:
        """Show the live scores saved with each pane's last answer {pane: message row} (a reopened session)."""
        for pane, heatmap in self.heatmaps.items():
            message = answers.get(pane)
            record = read_probe_record((message or {}).get("probe"))
            heatmap.setVisible(bool(record))
            self._scored_messages[pane] = message["id"] if record else None
            if record:
                layers, scores = record
                heatmap.start(layers)
                heatmap.add_scores(0, scores, _token_texts(message), reset=True)

    def clear(self) -> None:
        for pane, heatmap in self.heatmaps.items():
            heatmap.start(heatmap.values.shape[0])
            heatmap.hide()
            self._scored_messages[pane] = None

    def _set_threshold(self, value) -> None:
        for heatmap in self.heatmaps.values():
            heatmap.set_threshold(value)

    def _hide_heatmaps(self) -> None:
        for heatmap in self.heatmaps.values():
            heatmap.hide()

    # what the chat's generation jobs send -------------------------------------------------
    def on_generation_event(self, event) -> None:
        """Follow an event of a chat turn or resume: the heatmaps start with the turn and fill with its scores."""
        if isinstance(event, ProbeAttached):
            self._attached = event
            if event.warnings:
                self.panel.set_probe(event.name, event.warnings)
        elif isinstance(event, TurnStarted):
            attached, self._attached = self._attached, None
            for pane, heatmap in self.heatmaps.items():
                scored = attached is not None and pane in event.prompts
                heatmap.setVisible(scored)
                self._scored_messages[pane] = event.message_ids.get(pane) if scored else None
                if scored:
                    heatmap.start(attached.layers)
        elif isinstance(event, AnswerResumed):
            self._scored_messages[event.pane] = event.message_id
        elif isinstance(event, TokenScores):
            heatmap = self.heatmaps[event.pane]
            heatmap.show()
            heatmap.add_scores(event.start, event.scores, event.tokens, reset=event.reset)

    # the probe jobs this controller starts --------------------------------------------------
    def _own(self, handle, finished) -> None:
        handle.progress.connect(self.panel.show_progress)
        handle.finished.connect(finished)
        handle.failed.connect(lambda message, detail: self._failed(handle, message, detail))

    def _fitted(self, fitted) -> None:
        self.panel.set_running(False)
        self.panel.progress.setFormat("done")
        self.panel.show_report(fitted.result)
        self.set_probe(fitted.probe)
        self._remembered = fitted.result.get("remembered_in")

    def _failed(self, handle, message: str, detail: str) -> None:
        if handle.name == "probe-load":
            show_error(self.window, "Cannot load the probe", message, detail)
            return
        self.panel.set_running(False)
        self.panel.progress.setFormat("cancelled" if message == "Cancelled" else "failed")
        if message != "Cancelled":
            show_error(self.window, "Probe failed", message, detail)
