"""One chat turn: the prompt answered with the trigger on and off (or once), streamed and recorded."""

from dataclasses import dataclass, field

from ..decoding import Breakpoint, Generation, SamplingSettings
from ..errors import WorkbenchError
from ..textio import check_text
from ..events import ProbeAttached, TurnStarted
from ..models.loaded import LoadedModel
from ..runtime.work import Work
from ..store import SessionStore, now
from ..triggers import DEPLOYMENT, Trigger
from .live import LiveGenerations
from .provenance import person_span
from .streaming import stream_answers

TRIGGERED = "triggered"
CLEAN = "clean"


@dataclass
class ChatRequest:
    """What the user asked: the typed text, the trigger, paired or single, sampling settings, the text the
    answer is prefilled with (a person's words), and where generation pauses by itself."""

    text: str
    trigger: Trigger | None = None
    paired: bool = True
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    prefill: str = ""
    breakpoints: tuple[Breakpoint, ...] = ()
    probe: object = None  # a probes.Probe scored live on every layer as tokens arrive
    # on purpose only (studying template attacks): chat markers typed in the text or prefill act as real ones
    raw_special_tokens: bool = False

    def panes(self) -> dict[str, bool | None]:
        """pane -> trigger state (True on, False off, None no trigger)."""
        if self.paired:
            return {TRIGGERED: True, CLEAN: False}
        if self.trigger is not None:
            return {TRIGGERED: True}
        return {CLEAN: None}

    def trigger_for_pairing(self) -> Trigger | None:
        return (self.trigger or DEPLOYMENT) if self.paired else self.trigger


@dataclass
class PaneAnswer:
    pane: str
    prompt: str
    text: str
    token_ids: list[int]
    stop_reason: str
    trigger_state: str | None
    message_id: int
    probe_scores: list | None = None  # [token][layer] live probe scores, when a probe was attached

    def to_dict(self) -> dict:
        extra = {} if self.probe_scores is None else {"probe_scores": self.probe_scores}
        return {**extra,
            "prompt": self.prompt,
            "text": self.text,
            "token_ids": self.token_ids,
            "n_tokens": len(self.token_ids),
            "stop_reason": self.stop_reason,
            "status": "paused" if self.stop_reason == "paused" else "complete",
            "trigger_state": self.trigger_state,
            "message_id": self.message_id,
        }


@dataclass
class TurnResult:
    session_id: int
    turn: int
    answers: dict[str, PaneAnswer]
    first_divergence: int | None
    trigger: Trigger | None
    settings: SamplingSettings
    raw_special_tokens: bool = False

    def to_dict(self) -> dict:
        return {
            "session_id": self.session_id,
            "turn": self.turn,
            "trigger": self.trigger.to_dict() if self.trigger else None,
            "sampling": self.settings.to_dict(),
            "raw_special_tokens": self.raw_special_tokens,
            "first_divergence": self.first_divergence,
            "answers": {pane: answer.to_dict() for pane, answer in self.answers.items()},
        }


def attach_probe(loaded: LoadedModel, probe):
    """A LiveProbe for `probe` on `loaded` (None without a probe); WorkbenchError if it cannot fit this model."""
    if probe is None:
        return None
    from ..probes import LiveProbe  # the probes package loads nnsight lazily; chat without probes never needs it

    return LiveProbe(probe, loaded)


def run_turn(
    loaded: LoadedModel,
    store: SessionStore,
    request: ChatRequest,
    session_id: int | None = None,
    work: Work | None = None,
    live: LiveGenerations | None = None,
) -> TurnResult:
    """Answer `request` in its panes, streaming TokenGenerated events and saving every message.

    Bad input (empty prompt, too long for the context) raises WorkbenchError before anything is written.
    Paused and finished generations go into `live`, so editing them later reuses their KV cache.
    """
    work = work or Work()
    text = request.text
    if not text or not text.strip():
        raise WorkbenchError("The prompt is empty")
    check_text(text, "The prompt")
    check_text(request.prefill or "", "The answer prefill")
    settings = request.settings.validate()
    trigger = request.trigger_for_pairing()
    panes = request.panes()
    raw = request.raw_special_tokens
    prefill_ids = loaded.encode_text(request.prefill, raw) if request.prefill else []
    live_probe = attach_probe(loaded, request.probe)

    prompts, generations = {}, {}
    for pane, state in panes.items():
        prompts[pane] = trigger.apply(text, state) if (trigger is not None and state is not None) else text
        history = store.history(session_id, pane) if session_id is not None else []
        prompt_ids = loaded.encode_chat(history + [{"role": "user", "content": prompts[pane]}], raw)
        generations[pane] = Generation(loaded, prompt_ids, settings, prefill_ids=prefill_ids,
                                       breakpoints=request.breakpoints, probe=live_probe)  # checks the context

    if session_id is None:
        title = text.strip().splitlines()[0]
        session_id = store.create_session(title, model=loaded.identity.to_dict(), adapter=loaded.adapter)
    else:
        store.get_session(session_id)
    turn = store.next_turn(session_id)

    common = {
        "trigger": trigger.to_dict() if trigger else None,
        "model": loaded.identity.to_dict(),
        "adapter": loaded.adapter,
        "seed": settings.seed,
        "sampling": {**settings.to_dict(), **({"raw_special_tokens": True} if raw else {})},
    }
    stamp = now()
    assistant_ids, spans = {}, {}
    for pane, state in panes.items():
        trigger_state = None if state is None else ("on" if state else "off")
        g = generations[pane]
        spans[pane] = [person_span(0, g.text, stamp)] if g.text else []
        store.add_message(
            session_id, turn, pane, "user", prompts[pane], typed_text=text,
            token_ids=g.prompt_ids, trigger_state=trigger_state, **common,
        )
        assistant_ids[pane] = store.add_message(
            session_id, turn, pane, "assistant", g.text, status="streaming", token_ids=g.new_ids,
            token_offsets=g.token_char_starts, spans=spans[pane], trigger_state=trigger_state,
            breakpoints=[b.to_dict() for b in request.breakpoints], **common,
        )
    first = next(iter(generations.values()))
    if live_probe is not None:
        work.emit(ProbeAttached(name=request.probe.name, layers=request.probe.n_layers, warnings=live_probe.warnings))
    work.emit(TurnStarted(session_id=session_id, turn=turn, prompts=prompts, typed_text=text,
                          message_ids=assistant_ids, prefill=first.text,
                          prefill_starts=list(first.token_char_starts)))

    divergence = stream_answers(store, generations, assistant_ids, spans, work,
                                paired=len(generations) == 2)
    answers = {}
    for pane, g in generations.items():
        state = panes[pane]
        answers[pane] = PaneAnswer(
            pane, prompts[pane], g.text, list(g.new_ids), g.stop_reason,
            None if state is None else ("on" if state else "off"), assistant_ids[pane],
            list(g.token_scores) if live_probe is not None else None,
        )
        if live is not None:
            live.put(assistant_ids[pane], g)
    return TurnResult(session_id, turn, answers, divergence, trigger, settings, raw)
