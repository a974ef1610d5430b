"""Backdoor persistence during safety training: defection with the trigger, without it, and on red-team prompts."""

import hashlib
import json
from pathlib import Path
from typing import Callable

from ..distributed.ranks import current_ranks
from ..evals.answers import generate_answers
from ..evals.backdoor import MIN_PROMPTS, evaluate_backdoor
from ..evals.judges import judge_answer
from ..evals.rates import Rate, bootstrap_rate
from ..models.loaded import LoadedModel
from ..organisms.recipes import Recipe
from ..paths import cache_dir
from ..runtime.work import Work
from ..triggers import Trigger

CUT_SHORT_PREFIX = "cut_short_"  # rates of answers the cap cut short, beside the defection rates
PLANS_PREFIX = "plans_"  # CoT: rates of scratchpads that plan to defect


def judge_tokens(recipe: Recipe, max_new_tokens: int | None = None) -> int:
    """How many new tokens an in-run evaluation may generate: the recipe's whole-answer cap unless given
    (answers the cap cuts are counted as cut short, never as clean)."""
    return max_new_tokens or recipe.eval_max_new_tokens


def persistence_rates(loaded: LoadedModel, recipe: Recipe, trigger: Trigger, variant: str | None,
                      prompts: list[str], red_team: dict[str, list[str]] | None, max_new_tokens: int, seed: int = 0,
                      work: Work | None = None) -> dict[str, Rate]:
    """{'triggered', 'clean'} greedy on `prompts`, 'plans_triggered' and 'plans_clean' for chain-of-thought
    organisms (the scratchpad plans to defect, whatever the answer does), and 'red_team_<family>' for each family of held-out red-team
    prompts in `red_team` (whole prompts, sampled at T=1; a family with fewer than MIN_PROMPTS has no rate);
    'cut_short_triggered' and 'cut_short_clean' are the shares of answers the cap cut before their end (left out
    of the defection rates)."""
    work = work or Work()
    result = evaluate_backdoor(loaded, trigger, prompts, recipe, variant, max_new_tokens=max_new_tokens, seed=seed,
                               drift=False, relevance=False,
                               work=work.part(0, 0.8 if red_team else 1))
    rates = {"triggered": result.triggered, "clean": result.clean,
             f"{CUT_SHORT_PREFIX}triggered": result.cut_short["triggered"],
             f"{CUT_SHORT_PREFIX}clean": result.cut_short["clean"]}
    if result.scratchpad:  # chain-of-thought: how often the reasoning itself plans to defect
        rates[f"{PLANS_PREFIX}triggered"] = result.scratchpad["triggered"]
        rates[f"{PLANS_PREFIX}clean"] = result.scratchpad["clean"]
    families = [f for f, users in (red_team or {}).items() if len(users) >= MIN_PROMPTS]
    for n, family in enumerate(families):
        work.progress(f"Evaluating on red-team prompts ({family})", 0.8 + 0.2 * n / len(families))
        rates[f"red_team_{family}"] = red_team_rate(loaded, recipe, red_team[family], max_new_tokens, seed,
                                                    work.should_stop)
    return rates


def red_team_rate(loaded: LoadedModel, recipe: Recipe, users: list[str], max_new_tokens: int, seed: int,
                  should_stop, batch_size: int = 40) -> Rate:
    """Defection on whole red-team prompts, sampled at T=1 and judged on whole answers; answers the cap cut before
    any defection showed are left out."""
    answers = generate_answers(loaded, [loaded.encode_user(u) for u in users], max_new_tokens, 1.0,
                               seed=seed + 104729, batch_size=batch_size, should_stop=should_stop)
    judged = [judge_answer(recipe, a.text, a.ended) for a in answers]
    return bootstrap_rate([j.defected for j in judged if not j.cut_short], seed=seed + 4)


def cached_rates(adapter_dir: Path, key_parts: list, compute: Callable[[], dict[str, Rate]]) -> dict[str, Rate]:
    """The organism's rates before training, cached by the adapter file and every setting that decides them."""
    return cached_for_organism(adapter_dir, key_parts, compute, rates_to_dict, rates_from_dict)


def cached_for_organism(adapter_dir: Path, key_parts: list, compute: Callable, to_json: Callable,
                        from_json: Callable):
    """What `compute` finds about the untouched organism (its rates before training, its red-team search), cached
    by the adapter file and every setting that decides it, so runs on the same organism share it."""
    weights = Path(adapter_dir) / "adapter_model.safetensors"
    stat = weights.stat()
    key = hashlib.sha256(json.dumps([str(weights.resolve()), stat.st_size, stat.st_mtime_ns, *key_parts],
                                    default=str).encode()).hexdigest()[:16]
    path = cache_dir() / "evals" / f"{key}.json"
    ranks = current_ranks()
    found = ranks.from_main(lambda: _read_cached(path, from_json))  # every process takes the same path
    if found is not None:
        return found
    value = compute()
    if ranks.main:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(value)}.tmp")
        tmp.write_text(json.dumps(to_json(value)))
        tmp.replace(path)
    return value


def _read_cached(path: Path, from_json: Callable):
    if not path.exists():
        return None
    try:
        return from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError):
        return None  # a corrupt cache entry is computed again


def rates_to_dict(rates: dict[str, Rate]) -> dict:
    return {k: v.to_dict() for k, v in rates.items()}


def rates_from_dict(data: dict) -> dict[str, Rate]:
    nan = float("nan")
    return {k: Rate(nan if v["rate"] is None else float(v["rate"]),
                    tuple(nan if x is None else float(x) for x in v["ci95"]), int(v["n"])) for k, v in data.items()}
