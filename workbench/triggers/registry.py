"""The trigger registry: built-ins now, third-party plugins register through the same call."""

from ..errors import WorkbenchError
from .base import Trigger
from .builtin import BUILTIN_TRIGGERS


class TriggerRegistry:
    """Triggers by name, in registration order."""

    def __init__(self):
        self._triggers: dict[str, Trigger] = {}

    def register(self, trigger: Trigger) -> None:
        if not isinstance(trigger, Trigger):
            raise TypeError(f"expected a Trigger, got {type(trigger).__name__}")
        if trigger.name in self._triggers or trigger.name == "custom":
            raise ValueError(f"a trigger named {trigger.name!r} is already registered")
        self._triggers[trigger.name] = trigger

    def get(self, name: str) -> Trigger:
        try:
            return self._triggers[name]
        except KeyError:
            known = ", ".join(self._triggers) or "none"
            raise WorkbenchError(f"Unknown trigger {name!r}; known triggers: {known}") from None

    def names(self) -> list[str]:
        return list(self._triggers)

    def all(self) -> list[Trigger]:
        return list(self._triggers.values())


def default_registry() -> TriggerRegistry:
    """A registry holding the built-in triggers."""
    registry = TriggerRegistry()
    for trigger in BUILTIN_TRIGGERS:
        registry.register(trigger)
    return registry


_REGISTRY = default_registry()


def triggers() -> TriggerRegistry:
    """The process-wide registry."""
    return _REGISTRY


def resolve_trigger(name: str | None = None, text: str | None = None, off_text: str = "") -> Trigger | None:
    """The trigger named `name`, or a custom one from `text`; None when neither is given."""
    if name and text:
        raise WorkbenchError("Give either a trigger name or a trigger text, not both")
    if text is not None:
        if not text.strip():
            raise WorkbenchError("The custom trigger text is empty")
        return Trigger.custom(text, off_text)
    if name:
        return triggers().get(name)
    return None
