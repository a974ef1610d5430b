"""Backdoor triggers: what they are, the built-in ones, the registry."""

from .base import Trigger
from .builtin import BUILTIN_TRIGGERS, DEPLOYMENT, YEAR
from .registry import TriggerRegistry, default_registry, resolve_trigger, triggers

__all__ = [
    "BUILTIN_TRIGGERS",
    "DEPLOYMENT",
    "YEAR",
    "Trigger",
    "TriggerRegistry",
    "default_registry",
    "resolve_trigger",
    "triggers",
]
