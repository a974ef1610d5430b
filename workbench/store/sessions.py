"""Read and write chat sessions in SQLite (sqlite-utils, WAL). Safe to share between threads."""

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from ..errors import WorkbenchError, explain
from .schema import MIGRATIONS, SCHEMA_VERSION

JSON_COLUMNS = ("token_ids", "token_offsets", "trigger", "model", "sampling", "spans", "edit", "breakpoints",
                "probe")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class SessionStore:
    """The session database: sessions and messages (per turn: one user row per pane, and per pane one
    assistant row per branch; the active branch is the one shown and continued)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self._lock = threading.RLock()
        if self.path.exists() and self.path.is_dir():
            raise WorkbenchError(f"{self.path} is a folder, not a session database")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=5.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise WorkbenchError(f"Cannot open session database {self.path}: {exc}") from exc
        self.db = sqlite_utils.Database(conn)
        try:
            version = self._read_version()
            if version > SCHEMA_VERSION:
                raise WorkbenchError(
                    f"{self.path} was written by a newer workbench (schema {version}; this one knows "
                    f"up to {SCHEMA_VERSION}); it was left untouched"
                )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate(version)
            self.db.execute("BEGIN IMMEDIATE")  # a read-only or locked file fails here, not at the first save
            self.db.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            conn.close()
            known = explain(exc)
            if known and "damaged" not in known:  # locked or read-only: the file itself is fine
                raise WorkbenchError(f"Cannot open {self.path}: {known}") from exc
            raise WorkbenchError(f"{self.path} is not a usable session database: {exc}") from exc
        except WorkbenchError:
            conn.close()
            raise

    # schema -------------------------------------------------------------------------------
    def _read_version(self) -> int:
        tables = set(self.db.table_names())  # raises DatabaseError for a file that is not SQLite
        if "meta" not in tables:
            if tables:
                raise WorkbenchError(f"{self.path} is a SQLite file but not a workbench session database")
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._lock:
                self.db.execute("BEGIN")
                try:
                    MIGRATIONS[target](self.db)
                    self.db.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", [str(target)]
                    )
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        return self._read_version()

    # writes -------------------------------------------------------------------------------
    def create_session(self, title: str, model: dict | None = None, adapter: str | None = None) -> int:
        stamp = now()
        with self._lock:
            table = self.db["sessions"].insert(
                {"title": title[:120], "created_at": stamp, "updated_at": stamp, "model": model, "adapter": adapter}
            )
            return int(table.last_pk)

    def add_message(self, session_id: int, turn: int, pane: str, role: str, text: str, **fields) -> int:
        """Insert one message now (before generation finishes, so nothing is lost on a crash)."""
        record = _record(session_id, turn, pane, role, text, fields)
        with self._lock:
            pk = int(self.db["messages"].insert(record).last_pk)
            self.db["sessions"].update(session_id, {"updated_at": record["updated_at"]})
            return pk

    def update_message(self, message_id: int, **fields) -> None:
        fields["updated_at"] = now()
        with self._lock:
            self.db["messages"].update(message_id, fields)

    def add_branch(self, parent_id: int, text: str, **fields) -> int:
        """A new answer edited from message `parent_id`; it becomes the active branch of its turn and pane."""
        parent = self.get_message(parent_id)
        if parent["role"] != "assistant":
            raise WorkbenchError("Only an assistant's answer can be edited into a branch")
        inherited = {k: parent[k] for k in ("trigger", "trigger_state", "model", "adapter", "seed", "sampling")}
        record = _record(parent["session_id"], parent["turn"], parent["pane"], "assistant", text,
                         {**inherited, **fields, "parent_id": parent_id, "active": 1})
        columns = list(record)
        unknown = set(columns) - set(self.db["messages"].columns_dict)
        if unknown:  # column names cannot be SQL parameters, so only known ones reach the statement
            raise WorkbenchError(f"Unknown message fields: {', '.join(sorted(unknown))}")
        values = [json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for v in record.values()]
        with self._lock:  # one transaction: the new branch is active and its siblings are not
            self.db.execute("BEGIN")
            try:
                self.db.execute(
                    "UPDATE messages SET active = 0 WHERE session_id = ? AND turn = ? AND pane = ? AND role = ?",
                    [parent["session_id"], parent["turn"], parent["pane"], "assistant"])
                cursor = self.db.execute(
                    f"INSERT INTO messages ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", values)
                self.db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?",
                                [record["updated_at"], parent["session_id"]])
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        return int(cursor.lastrowid)

    def set_active(self, message_id: int) -> None:
        """Show and continue branch `message_id` in its turn and pane."""
        message = self.get_message(message_id)
        with self._lock:  # one statement, so atomic
            self.db.execute(
                "UPDATE messages SET active = (id = ?) WHERE session_id = ? AND turn = ? AND pane = ? AND role = ?",
                [message_id, message["session_id"], message["turn"], message["pane"], message["role"]])

    def rename_session(self, session_id: int, title: str) -> None:
        with self._lock:
            self.db["sessions"].update(session_id, {"title": title[:120]})

    def delete_session(self, session_id: int) -> None:
        with self._lock:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM messages WHERE session_id = ?", [session_id])
            self.db.execute("DELETE FROM sessions WHERE id = ?", [session_id])
            self.db.execute("COMMIT")

    # reads --------------------------------------------------------------------------------
    def list_sessions(self) -> list[dict]:
        """Sessions, newest first, with their turn count."""
        with self._lock:
            rows = self.db.query(
                """SELECT s.id, s.title, s.created_at, s.updated_at, s.model, s.adapter,
                          COALESCE(MAX(m.turn) + 1, 0) AS turns
                   FROM sessions s LEFT JOIN messages m ON m.session_id = s.id
                   GROUP BY s.id ORDER BY s.updated_at DESC, s.id DESC"""
            )
            return [_decode(row) for row in rows]

    def get_session(self, session_id: int) -> dict:
        with self._lock:
            rows = list(self.db.query("SELECT * FROM sessions WHERE id = ?", [session_id]))
        if not rows:
            raise WorkbenchError(f"No session with id {session_id}")
        return _decode(rows[0])

    def messages(self, session_id: int, pane: str | None = None, all_branches: bool = False) -> list[dict]:
        """A session's messages in order (turn, then user before assistant); active branches only unless
        `all_branches`."""
        sql = "SELECT * FROM messages WHERE session_id = ?" + ("" if all_branches else " AND active = 1")
        params: list = [session_id]
        if pane is not None:
            sql += " AND pane = ?"
            params.append(pane)
        sql += " ORDER BY turn, pane, CASE role WHEN 'user' THEN 0 ELSE 1 END, id"
        with self._lock:
            return [_decode(row) for row in self.db.query(sql, params)]

    def get_message(self, message_id: int) -> dict:
        with self._lock:
            rows = list(self.db.query("SELECT * FROM messages WHERE id = ?", [message_id]))
        if not rows:
            raise WorkbenchError(f"No message with id {message_id}")
        return _decode(rows[0])

    def branches(self, session_id: int, turn: int, pane: str) -> list[dict]:
        """Every answer of one turn and pane (original and edits), oldest first; parent_id links the tree."""
        with self._lock:
            rows = self.db.query(
                "SELECT * FROM messages WHERE session_id = ? AND turn = ? AND pane = ? AND role = 'assistant' "
                "ORDER BY id", [session_id, turn, pane])
            return [_decode(row) for row in rows]

    def prompt_of(self, message_id: int) -> dict:
        """The user message an answer replies to (its token_ids are the whole prompt the model saw)."""
        message = self.get_message(message_id)
        with self._lock:
            rows = list(self.db.query(
                "SELECT * FROM messages WHERE session_id = ? AND turn = ? AND pane = ? AND role = 'user' "
                "ORDER BY id LIMIT 1", [message["session_id"], message["turn"], message["pane"]]))
        if not rows:
            raise WorkbenchError(f"Message {message_id} has no prompt in the database")
        return _decode(rows[0])

    def history(self, session_id: int, pane: str) -> list[dict]:
        """The chat messages ({role, content}) of one pane, ready for a chat template."""
        return [{"role": m["role"], "content": m["text"]} for m in self.messages(session_id, pane)]

    def next_turn(self, session_id: int) -> int:
        with self._lock:
            row = self.db.execute("SELECT MAX(turn) FROM messages WHERE session_id = ?", [session_id]).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()


def _record(session_id: int, turn: int, pane: str, role: str, text: str, fields: dict) -> dict:
    stamp = now()
    fields = dict(fields)
    return {"session_id": session_id, "turn": turn, "pane": pane, "role": role, "text": text,
            "status": fields.pop("status", "complete"), "created_at": stamp, "updated_at": stamp, **fields}


def _decode(row: dict) -> dict:
    row = dict(row)
    for column in JSON_COLUMNS:
        value = row.get(column)
        if isinstance(value, str) and value:
            try:
                row[column] = json.loads(value)
            except ValueError:
                pass
    return row
