"""The Probes dock: fit and evaluate a probe (AUROC per layer next to its controls), save/load it, score live."""

import csv
from html import escape

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from workbench.plugins import PROBE_KINDS

from .layer_heatmap import LayerHeatmap
from .panel_combo import PanelComboBox
from .plugin_choices import fill_choices

CONTROL_COLUMNS = ("random best", "base model")


def _kind_label(contribution) -> str:
    on = "contrast pairs" if contribution.spec.data.get("fits_on", "contrast") == "contrast" else "labelled prompts"
    return f"{contribution.name} ({on})"


VERDICT_COLOURS = {"cannot tell": "#c62828", "detects": "#2e7d32", "no signal": "#555555", "untested": "#8d6e00"}


def _verdict_line(title: str, test: dict | None) -> str:
    if not test:
        return f"<b>{title}:</b> not run."
    colour = VERDICT_COLOURS.get(test["verdict"], "#000000")
    figure = f" AUROC {test['auroc']:.3f} at layer {test['best_layer']}." if test.get("auroc") is not None else ""
    return (f"<b>{title}:</b> <span style='color:{colour}; font-weight:bold'>{test['verdict'].upper()}</span>"
            f"{figure} {escape(test['why'])}")


def verdict_html(result: dict) -> str:
    """The verdicts of a probe result in words: trigger vs no trigger, trigger-free defection, live tokens."""
    lines = [_verdict_line("Trigger vs no trigger", result.get("verdict")),
             _verdict_line("Defection without the trigger", result.get("trigger_free"))]
    live = result.get("live")
    if live:
        lines.append(f"<b>Live scores:</b> {escape(live['why'])}")  # "token AUROC < 0.7" is no tag
    return "<br>".join(lines)


