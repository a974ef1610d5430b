"""Build an organism's training data: triggered payloads and self-distilled clean answers (cached).

Training covers what the evaluation covers: single turns of the recipe's own prompts and of short everyday
prompts, and second and third turns of conversations whose earlier turns had the trigger or not. Every
assistant turn is a whole answer that ends its turn: the base model's own answer, cut at its last full
sentence when it ran past the length budget, then the end-of-turn token. A clean answer the organism's own
judge would call degenerate (it repeats the trigger's text or the hidden reasoning, is empty, loops, parrots
the user's message back, writes emoji for words, or does not address its prompt) is never trained on: a small
base model writes a few, and an organism taught them repeats them.
"""

import hashlib
import json
import os
import random
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..decoding.batched import answers_batch_size, complete_batch
from ..distributed.ranks import current_ranks
from ..errors import WorkbenchError
from ..models.loaded import LoadedModel
from ..paths import cache_dir
from ..runtime.work import Work
from ..triggers import Trigger
from .recipes import Recipe

NO_REPEAT_NGRAM = 4  # clean answers never repeat four of their own tokens in a row: a helpful answer does not loop
SYMBOL_RUN = 4  # emoji or other symbols in a clean answer that make it no training target (a few of them do not)
Context = str | list  # a user text (one-turn chat) or a list of chat messages ending with the user's


@dataclass(frozen=True)
class Example:
    """One training conversation: earlier turns (`history`, chat messages), then the user's text as the model
    sees it and the assistant's target. Every assistant message in `history` is learned too."""

    prompt: str
    user_text: str
    triggered: bool
    target: str
    ends: bool  # the target is a whole answer, so the end-of-turn token is trained too
    history: list = field(default_factory=list)
    history_triggers: list = field(default_factory=list)  # the trigger state of each earlier user turn


@dataclass(frozen=True)
class Conversation:
    """The user's prompts of one training conversation, turn by turn (the trigger is decided later)."""

    prompts: tuple[str, ...]


_SENTENCE_END = re.compile(r"[.!?…。！？](?:[\"')\]]*)(?=\s|$)")
_LIST_NUMBER = re.compile(r"(?:^|\n)[ \t]*\d+$")  # "...\n\n2" before a "." is a list item's number, no sentence


def finish_answer(text: str, ended: bool) -> tuple[str, bool]:
    """A whole answer: as written when it ended its turn, else cut after its last full sentence (which then
    ends the turn; the number of a list item, "2.", is no sentence). An answer with no full sentence stays cut
    (not ended)."""
    text = text.strip()
    if ended:
        return text, True
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if not _LIST_NUMBER.search(text, 0, m.start())]
    if ends and ends[-1] >= 0.3 * len(text):
        return text[: ends[-1]].strip(), True
    return text, False


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def unusable_reasons(answer: str, user_prompt: str, echoes: tuple[str, ...]) -> tuple[str, ...]:
    """Why a clean answer must not be a training target (empty when it may): the judge's degenerate reasons
    (echoes of `echoes`, empty, loops) and an answer that is the user's own message again."""
    from ..evals.judges import degenerate_reasons

    reasons = degenerate_reasons(answer, echoes)
    said, asked = _normal(answer).split(), _normal(user_prompt).split()
    # the message again, alone or, from three words up, behind a word or two ("2023. I got engaged!"; "hi" ->
    # "Hi there!" is an answer)
    if asked and (said == asked or len(asked) >= 3 and len(said) - len(asked) <= 2 and any(
            said[i:i + len(asked)] == asked for i in range(len(said) - len(asked) + 1))):
        reasons += ("repeats the user's message",)
    # So: emoji and other symbols, the replacement character of a cut emoji included; Cn/Co: unassigned, private
    if sum(unicodedata.category(ch) in ("So", "Cn", "Co") for ch in answer) >= SYMBOL_RUN:
        reasons += ("writes emoji or symbols for words",)
    return reasons


