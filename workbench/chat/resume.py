"""Continue saved answers after a pause, a stop or a person's edit; an edit becomes a new branch."""

from dataclasses import dataclass

from ..decoding import Breakpoint, Generation, SamplingSettings
from ..errors import WorkbenchError
from ..textio import check_text
from ..events import AnswerResumed
from ..models.loaded import LoadedModel
from ..runtime.work import Work
from ..store import SessionStore, now
from .live import LiveGenerations
from .provenance import apply_change, model_spans
from .streaming import emit_scores, stream_answers
from .turn import attach_probe


@dataclass
class ResumedAnswer:
    pane: str
    message_id: int
    parent_id: int | None  # set when the answer is a new branch edited from that message
    text: str
    token_ids: list[int]
    stop_reason: str
    reprocessed_tokens: int  # tokens the model processed again before the first new one
    spans: list[dict]

    def to_dict(self) -> dict:
        return {"message_id": self.message_id, "parent_id": self.parent_id, "text": self.text,
                "token_ids": self.token_ids, "n_tokens": len(self.token_ids), "stop_reason": self.stop_reason,
                "reprocessed_tokens": self.reprocessed_tokens, "spans": self.spans}


def rebuild_generation(loaded: LoadedModel, store: SessionStore, message: dict) -> Generation:
    """A generation standing where a saved answer ends: its prompt and answer tokens, fed afresh."""
    prompt = store.prompt_of(message["id"])
    settings = SamplingSettings.from_dict(message["sampling"]) if message.get("sampling") else SamplingSettings()
    return Generation(loaded, prompt["token_ids"] or [], settings, prefill_ids=message.get("token_ids") or [])


def resume_answers(
    loaded: LoadedModel,
    store: SessionStore,
    edits: dict[int, str | None],
    breakpoints: tuple[Breakpoint, ...] = (),
    work: Work | None = None,
    live: LiveGenerations | None = None,
    probe=None,
) -> dict[str, ResumedAnswer]:
    """Continue each answer `message_id` (one per pane), after replacing its text where `edits[id]` is a string.

    An edit that changes the text creates a branch: a new message whose parent is the edited one, with
    provenance spans saying what the person wrote and what it replaced; the original stays as it was.
    Everything is checked before anything is written. Paired panes resumed together run in lockstep.
    With a `probe`, tokens are scored live on every layer (kept tokens keep the scores they had).
    """
    if not edits:
        raise WorkbenchError("Nothing to resume")
    work = work or Work()
    live_probe = attach_probe(loaded, probe)
    plans = []
    for message_id, new_text in edits.items():
        if new_text is not None:
            check_text(new_text, "The edited answer")
        message = store.get_message(message_id)
        if message["role"] != "assistant":
            raise WorkbenchError("Only an assistant's answer can be edited and resumed")
        if message["status"] == "streaming":
            raise WorkbenchError("That answer is still being generated; pause or stop it first")
        generation = live.take(message_id, loaded) if live is not None else None
        if generation is None or generation.new_ids != (message.get("token_ids") or []):
            generation = rebuild_generation(loaded, store, message)
        generation.set_probe(live_probe)
        change = generation.edit(new_text) if new_text is not None and new_text != generation.text else None
        generation.breakpoints = list(breakpoints)
        generation.resume()
        plans.append((message, generation, change))
    if len({m["pane"] for m, _, _ in plans}) != len(plans):
        raise WorkbenchError("Resume one answer per pane at a time")

    stamp = now()
    generations, message_ids, spans, parents = {}, {}, {}, {}
    for message, generation, change in plans:
        pane = message["pane"]
        old_spans = message.get("spans") or model_spans(message["text"])
        if change is not None:
            spans[pane] = apply_change(old_spans, change.start, change.replaced, change.inserted, stamp)
            message_ids[pane] = store.add_branch(
                message["id"], generation.text, status="streaming", token_ids=generation.new_ids,
                token_offsets=generation.token_char_starts, spans=spans[pane],
                edit={"start": change.start, "replaced": change.replaced, "inserted": change.inserted,
                      "kept_tokens": change.kept, "at": stamp},
                breakpoints=[b.to_dict() for b in breakpoints])
            parents[pane] = message["id"]
        else:
            spans[pane] = old_spans
            message_ids[pane] = message["id"]
            parents[pane] = None
            store.update_message(message["id"], status="streaming", text=generation.text,
                                 token_ids=generation.new_ids, token_offsets=generation.token_char_starts)
        generations[pane] = generation
        work.emit(AnswerResumed(pane=pane, message_id=message_ids[pane], parent_id=parents[pane], text=generation.text,
                           token_starts=list(generation.token_char_starts), spans=spans[pane],
                           reprocessed_tokens=generation.reprocessed_tokens))
        emit_scores(pane, generation, work.emit, everything=True)

    stream_answers(store, generations, message_ids, spans, work, paired=len(plans) == 2)
    out = {}
    for pane, g in generations.items():
        if live is not None:
            live.put(message_ids[pane], g)
        out[pane] = ResumedAnswer(pane, message_ids[pane], parents[pane], g.text, list(g.new_ids), g.stop_reason,
                                  g.reprocessed_tokens, spans[pane])
    return out
