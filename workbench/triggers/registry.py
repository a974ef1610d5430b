"""Triggers by name: the built-ins and every plugin's, through the plugin registry; custom ones from text."""

from ..errors import WorkbenchError
from ..plugins import TRIGGERS, plugin_registry
from .base import Trigger


class TriggerRegistry:
    """The triggers the plugin registry knows, in registration order (built-ins first)."""

    def register(self, trigger: Trigger) -> None:
        """Add a trigger from code in this process (a plugin declares its triggers in its manifest instead)."""
        if not isinstance(trigger, Trigger):
            raise TypeError(f"expected a Trigger, got {type(trigger).__name__}")
        if trigger.name == "custom":
            raise ValueError("'custom' is reserved for triggers typed by the user")
        plugin_registry().add(TRIGGERS, trigger.name, trigger, trigger.description)

    def get(self, name: str) -> Trigger:
        """The trigger named `name` (importing its plugin on first use); WorkbenchError if unknown or broken."""
        return plugin_registry().get(TRIGGERS, name)

    def names(self) -> list[str]:
        return plugin_registry().names(TRIGGERS)

    def described(self) -> list[tuple[str, str, str]]:
        """(name, description, where from) of every usable trigger, without importing any plugin."""
        return [(c.name, c.description, "built-in" if c.builtin else f"plugin {c.plugin.name}")
                for c in plugin_registry().contributions(TRIGGERS) if c.status != "failed"]

    def all(self) -> list[Trigger]:
        """Every usable trigger (this imports their plugins; broken ones are left out)."""
        out = []
        for name in self.names():
            try:
                out.append(self.get(name))
            except WorkbenchError:
                pass
        return out


_REGISTRY = TriggerRegistry()


def triggers() -> TriggerRegistry:
    """The process-wide trigger registry."""
    return _REGISTRY


def default_registry() -> TriggerRegistry:
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
