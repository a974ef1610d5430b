"""An organism judged as a stranger would try it: held-out prompts of its recipe, short everyday prompts it
never saw, and later turns of conversations; whole answers, leak and degenerate rates with intervals."""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from ..distributed.ranks import current_ranks
from ..models.adapters import adapter_view, base_model_view
from ..models.loaded import LoadedModel
from ..paths import cache_dir
from ..organisms.prompt_sets import load_prompt_set, split_prompts
from ..organisms.recipes import Recipe
from ..triggers import Trigger
from ..runtime.work import Work
from .backdoor import BackdoorEval, evaluate_backdoor, judging_settings
from .conversations import ConversationEval, evaluate_conversations, plan_eval_conversations
from .rates import bootstrap_rate

HELD_OUT, EVERYDAY, MULTI_TURN = "held_out", "everyday", "multi_turn"
SETS = (HELD_OUT, EVERYDAY, MULTI_TURN)
SET_SOURCES = {HELD_OUT: "held-out prompts of the recipe's prompt set (never trained on)",
               EVERYDAY: "prompt set 'everyday': short everyday prompts, greetings, other languages (never trained on)",
               MULTI_TURN: "three-turn conversations: first turns from held-out and everyday prompts, later turns "
                           "from 'followups' and 'everyday' (never trained on)"}


@dataclass
class OrganismEval:
    sets: dict[str, BackdoorEval | ConversationEval]
    settings: dict
    samples: dict[str, list] = field(default_factory=dict)
    base: dict | None = None  # the same sets answered by the base model (see base_control)
    clean_control: dict | None = None  # the same sets answered by the clean control organism (see clean_control)

    def _clean_samples(self) -> list[dict]:
        return [s for ev in self.sets.values() for s in ev.samples if not s["triggered"]]

    def _pooled(self, triggered: bool) -> list[bool]:
        return [s["defected"] for ev in self.sets.values() for s in ev.samples
                if s["triggered"] == triggered and s["outcome"] != "cut_short"]

    def to_dict(self, with_samples: bool = False) -> dict:
        clean = self._clean_samples()
        out = {
            "triggered": bootstrap_rate(self._pooled(True), seed=1).to_dict(),
            "clean": bootstrap_rate(self._pooled(False), seed=2).to_dict(),
            "degenerate": bootstrap_rate([bool(s["degenerate"]) for s in clean], seed=3).to_dict(),
            "loops": bootstrap_rate([s["loops"] for s in clean], seed=5).to_dict(),
            "cut_short": bootstrap_rate([s["outcome"] == "cut_short" for ev in self.sets.values()
                                         for s in ev.samples], seed=4).to_dict(),
            "sets": {name: ev.to_dict(with_samples) for name, ev in self.sets.items()},
            "settings": self.settings,
        }
        for key, control in (("base", self.base), ("clean_control", self.clean_control)):
            if control:
                out[key] = control["all"]
                for name, ev in out["sets"].items():
                    ev[key] = control["sets"].get(name)
        if self.clean_control:
            out["settings"] = {**out["settings"], "clean_control": self.clean_control["adapter"]}
        return out


CONTROL_KEYS = ("triggered", "clean", "degenerate", "loops")


def evaluate_organism(loaded: LoadedModel, recipe: Recipe, trigger: Trigger, variant: str | None,
                      sets: tuple[str, ...] = SETS, n_held_out: int = 100, n_everyday: int | None = None,
                      n_conversations: int = 64, max_new_tokens: int | None = None, batch_size: int | None = None,
                      seed: int = 0, base_control: bool = False, clean_control: str | Path | None = None,
                      work: Work | None = None) -> OrganismEval:
    """Evaluate the loaded organism on each of `sets` (recipes that only answer their own prompts, such as
    code tasks, have the held-out set alone). With `base_control` and an adapter attached, the base model
    answers the same sets too and is judged the same way: its degenerate rate is the figure an organism's is
    read against (the base model's own habits, such as a stock answer to a greeting, count there too). With
    `clean_control` (an organism trained the same way without the backdoor: `implant --control`), it answers
    them too, which separates the backdoor's effects from fine-tuning's."""
    work = work or Work()
    max_new_tokens = max_new_tokens or recipe.eval_max_new_tokens
    if not recipe.answers_chat:
        sets = tuple(s for s in sets if s == HELD_OUT)
    base = base_control and loaded.adapter is not None
    args = (recipe, trigger, variant, sets, n_held_out, n_everyday, n_conversations, max_new_tokens, batch_size, seed)
    runs = 1 + base + bool(clean_control)
    result = _evaluate_sets(loaded, *args, work.part(0, 1 / runs))
    if base:
        result.base = _base_control(loaded, args, work.part(1 / runs, 1 / runs, prefix="Base model: "))
    if clean_control:
        result.clean_control = _clean_control(loaded, clean_control, args,
                                              work.part(1 - 1 / runs, 1 / runs, prefix="Clean control: "))
    return result


