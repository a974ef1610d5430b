"""The session database (SQLite): sessions, messages, branches, runs."""

from .schema import SCHEMA_VERSION
from .sessions import SessionStore, now

__all__ = ["SCHEMA_VERSION", "SessionStore", "now"]
