"""Keep a trigger scan in the session database: a row in the runs table (kind 'scan') holding the whole report,
so that `runs` lists it and `runs --export ID` writes it as HTML, Markdown or JSONL."""

from ..store import SessionStore
from ..store.runs import RunStore
from .scan import ScanReport

KIND = "scan"


def record_scan(store: SessionStore, report: ScanReport, model: str) -> int:
    """Save `report` (the scan of `model`); returns its run id."""
    runs = RunStore(store)
    name = f"scan of {report.adapter or model}"
    run_id = runs.create_run(KIND, name, report.adapter, "trigger scan", report.settings, None)
    runs.set_status(run_id, "finished", f"{report.verdict} ({report.seconds / 60:.1f} min)", report.to_dict())
    return run_id
