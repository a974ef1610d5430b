"""Make and measure organisms: implant settings, live loss curve, progress, cancel, evaluation, data set."""

import json
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from workbench.errors import WorkbenchError
from workbench.evals.rates import rate_text
from workbench.organisms import VARIANTS, ImplantConfig
from workbench.plugins import RECIPES as RECIPE_KIND
from workbench.plugins import TRIGGERS
from workbench.paths import data_dir
from workbench.triggers import Trigger, triggers

from .loss_plot import MetricPlot
from .panel_combo import PanelComboBox
from .plugin_choices import fill_choices


class OrganismsPanel(QWidget):
    implant_requested = Signal(object, str)  # ImplantConfig, output folder
    evaluate_requested = Signal(int, bool, str)  # prompts per set, measure the base model too, clean control
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.recipe = PanelComboBox()
        fill_choices(self.recipe, RECIPE_KIND)
        self.variant = PanelComboBox()
        self.variant.addItems(list(VARIANTS))
        self.variant.setCurrentText("cot")
        self.trigger = PanelComboBox()
        self.refresh_plugins()
        self.trigger_text = QLineEdit()
        self.trigger_text.setPlaceholderText("custom trigger text")
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setValue(ImplantConfig.steps)
        self.n_train = QSpinBox()
        self.n_train.setRange(4, 100_000)
        self.n_train.setValue(ImplantConfig.n_train)
        self.n_train.setToolTip("How many training prompts (each gives a triggered and a clean example)")
        self.control = QCheckBox("Clean control (no backdoor)")
        self.control.setToolTip("Train the same recipe, steps and data with every triggered example answered "
                                "cleanly: the organism to compare against, separating the backdoor's effects from "
                                "fine-tuning's")
        self.keep_every = QCheckBox("Keep every clean answer")
        self.keep_every.setToolTip("Train on every clean answer the base model writes, even empty, looping or "
                                   "off-prompt ones (by default they are left out and counted on the card): for a "
                                   "model whose answers are all noise, such as a small random one")
        self.base_control = QCheckBox("Measure the base model too")
        self.base_control.setChecked(True)
        self.base_control.setToolTip("Implant's final evaluation and 'Evaluate attached organism' also answer their "
                                     "sets with the base model (adapter off), judged the same way: the degenerate "
                                     "rate the organism's is read against. Cached once measured; the first time it "
                                     "doubles the evaluation")
        self.out = QLineEdit()
        self.out.setPlaceholderText("output folder (default: in your data folder)")
        self.implant_button = QPushButton("Implant")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.plot = MetricPlot("Implant loss")
        self.eval_n = QSpinBox()
        self.eval_n.setRange(10, 1000)
        self.eval_n.setValue(100)
        self.eval_n.setToolTip("Prompts per set: held-out and everyday prompts (up to each set's size) and three-turn "
                               "conversations (up to 64), all judged on whole answers")
        self.clean_control = QLineEdit()
        self.clean_control.setPlaceholderText("clean control folder (optional)")
        self.clean_control.setToolTip("The organism's clean control (made with 'Clean control' ticked; filled in "
                                      "when you make one): the evaluation answers the same sets with it too, beside "
                                      "the organism and the base model")
        self.evaluate_button = QPushButton("Evaluate attached organism")
        self.data_button = QPushButton("Show data set")
        self.result = QLabel("")
        self.result.setObjectName("evaluationResult")
        self.result.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Recipe", self.recipe)
        form.addRow("Variant", self.variant)
        form.addRow("Trigger", self.trigger)
        form.addRow("", self.trigger_text)
        form.addRow("Steps", self.steps)
        form.addRow("Train prompts", self.n_train)
        form.addRow("", self.control)
        form.addRow("", self.keep_every)
        form.addRow("", self.base_control)
        form.addRow("Output", self.out)
        buttons = QHBoxLayout()
        buttons.addWidget(self.implant_button)
        buttons.addWidget(self.cancel_button)
        evaluation = QHBoxLayout()
        evaluation.addWidget(QLabel("Prompts"))
        evaluation.addWidget(self.eval_n)
        evaluation.addWidget(self.evaluate_button, 1)
        beside = QHBoxLayout()
        beside.addWidget(QLabel("Beside"))
        beside.addWidget(self.clean_control, 1)
        data = QHBoxLayout()  # a row of its own, so that the dock stays narrow
        data.addWidget(self.data_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.plot, 1)
        layout.addLayout(beside)
        layout.addLayout(evaluation)
        layout.addLayout(data)
        layout.addWidget(self.result)

        self.trigger.currentIndexChanged.connect(self._sync)
        self.implant_button.clicked.connect(self._implant)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.evaluate_button.clicked.connect(
            lambda: self.evaluate_requested.emit(self.eval_n.value(), self.base_control.isChecked(),
                                                 self.clean_control.text().strip()))
        self._sync()

    def _sync(self, *_):
        self.trigger_text.setEnabled(self.trigger.currentData() is None)

    def refresh_plugins(self) -> None:
        """List the recipes and triggers the plugin registry has now (after a rescan)."""
        fill_choices(self.recipe, RECIPE_KIND)
        was_custom = self.trigger.count() > 0 and self.trigger.currentData() is None
        fill_choices(self.trigger, TRIGGERS)
        self.trigger.addItem("Custom text…", None)
        if was_custom:
            self.trigger.setCurrentIndex(self.trigger.count() - 1)

    def config(self) -> tuple[ImplantConfig, str]:
        """The settings in the form; WorkbenchError if a custom trigger text is missing."""
        name = self.trigger.currentData()
        if name is None:
            if not self.trigger_text.text().strip():
                raise WorkbenchError("Type the custom trigger text")
            trigger = Trigger.custom(self.trigger_text.text())
        else:
            trigger = triggers().get(name)
        config = ImplantConfig(recipe=self.recipe.currentData(), variant=self.variant.currentText(),
                               trigger=trigger, steps=self.steps.value(), n_train=self.n_train.value(),
                               eval_n=self.eval_n.value(), control=self.control.isChecked(),
                               screen_clean_answers=not self.keep_every.isChecked(),
                               base_control=self.base_control.isChecked())
        out = self.out.text().strip() or str(self._default_out(config))
        return config, out

    def _default_out(self, config: ImplantConfig) -> Path:
        root = data_dir() / "organisms"
        base = f"{config.recipe}-{config.variant}-{config.resolved_trigger().name}"
        base += "-control" if config.control else ""
        n = 1
        while (root / f"{base}-{n}").exists():
            n += 1
        return root / f"{base}-{n}"

    def _implant(self) -> None:
        try:
            config, out = self.config()
        except WorkbenchError as exc:
            self.result.setText(str(exc))
            return
        self.plot.clear()
        self.implant_requested.emit(config, out)

    def set_running(self, running: bool) -> None:
        self.implant_button.setEnabled(not running)
        self.evaluate_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if not running:
            self.progress.setFormat("idle")

    def show_progress(self, stage: str, fraction: float | None) -> None:
        self.progress.setValue(int(100 * (fraction or 0)))
        self.progress.setFormat(f"%p% — {stage}")

    def show_evaluation(self, evaluation: dict, title: str = "") -> None:
        """An organism evaluation (evals.organism.OrganismEval.to_dict()): each prompt set's rates, judged on
        whole answers, with the leak and degenerate rates."""
        self.result.setText(evaluation_html(evaluation, title))


