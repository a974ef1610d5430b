"""Events the engine emits while it works. The GUI renders them; the CLI prints them; nothing else."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    job_id: int = 0


@dataclass(frozen=True)
class Progress(Event):
    """A long job moved on: `stage` says what it is doing, `fraction` in [0, 1] (None if unknown)."""

    stage: str = ""
    fraction: float | None = None


@dataclass(frozen=True)
class ModelLoaded(Event):
    """A model is ready; `info` is LoadedModel.describe(). `replaced` says a newly loaded model took the place of
    the previous one (not an adapter attached, detached or trained on the same weights)."""

    info: dict = field(default_factory=dict)
    replaced: bool = False


@dataclass(frozen=True)
class TurnStarted(Event):
    """A chat turn began: the user's text as each pane's model sees it."""

    session_id: int = 0
    turn: int = 0
    prompts: dict = field(default_factory=dict)  # pane -> user text with trigger applied
    typed_text: str = ""
    message_ids: dict = field(default_factory=dict)  # pane -> the assistant message being written
    prefill: str = ""  # the answer's start, written by a person
    prefill_starts: list = field(default_factory=list)  # character offset of each prefill token


@dataclass(frozen=True)
class AnswerResumed(Event):
    """An answer goes on after a pause or an edit; `message_id` is its row (a new branch when edited)."""

    pane: str = ""
    message_id: int = 0
    parent_id: int | None = None  # the answer it was edited from, if it is a new branch
    text: str = ""
    token_starts: list = field(default_factory=list)
    spans: list = field(default_factory=list)
    reprocessed_tokens: int = 0


@dataclass(frozen=True)
class TokenGenerated(Event):
    """One token was generated in `pane`; `text` is the text it completed (may be empty)."""

    pane: str = ""
    index: int = 0
    token_id: int = 0
    text: str = ""
    char_start: int = 0


@dataclass(frozen=True)
class Diverged(Event):
    """The two panes' answers first differ at token `index`."""

    index: int = 0
    char_starts: dict = field(default_factory=dict)  # pane -> character offset of that token


@dataclass(frozen=True)
class PaneFinished(Event):
    pane: str = ""
    text: str = ""
    n_tokens: int = 0
    stop_reason: str = ""


@dataclass(frozen=True)
class JobFinished(Event):
    name: str = ""
    result: object = None


@dataclass(frozen=True)
class JobFailed(Event):
    """A job ended with an error; `message` is one line for the user, `detail` a traceback if unexpected."""

    name: str = ""
    message: str = ""
    detail: str = ""


@dataclass(frozen=True)
class CellUpdated(Event):
    """A cell of a results table has a new value (e.g. the scratchpad experiment's rates as they fill)."""

    table: str = ""
    cell: str = ""
    value: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Metric(Event):
    """A value over time in a run: e.g. name='loss', step=12, value=0.41; a rate has its 95% interval [lo, hi].

    `run` is the run's id in the database (0 when it is not recorded there).
    """

    name: str = ""
    step: int = 0
    value: float = 0.0
    lo: float | None = None
    hi: float | None = None
    run: int = 0


@dataclass(frozen=True)
class CheckpointSaved(Event):
    """A run wrote a checkpoint: an adapter folder that can be attached to chat with or probe."""

    run: int = 0
    step: int = 0
    path: str = ""


@dataclass(frozen=True)
class ProbeAttached(Event):
    """Live probe scores will come with this turn's tokens; `warnings` say why they may not mean much."""

    name: str = ""
    layers: int = 0
    warnings: list = field(default_factory=list)


@dataclass(frozen=True)
class TokenScores(Event):
    """Per-layer probe scores for answer tokens `start`, `start + 1`, … of `pane` (a row may be None: not read).

    With `reset`, these rows are the whole answer so far (after a resume or an edit).
    """

    pane: str = ""
    start: int = 0
    scores: list = field(default_factory=list)  # [tokens][layers]
    tokens: list = field(default_factory=list)  # the text of each token
    reset: bool = False
