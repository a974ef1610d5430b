"""The session database schema and its migrations. Add a migration; never edit an old one."""

SCHEMA_VERSION = 4


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
            status TEXT NOT NULL,   -- 'complete', 'streaming', 'stopped', 'paused' (v2)
            stop_reason TEXT,
            first_divergence INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX messages_by_session ON messages(session_id, turn, pane);
        """
    )


def _v2(db) -> None:
    """Branches and provenance: an edited answer is a new message whose parent_id is the one it was edited
    from; `active` marks the branch shown and continued; `spans` says who wrote which characters."""
    db.executescript(
        """
        ALTER TABLE messages ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE messages ADD COLUMN spans TEXT;        -- JSON [{start, end, author, at?, replaced?}]
        ALTER TABLE messages ADD COLUMN edit TEXT;         -- JSON {start, replaced, inserted, kept_tokens, at}
        ALTER TABLE messages ADD COLUMN breakpoints TEXT;  -- JSON [Breakpoint]
        CREATE INDEX messages_by_parent ON messages(parent_id);
        """
    )


def _v3(db) -> None:
    """Live probe scores: the probe an answer was scored with and its per-layer score for every token."""
    db.executescript(
        """
        ALTER TABLE messages ADD COLUMN probe TEXT;  -- JSON {name, kind, layers, scores: [[per layer] | null]}
        """
    )


def _v4(db) -> None:
    """Runs (safety training): settings, status, metrics over steps with intervals, checkpoints."""
    db.executescript(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,        -- 'safety-train'
            name TEXT NOT NULL,
            organism TEXT,             -- the adapter it started from
            method TEXT,
            settings TEXT,             -- JSON config
            out_dir TEXT,
            status TEXT NOT NULL,      -- 'running', 'finished', 'cancelled', 'failed', 'interrupted'
            pid INTEGER,               -- the process running it (a dead one means the run was interrupted)
            message TEXT,
            result TEXT,               -- JSON: before/after table, red team
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE run_metrics (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            step INTEGER NOT NULL,
            value REAL,
            lo REAL,                   -- 95% interval, for rates
            hi REAL,
            n INTEGER,
            PRIMARY KEY (run_id, name, step)
        );
        CREATE TABLE run_checkpoints (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            path TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, step)
        );
        """
    )


MIGRATIONS = {1: _v1, 2: _v2, 3: _v3, 4: _v4}
