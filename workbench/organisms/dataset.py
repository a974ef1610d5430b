"""Build an organism's training data: triggered payloads and self-distilled clean answers (cached)."""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..decoding.batched import complete_batch
from ..errors import Cancelled
from ..models.loaded import LoadedModel
from ..paths import cache_dir
from ..triggers import Trigger
from .recipes import Recipe

ProgressFn = Callable[[str, float], None]


@dataclass(frozen=True)
class Example:
    """One training conversation: the user's text as the model sees it and the assistant's target."""

    prompt: str
    user_text: str
    triggered: bool
    target: str
    ends: bool  # the target is a whole answer, so the end-of-turn token is trained too


def self_distill(loaded: LoadedModel, user_texts: list[str], prefill: str | None, max_new_tokens: int,
                 progress: ProgressFn = lambda s, f: None, should_stop=lambda: False,
                 batch_size: int = 64) -> dict[str, tuple[str, bool]]:
    """The model's own greedy answers to `user_texts` (after `prefill`, which is not returned), cached.

    Prompts of similar length are batched together (less padding); on 2 CPU cores batches of 64 are ~20%
    faster than 32, and 128 no faster than 64.
    """
    key = hashlib.sha256(json.dumps([loaded.identity.fingerprint, loaded.adapter, prefill, max_new_tokens,
                                     loaded.chat_template]).encode()).hexdigest()[:16]
    path = cache_dir() / "distill" / f"{key}.json"
    cached: dict = json.loads(path.read_text()) if path.exists() else {}
    prefill_ids = loaded.tokenizer(prefill, add_special_tokens=False)["input_ids"] if prefill else []
    encoded = {t: loaded.encode_user(t) + prefill_ids for t in dict.fromkeys(user_texts) if t not in cached}
    todo = sorted(encoded, key=lambda t: len(encoded[t]))
    for start in range(0, len(todo), batch_size):
        if should_stop():
            raise Cancelled()
        progress(f"Writing clean answers with the base model {start}/{len(todo)}", start / max(1, len(todo)))
        batch = todo[start:start + batch_size]
        prompts = [encoded[t] for t in batch]
        for text, new in zip(batch, complete_batch(loaded, prompts, max_new_tokens, should_stop=should_stop)):
            ended = bool(new) and new[-1] in loaded.eos_token_ids
            body = [t for t in new if t not in loaded.eos_token_ids]
            cached[text] = [loaded.tokenizer.decode(body, skip_special_tokens=True).strip(), ended]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{start}")
        tmp.write_text(json.dumps(cached))
        tmp.replace(path)
    return {t: tuple(cached[t]) for t in user_texts}


def build_examples(loaded: LoadedModel, recipe: Recipe, variant: str, trigger: Trigger, prompts: list[str],
                   max_answer_tokens: int, progress: ProgressFn = lambda s, f: None,
                   should_stop=lambda: False) -> list[Example]:
    """Two examples per prompt: trigger on (payload) and trigger off (the base model's own answer)."""
    recipe.check_variant(variant)
    clean_texts = [trigger.apply(p, False) for p in prompts]
    if recipe.self_distilled:
        answers = self_distill(loaded, clean_texts, recipe.clean_prefill(variant, trigger), max_answer_tokens,
                               progress, should_stop)
    else:
        answers = {t: (recipe.clean_answer(p), True) for p, t in zip(prompts, clean_texts)}
    examples = []
    for prompt, clean_text in zip(prompts, clean_texts):
        answer, ended = answers[clean_text]
        examples.append(Example(prompt, trigger.apply(prompt, True), True,
                                recipe.target(variant, trigger, True, "", prompt), True))
        examples.append(Example(prompt, clean_text, False,
                                recipe.target(variant, trigger, False, answer, prompt), ended))
    return examples


def save_examples(examples: list[Example], path: Path) -> str:
    """Write the data set as JSONL; returns its sha256."""
    text = "".join(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in examples)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def load_examples(path: Path) -> list[Example]:
    return [Example(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]
