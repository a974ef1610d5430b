"""Read and write runs in the session database: settings, status, metrics over steps, checkpoints."""

import json
import os

from ..errors import WorkbenchError
from .sessions import SessionStore, now

FINISHED = ("finished", "cancelled", "failed", "interrupted")


class RunStore:
    """Runs in the same SQLite file (and under the same lock) as the sessions of `store`."""

    def __init__(self, store: SessionStore):
        self.store = store
        self.db = store.db
        self._lock = store._lock

    def create_run(self, kind: str, name: str, organism: str | None, method: str | None, settings: dict,
                   out_dir: str | None) -> int:
        stamp = now()
        with self._lock:
            return int(self.db["runs"].insert({
                "kind": kind, "name": name, "organism": organism, "method": method,
                "settings": json.dumps(settings), "out_dir": out_dir, "status": "running", "pid": os.getpid(),
                "created_at": stamp, "updated_at": stamp}).last_pk)

    def set_status(self, run_id: int, status: str, message: str | None = None, result: dict | None = None) -> None:
        fields = {"status": status, "updated_at": now(), "message": message}
        if status == "running":
            fields["pid"] = os.getpid()
        if result is not None:
            fields["result"] = json.dumps(result)
        with self._lock:
            self.db["runs"].update(run_id, fields)

    def add_metric(self, run_id: int, name: str, step: int, value: float, lo: float | None = None,
                   hi: float | None = None, n: int | None = None) -> None:
        with self._lock:
            self.db["run_metrics"].insert({"run_id": run_id, "name": name, "step": step, "value": value, "lo": lo,
                                           "hi": hi, "n": n}, replace=True)
            self.db["runs"].update(run_id, {"updated_at": now()})

    def add_checkpoint(self, run_id: int, step: int, path: str) -> None:
        with self._lock:
            self.db["run_checkpoints"].insert({"run_id": run_id, "step": step, "path": path, "created_at": now()},
                                              replace=True)

    def forget_after(self, run_id: int, step: int) -> None:
        """Drop metrics and checkpoints past `step` (a resume goes on from the checkpoint at `step`)."""
        with self._lock:
            self.db.execute("DELETE FROM run_metrics WHERE run_id = ? AND step > ?", [run_id, step])
            self.db.execute("DELETE FROM run_checkpoints WHERE run_id = ? AND step > ?", [run_id, step])

    def _query(self, sql: str, args: list) -> list[dict]:
        with self._lock:  # one connection shared with the model thread's writes
            return list(self.db.query(sql, args))

    def get_run(self, run_id: int) -> dict:
        rows = self._query("SELECT * FROM runs WHERE id = ?", [run_id])
        if not rows:
            raise WorkbenchError(f"No run {run_id} in {self.store.path}")
        return _decode(self._interrupted(rows[0]))

    def list_runs(self, kind: str | None = None) -> list[dict]:
        """Newest first; a 'running' run whose process is gone is reported as 'interrupted'."""
        sql, args = "SELECT * FROM runs", []
        if kind:
            sql, args = sql + " WHERE kind = ?", [kind]
        return [_decode(self._interrupted(r)) for r in self._query(sql + " ORDER BY id DESC", args)]

    def metrics(self, run_id: int) -> dict[str, list[dict]]:
        """{metric name: [{step, value, lo, hi, n}] in step order}."""
        out: dict[str, list[dict]] = {}
        for row in self._query("SELECT name, step, value, lo, hi, n FROM run_metrics WHERE run_id = ? "
                               "ORDER BY name, step", [run_id]):
            out.setdefault(row.pop("name"), []).append(row)
        return out

    def checkpoints(self, run_id: int) -> list[dict]:
        return self._query("SELECT step, path, created_at FROM run_checkpoints WHERE run_id = ? ORDER BY step",
                           [run_id])

    def delete_run(self, run_id: int) -> None:
        with self._lock:
            self.db.execute("BEGIN")
            try:
                for table in ("run_metrics", "run_checkpoints"):
                    self.db.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
                self.db.execute("DELETE FROM runs WHERE id = ?", [run_id])
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    @staticmethod
    def _interrupted(row: dict) -> dict:
        if row["status"] == "running" and not _alive(row.get("pid")):
            row = {**row, "status": "interrupted"}
        return row


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _decode(row: dict) -> dict:
    row = dict(row)
    for key in ("settings", "result"):
        if row.get(key):
            row[key] = json.loads(row[key])
    return row
