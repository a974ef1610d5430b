"""Choose the trigger (registered or custom) and paired vs single chat."""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QLabel, QLineEdit

from workbench.errors import WorkbenchError
from workbench.plugins import TRIGGERS
from workbench.triggers import Trigger, triggers

from .panel_combo import PanelComboBox
from .plugin_choices import fill_choices

CUSTOM = "Custom text…"


class TriggerPanel(QGroupBox):
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__("Trigger", parent)
        self.choice = PanelComboBox()
        self._fill()
        self.custom_on = QLineEdit()
        self.custom_on.setPlaceholderText("text put before the prompt when on")
        self.custom_off = QLineEdit()
        self.custom_off.setPlaceholderText("optional: text when off")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color:#555;")
        self.paired = QCheckBox("Paired: answer with trigger on and off")
        self.paired.setChecked(True)
        self.single_on = QCheckBox("Single pane: trigger on")
        form = QFormLayout(self)
        form.addRow("Trigger", self.choice)
        form.addRow("Custom on", self.custom_on)
        form.addRow("Custom off", self.custom_off)
        form.addRow(self.description)
        form.addRow(self.paired)
        form.addRow(self.single_on)
        for signal in (self.choice.currentIndexChanged, self.custom_on.textChanged, self.custom_off.textChanged,
                       self.paired.toggled, self.single_on.toggled):
            signal.connect(self._sync)
        self._sync()

    def _fill(self) -> None:
        was_custom = self.choice.count() > 0 and self.choice.currentData() is None
        fill_choices(self.choice, TRIGGERS)
        self.choice.addItem(CUSTOM, None)
        if was_custom:
            self.choice.setCurrentIndex(self.choice.count() - 1)

    def refresh_plugins(self) -> None:
        """List the triggers the plugin registry has now (after a rescan)."""
        self.choice.blockSignals(True)
        self._fill()
        self.choice.blockSignals(False)
        self._sync()

    def _sync(self, *_):
        custom = self.choice.currentData() is None
        self.custom_on.setEnabled(custom)
        self.custom_off.setEnabled(custom)
        self.single_on.setEnabled(not self.paired.isChecked())
        try:
            trigger = self.trigger()
            self.description.setText(trigger.description)
            self.description.setStyleSheet("color:#555;")
        except WorkbenchError as exc:
            self.description.setText(str(exc))
            self.description.setStyleSheet("color:#b00020;")
        self.changed.emit()

    def trigger(self) -> Trigger:
        """The chosen trigger; WorkbenchError if the custom text is empty."""
        name = self.choice.currentData()
        if name is not None:
            return triggers().get(name)
        text = self.custom_on.text()
        if not text.strip():
            raise WorkbenchError("Type a custom trigger text, or choose a registered trigger")
        return Trigger.custom(text, self.custom_off.text())

    def is_paired(self) -> bool:
        return self.paired.isChecked()

    def single_trigger_on(self) -> bool:
        return self.single_on.isChecked()

    def select(self, trigger: Trigger | None) -> None:
        """Show `trigger` (e.g. when a saved session is reopened)."""
        if trigger is None:
            return
        index = self.choice.findData(trigger.name) if trigger.name != "custom" else -1
        if index >= 0:
            self.choice.setCurrentIndex(index)
        else:
            self.choice.setCurrentIndex(self.choice.findData(None))
            self.custom_on.setText(trigger.on_text)
            self.custom_off.setText(trigger.off_text)
