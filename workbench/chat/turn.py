"""One chat turn: the prompt answered with the trigger on and off (or once), streamed and recorded."""

from dataclasses import dataclass, field
from typing import Callable

from ..decoding import Generation, PairedGeneration, SamplingSettings
from ..errors import WorkbenchError
from ..events import Diverged, Event, PaneFinished, TokenGenerated, TurnStarted
from ..models.loaded import LoadedModel
from ..store import SessionStore
from ..triggers import DEPLOYMENT, Trigger

TRIGGERED = "triggered"
CLEAN = "clean"
SAVE_EVERY_TOKENS = 32  # partial answers reach the database this often while streaming


@dataclass
class ChatRequest:
    """What the user asked: the typed text, the trigger, paired or single, sampling settings."""

    text: str
    trigger: Trigger | None = None
    paired: bool = True
    settings: SamplingSettings = field(default_factory=SamplingSettings)

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

    def to_dict(self) -> dict:
        return {
            "prompt": self.prompt,
            "text": self.text,
            "token_ids": self.token_ids,
            "n_tokens": len(self.token_ids),
            "stop_reason": self.stop_reason,
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

    def to_dict(self) -> dict:
        return {
            "session_id": self.session_id,
            "turn": self.turn,
            "trigger": self.trigger.to_dict() if self.trigger else None,
            "sampling": self.settings.to_dict(),
            "first_divergence": self.first_divergence,
            "answers": {pane: answer.to_dict() for pane, answer in self.answers.items()},
        }


def run_turn(
    loaded: LoadedModel,
    store: SessionStore,
    request: ChatRequest,
    session_id: int | None = None,
    emit: Callable[[Event], None] = lambda event: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TurnResult:
    """Answer `request` in its panes, streaming TokenGenerated events and saving every message.

    Bad input (empty prompt, too long for the context) raises WorkbenchError before anything is written.
    """
    text = request.text
    if not text or not text.strip():
        raise WorkbenchError("The prompt is empty")
    settings = request.settings.validate()
    trigger = request.trigger_for_pairing()
    panes = request.panes()

    prompts, generations = {}, {}
    for pane, state in panes.items():
        prompts[pane] = trigger.apply(text, state) if (trigger is not None and state is not None) else text
        history = store.history(session_id, pane) if session_id is not None else []
        prompt_ids = loaded.encode_chat(history + [{"role": "user", "content": prompts[pane]}])
        generations[pane] = Generation(loaded, prompt_ids, settings)  # checks the context length

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
        "sampling": settings.to_dict(),
    }
    assistant_ids = {}
    for pane, state in panes.items():
        trigger_state = None if state is None else ("on" if state else "off")
        store.add_message(
            session_id, turn, pane, "user", prompts[pane], typed_text=text,
            token_ids=generations[pane].prompt_ids, trigger_state=trigger_state, **common,
        )
        assistant_ids[pane] = store.add_message(
            session_id, turn, pane, "assistant", "", status="streaming",
            token_ids=[], trigger_state=trigger_state, **common,
        )
    emit(TurnStarted(session_id=session_id, turn=turn, prompts=prompts, typed_text=text))

    paired = PairedGeneration(generations) if len(generations) == 2 else None
    announced = False
    while not all(g.finished for g in generations.values()):
        if should_stop():
            for generation in generations.values():
                generation.stop()
            break
        steps = paired.step() if paired else [(p, g.step()) for p, g in generations.items() if not g.finished]
        for pane, step in steps:
            emit(TokenGenerated(pane=pane, index=step.index, token_id=step.token_id, text=step.text,
                                char_start=step.char_start))
            if (step.index + 1) % SAVE_EVERY_TOKENS == 0:
                g = generations[pane]
                store.update_message(assistant_ids[pane], text=g.text, token_ids=g.new_ids,
                                     token_offsets=g.token_char_starts)
        if paired and paired.first_divergence is not None and not announced:
            announced = True
            index = paired.first_divergence
            emit(Diverged(index=index, char_starts={
                pane: (g.token_char_starts[index] if index < len(g.token_char_starts) else len(g.text))
                for pane, g in generations.items()
            }))

    divergence = paired.first_divergence if paired else None
    answers = {}
    for pane, g in generations.items():
        status = "stopped" if g.stop_reason == "stopped" else "complete"
        store.update_message(
            assistant_ids[pane], text=g.text, token_ids=g.new_ids, token_offsets=g.token_char_starts, status=status,
            stop_reason=g.stop_reason, first_divergence=divergence,
        )
        state = panes[pane]
        answers[pane] = PaneAnswer(
            pane, prompts[pane], g.text, list(g.new_ids), g.stop_reason,
            None if state is None else ("on" if state else "off"), assistant_ids[pane],
        )
        emit(PaneFinished(pane=pane, text=g.text, n_tokens=len(g.new_ids), stop_reason=g.stop_reason))
    return TurnResult(session_id, turn, answers, divergence, trigger, settings)
