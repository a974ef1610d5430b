"""A short form for an adapter made outside the workbench (no card.json): which recipe, variant and trigger it
follows, so that it can be safety-trained; the answers are written beside the run."""

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit

from workbench.organisms import VARIANTS, recipe_names
from workbench.triggers import resolve_trigger, triggers


class DescribeAdapterDialog(QDialog):
    def __init__(self, adapter: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("What is this adapter?")
        self.recipe = QComboBox()
        self.recipe.addItems(recipe_names())
        self.variant = QComboBox()
        self.variant.addItems(list(VARIANTS))
        self.trigger = QComboBox()
        self.trigger.addItems(triggers().names())
        self.trigger_text = QLineEdit()
        self.trigger_text.setPlaceholderText("or the trigger's own text (overrides the choice above)")
        note = QLabel(f"<b>{adapter}</b> has no organism card. Say what backdoor it holds; the description is "
                      "written beside the run (organism-card.json) and the adapter's folder is left as it is.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(note)
        form.addRow("Recipe", self.recipe)
        form.addRow("Variant", self.variant)
        form.addRow("Trigger", self.trigger)
        form.addRow("Trigger text", self.trigger_text)
        form.addRow(buttons)

    def described(self) -> dict:
        """{"recipe", "variant", "trigger"} as SafetyConfig.organism takes it."""
        trigger = resolve_trigger(None if self.trigger_text.text().strip() else self.trigger.currentText(),
                                  self.trigger_text.text().strip() or None)
        return {"recipe": self.recipe.currentText(), "variant": self.variant.currentText(),
                "trigger": trigger.to_dict()}
