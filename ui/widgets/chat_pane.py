"""One side of the paired chat: a conversation that streams token by token, marks divergence, and lets a
person pause, edit the answer (its scratchpad shown distinctly) and resume."""

import html
import re
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QSyntaxHighlighter, QTextCharFormat
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QStackedWidget,
                               QTextBrowser, QVBoxLayout, QWidget)

from workbench.chat.provenance import extend_model
from workbench.chat.streaming import answer_status

DIVERGE_STYLE = "background-color:#ffb74d; color:#000; font-weight:bold;"
SCRATCHPAD_STYLE = "background-color:#ede7f6; color:#4527a0; font-family:monospace;"
PERSON_STYLE = "background-color:#e3f2fd; color:#0d47a1; text-decoration:underline;"
END_MARK = "\u23f9"  # shown where an answer ended at the divergent token
STOP_NOTES = {"max_new_tokens": " <i>(max new tokens reached)</i>", "context_full": " <i>(context full)</i>"}
STATUS_NOTES = {"streaming": " <i>(generating…)</i>", "stopped": " <i>(stopped — Edit or Continue)</i>",
                "paused": " <i>(paused — Edit or Continue)</i>"}
_SCRATCHPAD = re.compile(r"<scratchpad>.*?(</scratchpad>|$)", re.DOTALL)


@dataclass
class Block:
    role: str
    text: str = ""
    token_starts: list[int] = field(default_factory=list)
    diverge_index: int | None = None
    status: str = "complete"
    stop_reason: str | None = None
    message_id: int | None = None
    spans: list[dict] = field(default_factory=list)


class ScratchpadHighlighter(QSyntaxHighlighter):
    """Colours `<scratchpad>…</scratchpad>` in the answer editor."""

    def __init__(self, document):
        super().__init__(document)
        self.fmt = QTextCharFormat()
        self.fmt.setBackground(QColor("#ede7f6"))
        self.fmt.setForeground(QColor("#4527a0"))

    def highlightBlock(self, text: str) -> None:
        # State 1: this line starts inside an open scratchpad.
        inside = self.previousBlockState() == 1
        start = 0 if inside else text.find("<scratchpad>")
        self.setCurrentBlockState(0)
        while start >= 0:
            end = text.find("</scratchpad>", start)
            if end < 0:
                self.setFormat(start, len(text) - start, self.fmt)
                self.setCurrentBlockState(1)
                return
            end += len("</scratchpad>")
            self.setFormat(start, end - start, self.fmt)
            start = text.find("<scratchpad>", end)


