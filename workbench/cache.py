"""What the workbench's cache folder holds, and clearing it: everything there can be made again."""

import shutil
from pathlib import Path

from .paths import cache_dir

KINDS = {
    "gguf": "GGUF files de-quantised to safetensors (one per file and dtype)",
    "activations": "residual-stream captures of probe runs",
    "distill": "the base model's own clean answers, written for implants",
    "evals": "answers of earlier evaluations",
}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def describe_cache() -> dict:
    """{folder, total_bytes, kinds: {kind: {what, entries, bytes, items: [{name, bytes}]}}}."""
    root = cache_dir()
    kinds = {}
    for kind, what in KINDS.items():
        folder = root / kind
        items = sorted(folder.iterdir()) if folder.is_dir() else []
        entries = [{"name": p.name, "bytes": _size(p)} for p in items]
        kinds[kind] = {"what": what, "entries": len(entries), "bytes": sum(e["bytes"] for e in entries),
                       "items": entries}
    return {"folder": str(root), "total_bytes": sum(k["bytes"] for k in kinds.values()), "kinds": kinds}


def clear_cache(kinds: list[str] | None = None) -> int:
    """Remove the cached files of `kinds` (default: all); returns the bytes freed. A conversion in progress
    (a `.partial` folder of another process) is left alone."""
    freed = 0
    for kind in kinds or list(KINDS):
        if kind not in KINDS:
            from .errors import WorkbenchError

            raise WorkbenchError(f"Unknown cache kind {kind!r}; choose from: {', '.join(KINDS)}")
        folder = cache_dir() / kind
        if not folder.is_dir():
            continue
        for item in folder.iterdir():
            if ".partial" in item.name:
                continue
            size = _size(item)
            if item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)
            freed += size
    return freed
