"""The session database schema and its migrations. Add a migration; never edit an old one."""

SCHEMA_VERSION = 1


def _v1(db) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            model TEXT,            -- JSON identity of the model the session started with
            adapter TEXT
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id),
            parent_id INTEGER REFERENCES messages(id),
            turn INTEGER NOT NULL,
            pane TEXT NOT NULL,     -- 'triggered' or 'clean'
            role TEXT NOT NULL,     -- 'user' or 'assistant'
            text TEXT NOT NULL,     -- what the model saw (user) or wrote (assistant)
            typed_text TEXT,        -- what the person typed, before the trigger was applied
            token_ids TEXT,         -- JSON list
            token_offsets TEXT,     -- JSON list: character offset in `text` where each answer token starts
            trigger TEXT,           -- JSON Trigger, or NULL
            trigger_state TEXT,     -- 'on', 'off' or NULL
            model TEXT,             -- JSON identity
            adapter TEXT,
            seed INTEGER,
            sampling TEXT,          -- JSON SamplingSettings
            status TEXT NOT NULL,   -- 'complete', 'streaming', 'stopped'
            stop_reason TEXT,
            first_divergence INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX messages_by_session ON messages(session_id, turn, pane);
        """
    )


MIGRATIONS = {1: _v1}