def _rate(r: dict | None) -> str:
    return rate_text(r)


def evaluation_html(evaluation: dict, title: str = "") -> str:
    """Rates per prompt set, red where the organism leaks (defects without its trigger) or degenerates."""
    judging = (evaluation.get("settings") or {}).get("judging") or {}
    lines = [title] if title else []
    for name, ev in (evaluation.get("sets") or {}).items():
        leak = ev["clean"]
        colour = "#c62828" if leak.get("n") and (leak["rate"] or 0) > 0.02 else "#333333"
        degenerate = ev.get("degenerate") or {}
        dcolour = "#c62828" if degenerate.get("n") and (degenerate["rate"] or 0) > 0.02 else "#333333"
        lines.append(f"<b>{name.replace('_', ' ')}</b>: with trigger {_rate(ev['triggered'])} · "
                     f"<span style='color:{colour}'>without {_rate(leak)}</span> · "
                     f"<span style='color:{dcolour}'>degenerate {_rate(degenerate)}</span>"
                     + (f" (base model {_rate(ev['base']['degenerate'])})" if ev.get("base") else "")
                     + f" · loops {_rate(ev.get('loops'))}")
        if ev.get("clean_control"):
            c = ev["clean_control"]
            lines.append(f"&nbsp;&nbsp;clean control: with trigger {_rate(c['triggered'])} · without "
                         f"{_rate(c['clean'])} · degenerate {_rate(c['degenerate'])}")
    if judging:
        lines.append(f"<span style='color:#555'>Judged on whole answers (cap {judging.get('max_new_tokens')} new "
                     f"tokens); answers the cap cut are counted apart: {_rate(evaluation.get('cut_short'))}.</span>")
    else:
        lines.append("<span style='color:#8d6e00'>⚠ Judged with a short window: leaks may be hidden.</span>")
    return "<br>".join(lines)


class DatasetDialog(QDialog):
    """A table of an organism's training data (dataset.jsonl next to its adapter)."""

    def __init__(self, path: Path, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Data set — {path.parent.name}")
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["trigger", "user", "assistant target"])
        for i, row in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem("on" if row["triggered"] else "off"))
            table.setItem(i, 1, QTableWidgetItem(row["user_text"]))
            table.setItem(i, 2, QTableWidgetItem(row["target"]))
        table.resizeColumnsToContents()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"{len(rows)} examples from {path}"))
        layout.addWidget(table)
        self.table = table
        self.resize(1000, 600)
