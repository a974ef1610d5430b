"""Models by their usual names ("Qwen/Qwen2.5-1.5B-Instruct"), found in the local Hugging Face cache
(HF_HOME / HF_HUB_CACHE). Nothing is ever downloaded: a name that is not in the cache is a clear error."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError

HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_hub_name(spec: str) -> bool:
    return bool(HUB_NAME.match(str(spec))) and not Path(str(spec)).expanduser().exists()


def cached_snapshot(name: str) -> Path:
    """The cached snapshot folder of model `name` (its main revision), or a clear error."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError) as exc:
        raise WorkbenchError(f"Model path not found: {name}, nor is {name} a model in the local Hugging Face "
                             f"cache ({hub_cache_dir()}); the workbench never downloads: fetch it with "
                             "`hf download` first, or give a folder") from exc


def hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


@dataclass(frozen=True)
class CachedModel:
    name: str
    path: str
    size_bytes: int
    architecture: str


def cached_causal_lms() -> list[CachedModel]:
    """Every causal LM in the local cache with safetensors weights: name, snapshot folder, size on disk."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(hub_cache_dir())
    except Exception:  # noqa: BLE001 - no cache yet, or one we cannot read: nothing to list
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for revision in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)[:1]:
            folder = Path(revision.snapshot_path)
            try:
                config = json.loads((folder / "config.json").read_text())
            except (OSError, ValueError):
                continue
            causal = [a for a in config.get("architectures") or [] if a.endswith(("ForCausalLM", "LMHeadModel"))]
            if causal and any(folder.glob("*.safetensors")):
                found.append(CachedModel(repo.repo_id, str(folder), int(revision.size_on_disk), causal[0]))
    return sorted(found, key=lambda m: m.name.lower())
