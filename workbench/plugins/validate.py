"""What each kind of contribution must be, checked when it loads (inside the plugin's time limit)."""

import importlib
from dataclasses import dataclass, replace
from typing import Callable

from .api import PROBE_KINDS, PROMPT_SETS, RECIPES, REWARDS, TRIGGERS
from .guard import PluginError
from .manifest import ContributionSpec


@dataclass(frozen=True)
class ProbeKind:
    """A way to fit one probe direction per layer (see docs/plugins.md)."""

    name: str
    fits_on: str  # "contrast": fit(defect, comply); "labelled": fit(acts, labels)
    fit: Callable
    description: str = ""


def import_object(python_name: str):
    """The object `package.module:attribute` names (importing the module)."""
    module_name, _, attr = python_name.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{module_name} has no attribute {attr!r}") from None
    return obj


def load_value(spec: ContributionSpec, folder, source_label: str):
    """Import (if code) and check one contribution; PluginError says what is wrong with it."""
    obj = import_object(spec.python_name) if spec.python_name else None
    return check_value(spec, obj, folder, source_label)


def check_value(spec: ContributionSpec, obj, folder, source_label: str):
    return CHECKS[spec.kind](spec, obj, folder, source_label)


def _trigger(spec, obj, folder, source_label):
    from ..triggers.base import Trigger

    if obj is None:
        obj = Trigger(name=spec.name, description=spec.description or f"'{spec.data['on_text']}' before the prompt",
                      **spec.data)
    if not isinstance(obj, Trigger):
        raise PluginError(f"expected a workbench.triggers.Trigger, got {type(obj).__name__}")
    if obj.name != spec.name:
        raise PluginError(f"the manifest calls it {spec.name!r} but the Trigger is named {obj.name!r}")
    for on in (True, False):
        text = obj.apply("Hello", on)
        if not isinstance(text, str):
            raise PluginError(f"Trigger.apply returned {type(text).__name__}, not text")
    return obj if obj.source == source_label else replace(obj, source=source_label)


def _reward(spec, obj, folder, source_label):
    if not callable(obj):
        raise PluginError(f"a reward must be callable (loaded, prompts, answers) -> list of floats; "
                          f"got {type(obj).__name__}")
    return obj


def _probe_kind(spec, obj, folder, source_label):
    if not callable(obj):
        raise PluginError(f"a probe kind must be a callable fit function; got {type(obj).__name__}")
    return ProbeKind(spec.name, spec.data.get("fits_on", "contrast"), obj, spec.description)


def _recipe(spec, obj, folder, source_label):
    from ..organisms.recipes import VARIANTS, Recipe
    from ..triggers.base import Trigger

    if not isinstance(obj, Recipe):
        raise PluginError(f"expected a workbench.organisms.Recipe, got {type(obj).__name__}")
    if obj.name != spec.name:
        raise PluginError(f"the manifest calls it {spec.name!r} but the Recipe is named {obj.name!r}")
    if not obj.variants or not set(obj.variants) <= set(VARIANTS):
        raise PluginError(f"variants must be some of {', '.join(VARIANTS)}; got {obj.variants!r}")
    if not isinstance(obj.default_trigger, Trigger):
        raise PluginError("default_trigger must be a Trigger")
    prompts = obj.prompts()
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise PluginError("Recipe.prompts must return a non-empty list of strings")
    checks = {"payload": obj.payload(prompts[0]), "scratchpad": obj.scratchpad(obj.default_trigger, True)}
    for name, value in checks.items():
        if not isinstance(value, str):
            raise PluginError(f"Recipe.{name} returned {type(value).__name__}, not text")
    if not isinstance(obj.defected(checks["payload"]), bool):
        raise PluginError("Recipe.defected must return True or False")
    return obj


def _prompt_set(spec, obj, folder, source_label):
    from ..organisms.prompt_sets import read_prompts

    if obj is None:
        return read_prompts(folder / spec.data["path"])
    prompts = obj() if callable(obj) else obj
    if not isinstance(prompts, (list, tuple)) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise PluginError("a prompt set must be a non-empty list of strings (or a function returning one)")
    prompts = [p.strip() for p in prompts if p.strip()]
    if not prompts:
        raise PluginError("the prompt set has only empty prompts")
    return prompts


CHECKS = {TRIGGERS: _trigger, REWARDS: _reward, PROBE_KINDS: _probe_kind, RECIPES: _recipe, PROMPT_SETS: _prompt_set}