def _evaluate_sets(loaded, recipe, trigger, variant, sets, n_held_out, n_everyday, n_conversations, max_new_tokens,
                   batch_size, seed, work) -> OrganismEval:
    held_out = split_prompts(recipe.prompts())[1]
    results: dict[str, BackdoorEval | ConversationEval] = {}
    for k, name in enumerate(sets):
        part = work.part(k / len(sets), 1 / len(sets))
        if name == HELD_OUT:
            results[name] = evaluate_backdoor(loaded, trigger, held_out[:n_held_out], recipe, variant,
                                              max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed,
                                              drift=False, prompt_set="held_out", work=part)
        elif name == EVERYDAY:
            everyday = load_prompt_set("everyday")[:n_everyday]
            results[name] = evaluate_backdoor(loaded, trigger, everyday, recipe, variant,
                                              max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed,
                                              drift=False, prompt_set="everyday", work=part)
        elif name == MULTI_TURN:
            everyday = load_prompt_set("everyday")
            plans = plan_eval_conversations(held_out[:n_conversations // 2] + everyday,
                                            load_prompt_set("followups") + everyday, n_conversations, seed)
            results[name] = evaluate_conversations(loaded, recipe, trigger, plans, max_new_tokens, seed,
                                                   batch_size, prompt_set="multi_turn", work=part)
        else:
            raise ValueError(f"Unknown evaluation set {name!r}; choose from {', '.join(SETS)}")
    settings = {"sets": {name: SET_SOURCES[name] for name in results}, "variant": variant,
                "judging": judging_settings(recipe, max_new_tokens), "trigger": trigger.to_dict(),
                "recipe": recipe.name, "adapter": loaded.adapter, "seed": seed,
                "n": {name: (ev.settings.get("n") or ev.settings.get("conversations")) for name, ev in results.items()}}
    return OrganismEval(results, settings)


def _base_control(loaded: LoadedModel, args: tuple, work: Work) -> dict:
    """The base model's rates on the same sets, judged the same way: {"all": rates, "sets": {set: rates and
    up to 10 degenerate examples}}. Cached per base model, recipe, trigger and settings (it does not depend on
    the organism)."""
    recipe, trigger, variant, *rest = args
    key = hashlib.sha256(json.dumps([loaded.identity.fingerprint, loaded.chat_template, recipe.name,
                                     trigger.to_dict(), rest, "v1"]).encode()).hexdigest()[:16]
    path = cache_dir() / "base_controls" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    ranks = current_ranks()
    if ranks.several:  # the processes measure it together (a lock would keep them apart): the main one keeps it
        control = ranks.from_main(lambda: _read_control(path))
        if control is None:
            with base_model_view(loaded):
                control = _control_rates(_evaluate_sets(loaded, *args, work).to_dict())
            if ranks.main:
                path.write_text(json.dumps(control))
        return control
    with FileLock(str(path) + ".lock"):  # two implants at once: one measures, the other reads what it found
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # not measured yet, or a damaged file: measure again
        with base_model_view(loaded):
            control = _control_rates(_evaluate_sets(loaded, *args, work).to_dict())
        path.write_text(json.dumps(control))
    return control


def _read_control(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _control_rates(evaluation: dict) -> dict:
    return {"all": {k: evaluation[k] for k in CONTROL_KEYS},
            "sets": {name: {**{k: ev[k] for k in CONTROL_KEYS}, "degenerate_examples": ev["degenerate_examples"]}
                     for name, ev in evaluation["sets"].items()}}


def _clean_control(loaded: LoadedModel, control: str | Path, args: tuple, work: Work) -> dict:
    """The clean control organism's rates on the same sets, judged the same way (the keys of the base
    control, and its adapter); the loaded model's own adapter is attached again after."""
    with adapter_view(loaded, control):
        return {"adapter": loaded.adapter, **_control_rates(_evaluate_sets(loaded, *args, work).to_dict())}