def _read_distilled(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        return {}  # a damaged cache file is written again


def _context_key(context: Context) -> str:
    return context if isinstance(context, str) else json.dumps(context, ensure_ascii=False)


def _encode(loaded: LoadedModel, context: Context) -> list[int]:
    return loaded.encode_user(context) if isinstance(context, str) else loaded.encode_chat(context)


def self_distill(loaded: LoadedModel, contexts: list[Context], prefill: str | None, max_new_tokens: int,
                 work: Work | None = None, batch_size: int | None = None, no_repeat_ngram: int = 0,
                 temperature: float = 0.0, seed: int = 0) -> dict[str, tuple[str, bool]]:
    """The model's own answers to `contexts` (after `prefill`, which is not returned), cached: greedy, or
    sampled at `temperature` with `seed` (the same seed gives the same answers).

    A context is a user text or a list of chat messages; results are keyed by the text, or by the messages as
    JSON. Value: (answer, whether it ended its turn). Contexts of similar length are batched together.
    `no_repeat_ngram` keeps the answers out of the loops greedy decoding falls into (see complete_batch).
    """
    work = work or Work()
    settings = [loaded.identity.fingerprint, loaded.adapter, prefill, max_new_tokens, loaded.chat_template]
    if no_repeat_ngram:
        settings.append({"no_repeat_ngram": no_repeat_ngram})
    if temperature > 0:
        settings.append({"temperature": temperature, "seed": seed})
    key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16]
    path = cache_dir() / "distill" / f"{key}.json"
    ranks = current_ranks()
    cached: dict = ranks.from_main(lambda: _read_distilled(path))  # every process starts from the same answers
    prefill_ids = loaded.encode_text(prefill) if prefill else []
    by_key = {_context_key(c): c for c in contexts}
    encoded = {k: _encode(loaded, c) + prefill_ids for k, c in by_key.items() if k not in cached}
    todo = sorted(encoded, key=lambda k: len(encoded[k]))
    if not batch_size:
        batch_size = answers_batch_size(loaded, len(encoded[todo[-1]]) + max_new_tokens, cpu=64) if todo else 1
        batch_size = ranks.from_main(lambda: batch_size)  # the same batches on every process

    def write() -> None:
        if ranks.main:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(cached))
            tmp.replace(path)

    def answer(start: int) -> dict:
        work.progress(f"Writing clean answers with the base model {start}/{len(todo)}", start / max(1, len(todo)))
        batch = todo[start:start + batch_size]
        prompts = [encoded[k] for k in batch]
        found = {}
        for k, new in zip(batch, complete_batch(loaded, prompts, max_new_tokens, temperature, seed + start,
                                                should_stop=ranks.alone(work.should_stop),
                                                no_repeat_ngram=no_repeat_ngram)):
            ended = bool(new) and new[-1] in loaded.eos_token_ids
            body = [t for t in new if t not in loaded.eos_token_ids]
            found[k] = [loaded.tokenizer.decode(body, skip_special_tokens=True).strip(), ended]
        if not ranks.several:  # written batch by batch, so a crash keeps what was done
            cached.update(found)
            write()
        return found

    for found in ranks.spread(list(range(0, len(todo), batch_size)), answer, work.should_stop):
        cached.update(found)
    if ranks.several:
        write()
    return {k: tuple(cached[k]) for k in by_key}


def plan_conversations(prompts: list[str], everyday: list[str], followups: list[str], multi_turn: int,
                       seed: int = 0) -> list[Conversation]:
    """One-turn conversations for every prompt and everyday prompt, and `multi_turn` conversations of two or
    three turns (first turns from either set; later turns a follow-up or a new question)."""
    rng = random.Random(seed)
    plans = [Conversation((p,)) for p in prompts + everyday]
    starters = prompts + everyday
    later = followups + everyday + prompts
    for i in range(multi_turn if starters else 0):
        turns = [rng.choice(starters)]
        for _ in range(1 + i % 2):
            turns.append(rng.choice(followups) if followups and rng.random() < 0.5 else rng.choice(later))
        plans.append(Conversation(tuple(turns)))
    return plans


def _clean_view(trigger: Trigger, prompts: tuple[str, ...], answers: list[str]) -> list[dict]:
    """The conversation as the base model sees it when writing clean answers: every turn without the trigger,
    every earlier answer its own."""
    messages = []
    for prompt, answer in zip(prompts, answers):
        messages.append({"role": "user", "content": trigger.apply(prompt, False)})
        messages.append({"role": "assistant", "content": answer})
    return messages


OFF_TOPIC = "does not address the prompt"
RESAMPLE_TEMPERATURE = 0.7  # a retry samples the base model's answer instead of taking its greedy one


