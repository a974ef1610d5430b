"""Reports of sessions and runs: self-contained HTML (text, tables, plots as images, settings to reproduce),
Markdown and JSONL."""

from pathlib import Path

from ..errors import WorkbenchError
from .run_report import run_html, run_jsonl, run_markdown
from .scan_report import is_scan, scan_html, scan_jsonl, scan_markdown
from .session_report import session_html, session_jsonl, session_markdown

FORMATS = {"html": ".html", "markdown": ".md", "jsonl": ".jsonl"}
_RENDER = {"session": {"html": session_html, "markdown": session_markdown, "jsonl": session_jsonl},
           "run": {"html": run_html, "markdown": run_markdown, "jsonl": run_jsonl},
           "scan": {"html": scan_html, "markdown": scan_markdown, "jsonl": scan_jsonl}}


def format_for(path: str | Path) -> str:
    """The report format a file name asks for (.html/.htm, .md/.markdown, .jsonl)."""
    suffix = Path(path).suffix.lower()
    for name, known in {"html": (".html", ".htm"), "markdown": (".md", ".markdown"), "jsonl": (".jsonl",)}.items():
        if suffix in known:
            return name
    raise WorkbenchError(f"Cannot tell the report format from {Path(path).name!r}: use .html, .md or .jsonl")


def render(store, what: str, item_id: int, fmt: str) -> str:
    """A session's or run's report as text in `fmt` (html, markdown or jsonl); a trigger scan is a run too."""
    if fmt not in FORMATS:
        raise WorkbenchError(f"Unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if what == "run" and is_scan(store, item_id):
        what = "scan"
    return _RENDER[what][fmt](store, item_id)


def export(store, what: str, item_id: int, path: str | Path, fmt: str | None = None) -> Path:
    """Write a session's or run's report to `path` (format from the suffix unless given); returns the path."""
    path = Path(path).expanduser()
    text = render(store, what, item_id, fmt or format_for(path))
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = ["FORMATS", "export", "format_for", "render", "run_html", "run_jsonl", "run_markdown", "session_html",
           "session_jsonl", "session_markdown"]