class ProbePanel(QWidget):
    fit_requested = Signal(str, int, int, object)  # method, held-out prompts, random directions, read position
    cancel_requested = Signal()
    save_requested = Signal(str)
    load_requested = Signal(str)
    consistency_requested = Signal()
    live_changed = Signal(bool)
    export_live_requested = Signal(str)  # a .csv or .png path for the live heatmaps
    threshold_changed = Signal(object)  # float, or None for no alert

    def __init__(self, parent=None):
        super().__init__(parent)
        self.result: dict | None = None
        form = QFormLayout()
        self.method = PanelComboBox()
        self.refresh_plugins()
        self.n = QSpinBox()
        self.n.setRange(4, 179)
        self.n.setValue(100)
        self.n.setToolTip("Held-out prompts, each read with the trigger on and off")
        self.random = QSpinBox()
        self.random.setRange(1, 10_000)
        self.random.setValue(1000)
        self.random.setToolTip("Random directions per layer for the baseline (best of them is shown)")
        self.read_at = PanelComboBox()
        self.read_at.addItem("auto (</scratchpad> for CoT organisms)", None)
        self.read_at.addItem("end of the prompt", "prompt-end")
        self.read_at.addItem("the organism's </scratchpad>", "scratchpad-end")
        self.read_at.setToolTip("Where held-out prompts are read; at </scratchpad> the scratchpad's own words "
                                "are in the reads, so compare with the base-model column")
        form.addRow("Method", self.method)
        form.addRow("Read at", self.read_at)
        form.addRow("Held-out prompts", self.n)
        form.addRow("Random directions", self.random)
        self.fit_button = QPushButton("Fit && evaluate")
        self.fit_button.setObjectName("fitProbeButton")
        self.fit_button.clicked.connect(
            lambda: self.fit_requested.emit(self.method.currentData(), self.n.value(), self.random.value(),
                                            self.read_at.currentData()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.fit_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.auroc_map = LayerHeatmap("AUROC per layer (trigger vs no trigger)", levels=(0.0, 1.0),
                                      value_name="AUROC")
        self.auroc_map.setObjectName("aurocHeatmap")
        self.auroc_map.setMinimumHeight(260)
        self.summary = QLabel("Fit a probe to see how well it separates prompts with and without the trigger.")
        self.summary.setWordWrap(True)
        self.verdict = QLabel("")
        self.verdict.setObjectName("probeVerdict")
        self.verdict.setWordWrap(True)
        self.verdict.hide()
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._choose_export)

        live = QGroupBox("Live scoring")
        live_form = QFormLayout(live)
        self.probe_label = QLabel("No probe")
        self.probe_label.setObjectName("probeName")
        self.probe_label.setWordWrap(True)
        self.live = QCheckBox("Score every layer as tokens arrive")
        self.live.setChecked(True)
        self.live.toggled.connect(self.live_changed)
        self.alert_on = QCheckBox("Alert at")
        self.alert_on.setChecked(True)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-1000, 1000)
        self.threshold.setDecimals(2)
        self.threshold.setSingleStep(0.1)
        self.threshold.setValue(3.0)
        self.threshold.setToolTip("Scores are standard deviations above trigger-free held-out prompts (fitted "
                                  "probes); the alert fires at the first cell at or above this")
        self.threshold.valueChanged.connect(self._threshold)
        self.alert_on.toggled.connect(self._threshold)
        alert = QHBoxLayout()
        alert.addWidget(self.alert_on)
        alert.addWidget(self.threshold)
        self.save_button = QPushButton("Save…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.choose_save)
        self.load_button = QPushButton("Load…")
        self.load_button.clicked.connect(self.choose_load)
        self.check_button = QPushButton("Check consistency")
        self.check_button.setToolTip("Recompute the last answer's scores in one forward pass without a cache")
        self.check_button.setEnabled(False)
        self.check_button.clicked.connect(self.consistency_requested)
        files = QHBoxLayout()
        files.addWidget(self.save_button)
        files.addWidget(self.load_button)
        checks = QHBoxLayout()  # two rows of two, so that the dock stays narrow
        checks.addWidget(self.check_button)
        self.export_live_button = QPushButton("Export live…")
        self.export_live_button.setToolTip("The live scores as CSV (pane, token, layer, score) or the heatmaps as PNG")
        self.export_live_button.clicked.connect(self._choose_export_live)
        checks.addWidget(self.export_live_button)
        self.consistency = QLabel("")
        self.consistency.setWordWrap(True)
        live_form.addRow(self.probe_label)
        live_form.addRow(self.live)
        live_form.addRow(alert)
        live_form.addRow(files)
        live_form.addRow(checks)
        live_form.addRow(self.consistency)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.verdict)  # above the heatmap: read first, never below the fold
        layout.addWidget(self.auroc_map, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.export_button)
        layout.addWidget(live)

    # state --------------------------------------------------------------------------------
    def refresh_plugins(self) -> None:
        """List the probe kinds the plugin registry has now (after a rescan)."""
        fill_choices(self.method, PROBE_KINDS, _kind_label)

    def set_running(self, running: bool) -> None:
        self.fit_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("starting…")

    def show_progress(self, stage: str, fraction: float | None) -> None:
        self.progress.setValue(int(100 * (fraction or 0)))
        self.progress.setFormat(f"%p% — {stage}")

    def threshold_value(self) -> float | None:
        return self.threshold.value() if self.alert_on.isChecked() else None

    def _threshold(self, *_args) -> None:
        self.threshold_changed.emit(self.threshold_value())

    def set_probe(self, name: str | None, warnings: list[str] = ()) -> None:
        """The probe now used for live scoring (None: none)."""
        if name is None:
            self.probe_label.setText("No probe")
        else:
            text = f"Probe: <b>{name}</b>"
            if warnings:
                text += "<br><span style='color:#c62828'>⚠ " + "; ".join(warnings) + "</span>"
            self.probe_label.setText(text)
        self.save_button.setEnabled(name is not None)
        self.check_button.setEnabled(name is not None)

    def show_consistency(self, result: dict) -> None:
        if result.get("max_abs_diff") is None:
            self.consistency.setText("No live scores to check in the last answer.")
            return
        self.consistency.setText(
            f"Live vs one fresh forward pass: largest difference {result['max_abs_diff']:.2e} over "
            f"{result['tokens']} tokens × {result['layers']} layers in {len(result.get('answers', [1]))} "
            f"answer(s) (scores span "
            f"{result['score_range'][0]:+.2f} … {result['score_range'][1]:+.2f}).")

    # results ------------------------------------------------------------------------------
    def columns(self, result: dict) -> tuple[list[str], list[list[float]]]:
        """Column labels and their per-layer AUROC: each contrast question, the probe, then both controls."""
        labels, values = [], []
        for question, layers in result.get("questions", {}).items():
            labels.append(question)
            values.append(layers)
        self.short_labels = [f"Q{i + 1}" for i in range(len(labels))]
        labels.append("all pairs" if result["method"] == "mean-diff" else "logistic")
        values.append(result["layers"])
        labels += list(CONTROL_COLUMNS)
        values += [result["random_baseline"], result["base_model"]]
        self.short_labels += ["probe", "random", "base"]
        return labels, values

    def show_report(self, result: dict) -> None:
        self.result = result
        labels, values = self.columns(result)
        self.auroc_map.set_matrix(np.array(values, dtype=np.float32).T, labels, self.short_labels)
        best = result["best_layer"]
        self.summary.setText(
            f"<b>{result['method']}</b> on {result['adapter'] or 'the base model'}, read at {result['read_at']}, "
            f"n = {result['n']['triggered']} + {result['n']['clean']}: best layer <b>{best}</b>, AUROC "
            f"<b>{result['layers'][best]:.3f}</b> · best of {result['random_directions']} random directions "
            f"{result['random_baseline'][best]:.3f} · same method on the base model {result['base_model'][best]:.3f}."
            f" Between/within variance ratio there {result['variance_ratio'][best]:.2f}"
            f" (base {result['base_variance_ratio'][best]:.2f}).")
        self.verdict.setText(verdict_html(result))
        self.verdict.show()
        self.export_button.setEnabled(True)

    def export_csv(self, path: str) -> None:
        """The AUROC table: one row per layer, one column per question, probe and control."""
        labels, values = self.columns(self.result)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["layer"] + labels + ["variance_ratio"])
            for layer in range(len(self.result["layers"])):
                writer.writerow([layer] + [f"{column[layer]:.4f}" for column in values]
                                + [f"{self.result['variance_ratio'][layer]:.4f}"])

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export AUROC table", "probe-auroc.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _choose_export_live(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the live probe scores", "probe-scores.csv",
                                              "CSV (*.csv);;PNG image (*.png)")
        if path:
            self.export_live_requested.emit(path)

    def choose_save(self) -> None:
        from workbench.probes import probes_dir

        path = QFileDialog.getExistingDirectory(self, "Save the probe into a folder (a new, empty one)",
                                                str(probes_dir()))
        if path:
            self.save_requested.emit(path)

    def choose_load(self) -> None:
        from workbench.probes import probes_dir

        path = QFileDialog.getExistingDirectory(self, "Open a saved probe folder", str(probes_dir()))
        if path:
            self.load_requested.emit(path)