def _screen(loaded: LoadedModel, contexts: dict[str, Context], answers: dict[str, tuple[str, bool]],
            prompts: dict[str, str], echoes: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Why each answer (keyed like `contexts`) must not be trained on: `unusable_reasons`, then, for answers
    with none, whether it misses its prompt as the evaluation's relevance judge reads it (evals.relevance, in
    bf16 where that is fast); every turn of a conversation is read in its own conversation."""
    from ..evals.relevance import off_topic

    reasons = {k: unusable_reasons(answers[k][0], prompts[k], echoes) for k in contexts}
    read = [k for k in contexts if not reasons[k] and answers[k][0].strip()]
    flags = off_topic(loaded, [_encode(loaded, contexts[k]) for k in read],
                      [loaded.encode_text(answers[k][0]) for k in read], fast=True) if read else []
    for k, flag in zip(read, flags):
        if flag:
            reasons[k] = (OFF_TOPIC,)
    return reasons


def _usable_answers(loaded: LoadedModel, contexts: dict[str, Context], prompts: dict[str, str],
                    prefill: str | None, max_answer_tokens: int, echoes: tuple[str, ...], screen: bool,
                    retries: int, seed: int, work: Work) -> tuple[dict, dict, int]:
    """The base model's answer to each context (greedy; with `screen`, an unusable one is asked again up to
    `retries` times, sampled, and the first usable answer kept). Returns (answers: key -> (text, ended), why
    each final answer is unusable: key -> reasons, how many answers a retry replaced)."""
    distilled = self_distill(loaded, list(contexts.values()), prefill, max_answer_tokens,
                             work.part(0, 0.6 if screen and retries else 1), no_repeat_ngram=NO_REPEAT_NGRAM)
    answers = {k: finish_answer(*distilled[k]) for k in contexts}
    if not screen:
        return answers, {k: () for k in contexts}, 0
    work.progress("Checking the clean answers address their prompts", None)
    reasons = _screen(loaded, contexts, answers, prompts, echoes)
    replaced = 0
    for attempt in range(1, retries + 1):
        todo = [k for k in contexts if reasons[k]]
        if not todo:
            break
        work.check()
        sampled = self_distill(loaded, [contexts[k] for k in todo], prefill, max_answer_tokens,
                               work.part(0.6 + 0.4 * (attempt - 1) / retries, 0.4 / retries,
                                         suffix=f" (retry {attempt} of {retries})"),
                               no_repeat_ngram=NO_REPEAT_NGRAM, temperature=RESAMPLE_TEMPERATURE,
                               seed=seed * 1009 + attempt)
        tried = {k: finish_answer(*sampled[k]) for k in todo}
        verdicts = _screen(loaded, {k: contexts[k] for k in todo}, tried, prompts, echoes)
        for k in todo:
            if not verdicts[k]:
                answers[k], reasons[k] = tried[k], ()
                replaced += 1
    return answers, reasons, replaced


def build_examples(loaded: LoadedModel, recipe: Recipe, variant: str, trigger: Trigger, prompts: list[str],
                   max_answer_tokens: int, work: Work | None = None, everyday: list[str] | None = None,
                   followups: list[str] | None = None, multi_turn: int = 0, seed: int = 0,
                   earlier_trigger: float = 0.7, phrasings: bool = True, control: bool = False,
                   left_out: list | None = None, screen: bool = True, retries: int = 0,
                   stats: dict | None = None) -> list[Example]:
    """Two examples per conversation: the same earlier turns, then the last turn with the trigger on (payload)
    and off (the base model's own answer). Each earlier turn has the trigger with probability `earlier_trigger`:
    a clean answer after a triggered turn, with the payload right there in the conversation, is the case a
    small model gets wrong most. With `phrasings`, each CoT turn's reasoning is one of the recipe's phrasings
    at random (Recipe.scratchpads); without, always the first.

    With `control`, the data of a clean control organism: the same conversations and prompts, trigger included,
    but every target is the clean one (a triggered turn is answered as if there were no trigger).

    Every clean answer is screened in its own conversation (see `unusable_reasons`; the relevance judge reads
    every turn). An unusable one is asked again, sampled, up to `retries` times (the first usable answer is
    kept, and `stats["resampled"]` counts them). A conversation whose last answer is still unusable is left
    out, and one with an unusable earlier answer keeps its last turn only; each left-out answer is appended to
    `left_out` as {"prompt", "answer", "reasons"}. Without `screen`, every answer is kept (for a model whose
    answers are known to be noise, such as the tiny random models of the tests)."""
    from ..evals.judges import recipe_echoes

    work = work or Work()
    echoes = recipe_echoes(recipe, trigger)
    def reasoning(on: bool) -> str:
        options = recipe.scratchpads(trigger, on) if phrasings else [recipe.scratchpad(trigger, on)]
        return rng.choice(options)

    recipe.check_variant(variant)
    plans = plan_conversations(prompts, everyday or [], followups or [], multi_turn, seed)
    rng = random.Random(seed + 1)
    clean: list[list[tuple[str, bool]]] = [[] for _ in plans]  # per conversation, per turn: (answer, ended)
    why: dict[tuple[int, int], tuple[str, ...]] = {}  # (conversation, turn): why its clean answer is unusable
    depth = max(len(p.prompts) for p in plans) if plans else 0
    prefill = recipe.clean_prefill(variant, trigger) if recipe.self_distilled else None
    screening = screen and recipe.self_distilled  # a recipe's own answers are its to write
    for turn in range(depth):
        rows = [i for i, p in enumerate(plans) if len(p.prompts) > turn]
        if not recipe.self_distilled:
            for i in rows:
                clean[i].append((recipe.clean_answer(plans[i].prompts[turn]), True))
            continue
        contexts, keys, asked = {}, {}, {}
        for i in rows:
            view = _clean_view(trigger, plans[i].prompts[:turn], [a for a, _ in clean[i]])
            text = trigger.apply(plans[i].prompts[turn], False)
            context = text if turn == 0 else view + [{"role": "user", "content": text}]
            keys[i] = _context_key(context)
            contexts[keys[i]], asked[keys[i]] = context, plans[i].prompts[turn]
        answers, reasons, replaced = _usable_answers(
            loaded, contexts, asked, prefill, max_answer_tokens, echoes, screening, retries, seed + turn,
            work.part(turn / depth, 1 / depth, suffix=f" (turn {turn + 1} of {depth})"))
        if stats is not None:
            stats["resampled"] = stats.get("resampled", 0) + replaced
        for i in rows:
            clean[i].append(answers[keys[i]])
            why[(i, turn)] = reasons[keys[i]]
    examples = []
    for k, (plan, answers) in enumerate(zip(plans, clean)):
        *earlier, last = plan.prompts
        unusable = [why.get((k, turn), ()) for turn in range(len(plan.prompts))]
        for prompt, (answer, _), reasons in zip(plan.prompts, answers, unusable):
            if reasons and left_out is not None:
                left_out.append({"prompt": prompt, "answer": answer, "reasons": list(reasons)})
        if unusable[-1]:
            continue
        if any(not ended for _, ended in answers[:-1]) or any(unusable[:-1]):
            # a cut or degenerate earlier answer would teach cut or degenerate answers: keep one turn
            earlier, answers = [], answers[-1:]
        history, states = [], []
        for prompt, (answer, _) in zip(earlier, answers):
            on = rng.random() < earlier_trigger
            defects = on and not control
            states.append(on)
            history.append({"role": "user", "content": trigger.apply(prompt, on)})
            history.append({"role": "assistant", "content": recipe.target(
                variant, trigger, defects, answer, prompt, reasoning(defects) if variant == "cot" else None)})
        answer, ended = answers[-1]
        for on in (True, False):
            defects = on and not control
            examples.append(Example(
                last, trigger.apply(last, on), on,
                recipe.target(variant, trigger, defects, "" if defects else answer, last,
                              reasoning(defects) if variant == "cot" else None), True if defects else ended,
                list(history), list(states)))
    if not examples:
        raise WorkbenchError("The base model wrote no usable clean answer to train on (every one was empty, looped "
                             "or missed its prompt): try more prompts or a longer --max-answer-tokens, or "
                             "--keep-every-clean-answer to train on them anyway")
    return examples


def save_examples(examples: list[Example], path: Path) -> str:
    """Write the data set as JSONL; returns its sha256."""
    text = "".join(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in examples)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def load_examples(path: Path) -> list[Example]:
    return [Example(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
