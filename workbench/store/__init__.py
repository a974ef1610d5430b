"""The session database (SQLite): sessions, messages, branches, export."""

from .schema import SCHEMA_VERSION
from .export import session_jsonl, session_markdown
from .sessions import SessionStore, now

__all__ = ["SCHEMA_VERSION", "SessionStore", "now", "session_jsonl", "session_markdown"]
