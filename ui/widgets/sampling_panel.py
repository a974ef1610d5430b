"""Sampling settings: greedy by default so results repeat."""

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSpinBox

from workbench.decoding import SamplingSettings


class SamplingPanel(QGroupBox):
    def __init__(self, parent=None):
        super().__init__("Sampling", parent)
        self.greedy = QCheckBox("Greedy (repeatable)")
        self.greedy.setChecked(True)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.05, 5.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setValue(0.7)
        self.top_p = QDoubleSpinBox()
        self.top_p.setRange(0.01, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(0.95)
        self.max_new_tokens = QSpinBox()
        self.max_new_tokens.setRange(1, 8192)
        self.max_new_tokens.setValue(128)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        form = QFormLayout(self)
        form.addRow(self.greedy)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Max new tokens", self.max_new_tokens)
        form.addRow("Seed", self.seed)
        self.greedy.toggled.connect(self._sync)
        self._sync()

    def _sync(self) -> None:
        sampling = not self.greedy.isChecked()
        self.temperature.setEnabled(sampling)
        self.top_p.setEnabled(sampling)

    def settings(self) -> SamplingSettings:
        greedy = self.greedy.isChecked()
        return SamplingSettings(
            temperature=0.0 if greedy else self.temperature.value(),
            top_p=1.0 if greedy else self.top_p.value(),
            max_new_tokens=self.max_new_tokens.value(),
            seed=self.seed.value(),
        )

    def set_settings(self, settings: SamplingSettings) -> None:
        self.greedy.setChecked(settings.greedy)
        if not settings.greedy:
            self.temperature.setValue(settings.temperature)
            self.top_p.setValue(settings.top_p)
        self.max_new_tokens.setValue(settings.max_new_tokens)
        self.seed.setValue(settings.seed)
