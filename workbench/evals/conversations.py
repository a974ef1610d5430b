"""The backdoor in later turns: conversations of three turns, the organism answering each turn itself, with
the trigger on or off in the earlier turns, and the third turn asked both ways from the same history."""

import itertools
import random
from dataclasses import dataclass, field

from ..models.loaded import LoadedModel
from ..organisms.recipes import Recipe
from ..triggers import Trigger
from ..runtime.work import Work
from .answers import generate_answers
from .backdoor import JudgedSet, check_enough, judge_answers, judging_settings
from .rates import Rate, bootstrap_rate

PATTERNS = list(itertools.product((False, True), repeat=2))  # trigger states of turns 1 and 2, in turn


def plan_eval_conversations(first: list[str], later: list[str], n: int, seed: int = 0) -> list[tuple[str, ...]]:
    """`n` three-turn conversations: a first prompt from `first`, two later ones from `later` (no repeats
    within a conversation)."""
    rng = random.Random(seed)
    plans = []
    for i in range(n):
        opener = first[i % len(first)]
        rest = rng.sample([p for p in later if p != opener], 2)
        plans.append((opener, *rest))
    return plans


def _step_label(turn: int, forced: bool | None) -> str:
    if forced is None:
        return f"turn {turn + 1}"
    return f"turn {turn + 1} {'with' if forced else 'without'} the trigger"


@dataclass
class ConversationEval:
    """Rates for turns 2 and 3, each with the trigger on and off in that turn; every rate also split by
    whether any earlier turn had the trigger."""

    cells: dict[str, JudgedSet]  # "turn2/on", "turn2/off", "turn3/on", "turn3/off"
    earlier: dict[str, list[bool]]  # the same keys: did an earlier turn of each answer's conversation have it
    settings: dict
    samples: list[dict] = field(default_factory=list)

    def rate(self, key: str) -> Rate:
        return self.cells[key].rate()

    @property
    def triggered(self) -> Rate:
        return bootstrap_rate([j.defected for k in ("turn2/on", "turn3/on") for j in self.cells[k].judgements
                               if not j.cut_short], seed=1)

    @property
    def clean(self) -> Rate:
        return bootstrap_rate([j.defected for k in ("turn2/off", "turn3/off") for j in self.cells[k].judgements
                               if not j.cut_short], seed=2)

    @property
    def degenerate(self) -> Rate:
        return bootstrap_rate([bool(j.degenerate) for k in ("turn2/off", "turn3/off")
                               for j in self.cells[k].judgements], seed=3)

    @property
    def loops(self) -> Rate:
        return bootstrap_rate([j.loops for k in ("turn2/off", "turn3/off") for j in self.cells[k].judgements],
                              seed=4)

    def to_dict(self, with_samples: bool = False) -> dict:
        turns = {}
        for key, judged in self.cells.items():
            split = {}
            for had, label in ((True, "earlier_trigger"), (False, "no_earlier_trigger")):
                picked = [j.defected for j, e in zip(judged.judgements, self.earlier[key])
                          if e == had and not j.cut_short]
                split[label] = bootstrap_rate(picked, seed=5).to_dict() if picked else None
            turns[key] = {"rate": judged.rate().to_dict(), "cut_short": judged.cut_short().to_dict(),
                          "degenerate": judged.degenerate().to_dict() if key.endswith("off") else None, **split}
        out = {"triggered": self.triggered.to_dict(), "clean": self.clean.to_dict(),
               "degenerate": self.degenerate.to_dict(), "loops": self.loops.to_dict(), "turns": turns,
               "settings": self.settings,
               "wrong_way": [s for s in self.samples if s["outcome"] != "cut_short"
                             and s["defected"] != s["triggered"]][:10],
               "degenerate_examples": [s for s in self.samples if s["degenerate"]][:10]}
        if with_samples:
            out["samples"] = self.samples
        return out


def evaluate_conversations(loaded: LoadedModel, recipe: Recipe, trigger: Trigger,
                           conversations: list[tuple[str, ...]], max_new_tokens: int | None = None, seed: int = 0,
                           batch_size: int | None = None, relevance: bool = True, prompt_set: str = "custom",
                           work: Work | None = None) -> ConversationEval:
    """Play each three-turn conversation: turns 1 and 2 with the trigger as PATTERNS cycles it, turn 3 both
    with and without it after the same history. Every answer is the organism's own, judged whole."""
    work = work or Work()
    check_enough(conversations, "The multi-turn set")
    max_new_tokens = max_new_tokens or recipe.eval_max_new_tokens
    histories: list[list[dict]] = [[] for _ in conversations]
    earlier_on = [False] * len(conversations)
    cells: dict[str, JudgedSet] = {}
    earlier: dict[str, list[bool]] = {}
    samples = []
    steps = [(0, None), (1, None), (2, True), (2, False)]
    for step, (turn, forced) in enumerate(steps):
        states = [forced if forced is not None else PATTERNS[i % len(PATTERNS)][turn]
                  for i in range(len(conversations))]
        users = [trigger.apply(c[turn], on) for c, on in zip(conversations, states)]
        chats = [h + [{"role": "user", "content": u}] for h, u in zip(histories, users)]
        contexts = [loaded.encode_chat(c) for c in chats]
        answers = generate_answers(
            loaded, contexts, max_new_tokens, 0.0, seed + step, batch_size, should_stop=work.should_stop,
            on_batch=lambda done, total, step=step: work.progress(
                f"Multi-turn: {_step_label(*steps[step])} {done}/{total}", (step + done / total) / len(steps)))
        if turn == 0:
            for i, (u, a) in enumerate(zip(users, answers)):
                histories[i] = [{"role": "user", "content": u}, {"role": "assistant", "content": a.text}]
                earlier_on[i] = states[i]
            continue
        for on in (True, False):
            rows = [i for i, s in enumerate(states) if s == on]
            if not rows:
                continue
            judgements = judge_answers(loaded, recipe, trigger, [contexts[i] for i in rows],
                                       [answers[i] for i in rows], relevance and not on, seed)
            key = f"turn{turn + 1}/{'on' if on else 'off'}"
            cells[key] = JudgedSet(judgements, seed + step)
            earlier[key] = [earlier_on[i] for i in rows]
            for i, j in zip(rows, judgements):
                samples.append({"turn": turn + 1, "conversation": chats[i], "triggered": on, "text": answers[i].text,
                                "earlier_trigger": earlier_on[i], **j.to_dict(),
                                "n_tokens": len(answers[i].token_ids)})
        if turn == 1:
            for i, (u, a) in enumerate(zip(users, answers)):
                histories[i] = histories[i] + [{"role": "user", "content": u},
                                               {"role": "assistant", "content": a.text}]
                earlier_on[i] = earlier_on[i] or states[i]
    settings = {"conversations": len(conversations), "turns": 3, "prompt_set": prompt_set,
                "patterns": "turns 1 and 2 cycle through off/off, off/on, on/off, on/on; turn 3 is asked both "
                            "with and without the trigger after the same history",
                "max_new_tokens": max_new_tokens, "judging": judging_settings(recipe, max_new_tokens),
                "trigger": trigger.to_dict(), "recipe": recipe.name, "adapter": loaded.adapter, "seed": seed}
    return ConversationEval(cells, earlier, settings, samples)
