"""A combo box for the docked side panels."""

from PySide6.QtWidgets import QComboBox


class PanelComboBox(QComboBox):
    """As wide as about 12 characters, whatever its entries: the drop-down shows them in full, and a long entry
    ("HHH SFT — pre-scratchpad (answer alone)") does not widen its dock and so the window. (Set before any entry
    is added: QComboBox keeps the minimum width it first computed.)"""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
