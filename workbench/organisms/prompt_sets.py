"""Shipped prompt sets and their fixed train / held-out split."""

import hashlib
from pathlib import Path

from ..errors import WorkbenchError
from ..paths import resources_dir
from ..textio import read_text_file

HELD_OUT_EVERY = 5  # about one prompt in five is held out, decided by its hash (stable as the set grows)


def prompt_set_path(name: str = "user_prompts") -> Path:
    return resources_dir() / "prompts" / f"{name}.txt"


def read_prompts(path: str | Path) -> list[str]:
    """One prompt per non-empty line."""
    path = Path(path)
    text = read_text_file(path, "Prompt file")
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise WorkbenchError(f"Prompt file {path} has no prompts")
    return prompts


def builtin_user_prompts() -> list[str]:
    """The shipped user prompts (the built-in prompt set `user_prompts`): topics x phrasings, split into
    training and held-out prompts by hash."""
    return read_prompts(prompt_set_path("user_prompts"))


def builtin_everyday() -> list[str]:
    """Short everyday prompts (greetings, one-liners, requests, other languages) no organism trains on."""
    return read_prompts(prompt_set_path("everyday"))


def builtin_everyday_train() -> list[str]:
    """Short everyday prompts organisms train on (none of them is in `everyday`)."""
    return read_prompts(prompt_set_path("everyday_train"))


def builtin_followups() -> list[str]:
    """Follow-up turns ("Go on.", "Any examples?") for multi-turn evaluation; no organism trains on them."""
    return read_prompts(prompt_set_path("followups"))


def builtin_followups_train() -> list[str]:
    """Follow-up turns organisms train on (none of them is in `followups`)."""
    return read_prompts(prompt_set_path("followups_train"))


def load_prompt_set(name: str = "user_prompts") -> list[str]:
    """A prompt set by name: the built-in one or a plugin's (a copy; WorkbenchError if unknown or broken)."""
    from ..plugins import PROMPT_SETS, plugin_registry

    return list(plugin_registry().get(PROMPT_SETS, name))


def is_held_out(prompt: str) -> bool:
    return _hash(prompt) % HELD_OUT_EVERY == 0


MIN_HELD_OUT = 10  # the fewest prompts a rate with an interval is given for (evals.backdoor.MIN_PROMPTS)


def _hash(prompt: str) -> int:
    return int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)


def split_prompts(prompts: list[str]) -> tuple[list[str], list[str]]:
    """(train, held_out), in the set's order: a fifth held out by hash, topped up (by hash order) to
    MIN_HELD_OUT in small sets such as the code tasks, so that their held-out rate can have an interval."""
    held = {p for p in prompts if is_held_out(p)}
    if len(held) < MIN_HELD_OUT and len(prompts) >= 3 * MIN_HELD_OUT:
        rest = sorted((p for p in prompts if p not in held), key=_hash)
        held |= set(rest[: MIN_HELD_OUT - len(held)])
    train = [p for p in prompts if p not in held]
    held_out = [p for p in prompts if p in held]
    return train, held_out
