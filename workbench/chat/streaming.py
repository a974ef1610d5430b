"""Step a turn's generations (one pane, or two in lockstep), stream their tokens and save as they grow."""

from typing import Callable

from ..decoding import Generation, PairedGeneration
from ..events import Diverged, Event, PaneFinished, TokenGenerated, TokenScores
from ..runtime.work import Work
from ..store import SessionStore
from .provenance import extend_model

SAVE_EVERY_TOKENS = 32  # partial answers reach the database this often while streaming


def answer_status(stop_reason: str | None) -> str:
    return {"stopped": "stopped", "paused": "paused"}.get(stop_reason or "", "complete")


def probe_record(generation: Generation) -> dict | None:
    """What the database keeps of an answer's live probe scores (None without a probe)."""
    if generation.probe is None:
        return None
    probe = generation.probe.probe
    scores = [None if row is None else [round(v, 5) for v in row] for row in generation.token_scores]
    return {"name": probe.name, "kind": probe.kind, "layers": probe.n_layers, "scores": scores}


def read_probe_record(record) -> tuple[int, list] | None:
    """(layers, scores) of a saved probe record, or None when it is missing or not of the form written above
    (a damaged or hand-made database is shown without its heatmap rather than failing)."""
    if not isinstance(record, dict):
        return None
    layers, scores = record.get("layers"), record.get("scores")
    if not isinstance(layers, int) or isinstance(layers, bool) or not 0 < layers <= 1024 or not isinstance(scores, list):
        return None
    for row in scores:
        if row is not None and (not isinstance(row, list) or len(row) != layers
                                or not all(isinstance(v, (int, float)) for v in row)):
            return None
    return layers, scores


def emit_scores(pane: str, generation: Generation, emit: Callable[[Event], None], everything: bool = False) -> None:
    """Send the probe scores the generation read in its last step (or all it has, with `everything`)."""
    if generation.probe is None:
        return
    if everything:
        start, rows = 0, list(generation.token_scores)
    elif generation.last_scores is None:
        return
    else:
        start, rows = generation.last_scores
    generation.last_scores = None
    decode = generation.loaded.tokenizer.decode
    tokens = [decode([t]) for t in generation.new_ids[start:start + len(rows)]]
    emit(TokenScores(pane=pane, start=start, scores=rows, tokens=tokens, reset=everything))


def stream_answers(
    store: SessionStore,
    generations: dict[str, Generation],
    message_ids: dict[str, int],
    spans: dict[str, list[dict]],
    work: Work,
    paired: bool,
) -> int | None:
    """Run the generations to their end (or a stop or pause), save each answer; return the first divergence."""
    lockstep = PairedGeneration(generations) if paired and len(generations) == 2 else None
    announced = False
    while not all(g.finished for g in generations.values()):
        if work.should_stop() or work.should_pause():
            for generation in generations.values():
                generation.stop() if work.should_stop() else generation.pause()
            break
        if lockstep is not None:
            steps = lockstep.step()
        else:
            steps = [(p, g.step()) for p, g in generations.items() if not g.finished]
        for pane, step in steps:
            work.emit(TokenGenerated(pane=pane, index=step.index, token_id=step.token_id, text=step.text,
                                char_start=step.char_start))
            emit_scores(pane, generations[pane], work.emit)
            if (step.index + 1) % SAVE_EVERY_TOKENS == 0:
                g = generations[pane]
                store.update_message(message_ids[pane], text=g.text, token_ids=g.new_ids,
                                     token_offsets=g.token_char_starts, spans=extend_model(spans[pane], len(g.text)),
                                     probe=probe_record(g))
        if lockstep is not None and lockstep.first_divergence is not None and not announced:
            announced = True
            index = lockstep.first_divergence
            work.emit(Diverged(index=index, char_starts={
                pane: (g.token_char_starts[index] if index < len(g.token_char_starts) else len(g.text))
                for pane, g in generations.items()
            }))
    divergence = lockstep.first_divergence if lockstep is not None else None
    for pane, g in generations.items():
        spans[pane] = extend_model(spans[pane], len(g.text))
        fields = dict(text=g.text, token_ids=g.new_ids, token_offsets=g.token_char_starts,
                      status=answer_status(g.stop_reason), stop_reason=g.stop_reason, spans=spans[pane],
                      probe=probe_record(g))
        if lockstep is not None:
            fields["first_divergence"] = divergence
        store.update_message(message_ids[pane], **fields)
        work.emit(PaneFinished(pane=pane, text=g.text, n_tokens=len(g.new_ids), stop_reason=g.stop_reason))
    return divergence
