"""Where saved probes live (the user data dir), and which there are."""

from pathlib import Path

from ..paths import data_dir
from .probe import CARD, WEIGHTS


def probes_dir() -> Path:
    path = data_dir() / "probes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def saved_probes() -> list[Path]:
    """Folders of saved probes, newest first."""
    found = [p for p in probes_dir().iterdir() if (p / WEIGHTS).exists() and (p / CARD).exists()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
