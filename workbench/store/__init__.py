"""The SQLite session database: schema, migrations, sessions and messages."""

from .schema import SCHEMA_VERSION
from .export import session_jsonl, session_markdown
from .sessions import SessionStore

__all__ = ["SCHEMA_VERSION", "SessionStore", "session_jsonl", "session_markdown"]