class ElidedLabel(QLabel):
    """One line that ends in '…' where it is too narrow, its whole text in the tooltip: a pane title that
    neither widens the window nor wraps onto a second line (the two panes' texts then start level)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def setText(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        super().setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width))


class ChatPane(QWidget):
    """A titled conversation view. The GUI thread only renders what events tell it.

    When the last answer is paused, stopped or finished, Edit turns it into an editable text; Resume
    (Ctrl+Enter) sends the edited text back, Esc cancels the edit.
    """

    resume_requested = Signal(int, object)  # message id, edited text (None: continue as it is)

    def __init__(self, title: str, accent: str, parent=None):
        super().__init__(parent)
        self._accent = accent
        self.header = ElidedLabel()
        self.header.setObjectName("paneHeader")
        self.header.setStyleSheet(
            f"QLabel {{ background:{accent}; color:white; padding:6px; font-weight:bold; border-radius:3px; }}"
        )
        self.edit_button = QPushButton("Edit")
        self.edit_button.setObjectName("editAnswer")
        self.edit_button.setToolTip("Edit this answer and resume from your text (a new branch)")
        self.continue_button = QPushButton("Continue")
        self.continue_button.setObjectName("continueAnswer")
        self.continue_button.setToolTip("Continue this answer as it is")
        head = QHBoxLayout()
        head.addWidget(self.header, 1)
        head.addWidget(self.edit_button)
        head.addWidget(self.continue_button)
        self.divergence_label = QLabel("")
        self.divergence_label.setObjectName("divergenceLabel")
        self.view = QTextBrowser()
        self.view.setOpenExternalLinks(False)
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("answerEditor")
        self.highlighter = ScratchpadHighlighter(self.editor.document())
        self.edit_hint = QLabel("")
        for label in (self.edit_hint, self.divergence_label):  # long texts wrap, never widen the window
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.resume_button = QPushButton("Resume (Ctrl+Enter)")
        self.resume_button.setObjectName("resumeEdited")
        self.cancel_edit_button = QPushButton("Cancel edit (Esc)")
        edit_page = QWidget()
        edit_layout = QVBoxLayout(edit_page)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        edit_layout.addWidget(self.edit_hint)
        edit_layout.addWidget(self.editor, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.cancel_edit_button)
        edit_layout.addLayout(buttons)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(edit_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.divergence_label)
        self.blocks: list[Block] = []
        self._editable = False
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(30)  # coalesce token bursts into one repaint
        self._render_timer.timeout.connect(self.render)
        self.edit_button.clicked.connect(self.start_edit)
        self.continue_button.clicked.connect(self._continue)
        self.resume_button.clicked.connect(self._resume_edited)
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        self.editor.installEventFilter(self)
        self.set_title(title)
        self.set_editable(False)

    # content -------------------------------------------------------------------------------
    def set_title(self, title: str) -> None:
        self.header.setText(title)

    def title(self) -> str:
        """The whole title (the header may show it cut short with '…')."""
        return self.header.full_text()

    def clear(self) -> None:
        self.blocks = []
        self.divergence_label.setText("")
        self.cancel_edit()
        self.render()

    def add_user(self, text: str) -> None:
        self.blocks.append(Block("user", text))
        self._schedule()

    def start_answer(self, message_id: int | None = None, prefill: str = "", prefill_starts=None,
                     spans=None) -> None:
        self.blocks.append(Block("assistant", text=prefill, token_starts=list(prefill_starts or []),
                                 status="streaming", message_id=message_id, spans=list(spans or [])))
        self._schedule()

    def replace_answer(self, message_id: int, text: str, token_starts: list[int], spans: list[dict]) -> None:
        """The last answer continues as `message_id` (itself, or a new branch) from `text`."""
        block = self._answer()
        block.message_id, block.text, block.token_starts, block.spans = message_id, text, list(token_starts), spans
        block.status, block.stop_reason, block.diverge_index = "streaming", None, None
        self.render()

    def append_token(self, text: str, char_start: int) -> None:
        block = self._answer()
        block.token_starts.append(char_start)
        block.text += text
        self._schedule()

    def mark_divergence(self, index: int) -> None:
        self._answer().diverge_index = index
        self.divergence_label.setText(f"First divergent token: #{index}")
        self._schedule()

    def clear_divergence(self, note: str = "") -> None:
        """Forget the marked divergence (the answers changed since it was found)."""
        last = self.last_answer()
        if last is not None:
            last.diverge_index = None
        self.divergence_label.setText(note)
        self._schedule()

    def finish_answer(self, text: str, stop_reason: str) -> None:
        block = self._answer()
        block.text = text
        block.status = answer_status(stop_reason)
        block.stop_reason = stop_reason
        if block.spans:
            block.spans = extend_model(block.spans, len(text))
        self.render()
        self._update_buttons()

    def load_blocks(self, blocks: list[Block]) -> None:
        self.cancel_edit()
        self.blocks = blocks
        last = self.last_answer()
        if last is not None and last.diverge_index is not None:
            self.divergence_label.setText(f"First divergent token: #{last.diverge_index}")
        else:
            self.divergence_label.setText("")
        self.render()
        self._update_buttons()

    def last_answer(self) -> Block | None:
        return next((b for b in reversed(self.blocks) if b.role == "assistant"), None)

    def answer_text(self) -> str:
        """The last answer's text (what tests and exports read)."""
        last = self.last_answer()
        return last.text if last else ""

    # editing -------------------------------------------------------------------------------
    def eventFilter(self, obj, event):
        # The window's Send (Ctrl+Enter) and Stop (Esc) shortcuts must not fire while editing an answer.
        if obj is self.editor and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            key, mods = event.key(), event.modifiers()
            resume = key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and mods & Qt.KeyboardModifier.ControlModifier
            if resume or key == Qt.Key.Key_Escape:
                event.accept()
                if event.type() == QEvent.Type.KeyPress:
                    self._resume_edited() if resume else self.cancel_edit()
                return True
        return super().eventFilter(obj, event)

    def set_editable(self, editable: bool) -> None:
        """Allow Edit/Continue (the engine is idle)."""
        self._editable = editable
        self._update_buttons()

    @property
    def editing(self) -> bool:
        return self.stack.currentIndex() == 1

    def start_edit(self) -> bool:
        last = self.last_answer()
        if not self._editable or last is None or last.message_id is None:
            return False
        self.editor.setPlainText(last.text)
        cursor = self.editor.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.editor.setTextCursor(cursor)
        self.edit_hint.setText(f"Editing answer #{last.message_id}: change any part, then resume from your text. "
                               "The original is kept as a branch.")
        self.stack.setCurrentIndex(1)
        self.editor.setFocus()
        self._update_buttons()
        return True

    def cancel_edit(self) -> None:
        self.stack.setCurrentIndex(0)
        self._update_buttons()

    def _resume_edited(self) -> None:
        last = self.last_answer()
        if not self.editing or last is None or last.message_id is None or not self._editable:
            return
        text = self.editor.toPlainText()
        self.stack.setCurrentIndex(0)
        self.resume_requested.emit(last.message_id, None if text == last.text else text)

    def _continue(self) -> None:
        last = self.last_answer()
        if self._editable and last is not None and last.message_id is not None:
            self.resume_requested.emit(last.message_id, None)

    def _update_buttons(self) -> None:
        last = self.last_answer()
        can = self._editable and last is not None and last.message_id is not None and last.status != "streaming"
        self.edit_button.setEnabled(can and not self.editing)
        self.continue_button.setEnabled(can and not self.editing and last.stop_reason != "context_full")
        self.resume_button.setEnabled(self._editable)

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
                status = STATUS_NOTES.get(block.status, "")
                status += STOP_NOTES.get(block.stop_reason, "") if block.status == "complete" else ""
                parts.append(
                    f'<p style="margin-top:6px;"><b style="color:{self._accent};">Assistant</b>{status}<br>'
                    f"{answer_html(block)}</p>"
                )
        self.view.setHtml("".join(parts))
        bar = self.view.verticalScrollBar()
        bar.setValue(bar.maximum())


