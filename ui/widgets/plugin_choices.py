"""Combo boxes listing what the plugin registry offers of one kind (built-ins first), without importing plugins."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from workbench.plugins import FAILED, plugin_registry


def fill_choices(combo: QComboBox, kind: str, label=lambda contribution: contribution.name) -> None:
    """(Re)fill `combo` with the usable contributions of `kind`; keeps the current choice when it is still there.

    Items carry the name as data and the description (and the plugin it comes from) as tooltip.
    """
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for contribution in plugin_registry().contributions(kind):
        if contribution.status == FAILED:
            continue
        text = label(contribution)
        if not contribution.builtin:
            text = f"{text}  ·  {contribution.plugin.name}"
        combo.addItem(text, contribution.name)
        where = "built-in" if contribution.builtin else contribution.plugin.label()
        combo.setItemData(combo.count() - 1, f"{contribution.description}\n({where})", Qt.ItemDataRole.ToolTipRole)
    combo.blockSignals(False)
    index = combo.findData(current)
    combo.setCurrentIndex(index if index >= 0 else 0)
