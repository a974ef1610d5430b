"""One side of the paired chat: a conversation that streams token by token and marks divergence."""

import html
from dataclasses import dataclass, field

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

DIVERGE_STYLE = "background-color:#ffb74d; color:#000; font-weight:bold;"
END_MARK = "\u23f9"  # shown where an answer ended at the divergent token
STOP_NOTES = {"max_new_tokens": " <i>(max new tokens reached)</i>", "context_full": " <i>(context full)</i>"}


@dataclass
class Block:
    role: str
    text: str = ""
    token_starts: list[int] = field(default_factory=list)
    diverge_index: int | None = None
    status: str = "complete"
    stop_reason: str | None = None


class ChatPane(QWidget):
    """A titled, read-only conversation view. The GUI thread only renders what events tell it."""

    def __init__(self, title: str, accent: str, parent=None):
        super().__init__(parent)
        self._accent = accent
        self.header = QLabel()
        self.header.setObjectName("paneHeader")
        self.header.setStyleSheet(
            f"QLabel {{ background:{accent}; color:white; padding:6px; font-weight:bold; border-radius:3px; }}"
        )
        self.divergence_label = QLabel("")
        self.divergence_label.setObjectName("divergenceLabel")
        self.view = QTextBrowser()
        self.view.setOpenExternalLinks(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.divergence_label)
        self.blocks: list[Block] = []
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(30)  # coalesce token bursts into one repaint
        self._render_timer.timeout.connect(self.render)
        self.set_title(title)

    # content -------------------------------------------------------------------------------
    def set_title(self, title: str) -> None:
        self.header.setText(title)

    def clear(self) -> None:
        self.blocks = []
        self.divergence_label.setText("")
        self.render()

    def add_user(self, text: str) -> None:
        self.blocks.append(Block("user", text))
        self._schedule()

    def start_answer(self) -> None:
        self.blocks.append(Block("assistant", status="streaming"))
        self._schedule()

    def append_token(self, text: str, char_start: int) -> None:
        block = self._answer()
        block.token_starts.append(char_start)
        block.text += text
        self._schedule()

    def mark_divergence(self, index: int) -> None:
        self._answer().diverge_index = index
        self.divergence_label.setText(f"First divergent token: #{index}")
        self._schedule()

    def finish_answer(self, text: str, stop_reason: str) -> None:
        block = self._answer()
        block.text = text
        block.status = "stopped" if stop_reason == "stopped" else "complete"
        block.stop_reason = stop_reason
        self.render()

    def load_blocks(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        last = next((b for b in reversed(blocks) if b.role == "assistant"), None)
        if last is not None and last.diverge_index is not None:
            self.divergence_label.setText(f"First divergent token: #{last.diverge_index}")
        else:
            self.divergence_label.setText("")
        self.render()

    def answer_text(self) -> str:
        """The last answer's text (what tests and exports read)."""
        last = next((b for b in reversed(self.blocks) if b.role == "assistant"), None)
        return last.text if last else ""

    # rendering -----------------------------------------------------------------------------
    def _answer(self) -> Block:
        if not self.blocks or self.blocks[-1].role != "assistant":
            self.start_answer()
        return self.blocks[-1]

    def _schedule(self) -> None:
        if not self._render_timer.isActive():
            self._render_timer.start()

    def render(self) -> None:
        parts = []
        for block in self.blocks:
            if block.role == "user":
                parts.append(
                    f'<table width="100%" cellpadding="6" style="margin-top:8px; background-color:#eceff1;">'
                    f'<tr><td><b>User</b><br>{_html(block.text)}</td></tr></table>'
                )
            else:
                status = {"streaming": " <i>(generating…)</i>", "stopped": " <i>(stopped)</i>"}.get(block.status, "")
                status += STOP_NOTES.get(block.stop_reason, "") if block.status == "complete" else ""
                parts.append(
                    f'<p style="margin-top:6px;"><b style="color:{self._accent};">Assistant</b>{status}<br>'
                    f"{_answer_html(block)}</p>"
                )
        self.view.setHtml("".join(parts))
        bar = self.view.verticalScrollBar()
        bar.setValue(bar.maximum())


def _html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _answer_html(block: Block) -> str:
    i = block.diverge_index
    if i is None or i >= len(block.token_starts) + 1:
        return _html(block.text)
    start = block.token_starts[i] if i < len(block.token_starts) else len(block.text)
    end = block.token_starts[i + 1] if i + 1 < len(block.token_starts) else len(block.text)
    token = block.text[start:end] or END_MARK
    return (
        _html(block.text[:start])
        + f'<span style="{DIVERGE_STYLE}" title="first divergent token (#{i})">{_html(token)}</span>'
        + _html(block.text[end:])
    )