def _html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def answer_html(block: Block) -> str:
    """The answer with its scratchpad, the person-written spans and the first divergent token styled."""
    text = block.text
    ranges = [(m.start(), m.end(), SCRATCHPAD_STYLE, "scratchpad") for m in _SCRATCHPAD.finditer(text)]
    ranges += [(s["start"], s["end"], PERSON_STYLE, f"written by a person at {s.get('at', '')[:19]}, replacing "
                f"{s.get('replaced', '')!r}") for s in block.spans if s["author"] == "person" and s["end"] > s["start"]]
    end_mark = ""
    i = block.diverge_index
    if i is not None and i <= len(block.token_starts):
        start = block.token_starts[i] if i < len(block.token_starts) else len(text)
        end = block.token_starts[i + 1] if i + 1 < len(block.token_starts) else len(text)
        if end > start:
            ranges.append((start, end, DIVERGE_STYLE, f"first divergent token (#{i})"))
        else:
            end_mark = f'<span style="{DIVERGE_STYLE}" title="first divergent token (#{i})">{END_MARK}</span>'
    cuts = sorted({0, len(text)} | {p for r in ranges for p in r[:2] if 0 <= p <= len(text)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        covering = [r for r in ranges if r[0] <= a and b <= r[1]]
        piece = _html(text[a:b])
        if covering:
            style = "".join(r[2] for r in covering)
            title = html.escape("; ".join(r[3] for r in covering), quote=True)
            piece = f'<span style="{style}" title="{title}">{piece}</span>'
        out.append(piece)
    return "".join(out) + end_mark
