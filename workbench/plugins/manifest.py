"""Reading a plugin manifest: a small JSON file that names a plugin's contributions without importing it."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WorkbenchError
from .api import KINDS, PROBE_FITS_ON, PROMPT_SETS, PROBE_KINDS, SUPPORTED_API_VERSIONS, TRIGGERS

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PYTHON_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
DATA_TRIGGER_FIELDS = ("on_text", "off_text", "separator")


class ManifestError(WorkbenchError):
    """A manifest that cannot be used; the plugin is listed as failed with this message."""


@dataclass(frozen=True)
class ContributionSpec:
    kind: str
    name: str
    description: str
    python_name: str | None = None  # "package.module:attribute", imported on first use
    data: dict = field(default_factory=dict)  # what a contribution declares besides code (trigger texts, a file)


@dataclass(frozen=True)
class Manifest:
    name: str
    display_name: str
    api_version: int
    contributions: tuple[ContributionSpec, ...]
    folder: Path  # where relative paths in the manifest point


def read_manifest(path: str | Path) -> Manifest:
    """Parse and check a manifest file; ManifestError says what is wrong."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest {path.name} is not valid JSON: {exc}") from None
    return parse_manifest(raw, path.parent)


def parse_manifest(raw, folder: Path) -> Manifest:
    if not isinstance(raw, dict):
        raise ManifestError("a manifest is a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ManifestError(f"the manifest's 'name' must be lower-case letters, digits, '.', '_' or '-': {name!r}")
    version = raw.get("api_version")
    if version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_API_VERSIONS))
        raise ManifestError(f"plugin {name!r} needs plugin API {version!r}; this workbench supports {supported}")
    contributes = raw.get("contributes", {})
    if not isinstance(contributes, dict):
        raise ManifestError("'contributes' must be an object of lists")
    unknown = sorted(set(contributes) - set(KINDS))
    if unknown:
        raise ManifestError(f"unknown contribution kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    specs = []
    for kind in KINDS:
        entries = contributes.get(kind, [])
        if not isinstance(entries, list):
            raise ManifestError(f"'contributes.{kind}' must be a list")
        seen = set()
        for entry in entries:
            spec = _spec(kind, entry)
            if spec.name in seen:
                raise ManifestError(f"{kind} {spec.name!r} is declared twice")
            seen.add(spec.name)
            specs.append(spec)
    display = raw.get("display_name", name)
    return Manifest(name, str(display), version, tuple(specs), folder)


def _spec(kind: str, entry) -> ContributionSpec:
    if not isinstance(entry, dict):
        raise ManifestError(f"each entry of {kind} must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ManifestError(f"{kind}: bad name {name!r} (lower-case letters, digits, '.', '_' or '-')")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise ManifestError(f"{kind} {name!r}: 'description' must be text")
    python_name = entry.get("python_name")
    if python_name is not None and (not isinstance(python_name, str) or not PYTHON_NAME.match(python_name)):
        raise ManifestError(f"{kind} {name!r}: python_name must look like 'package.module:attribute'")
    data = {}
    if kind == TRIGGERS and python_name is None:
        if not isinstance(entry.get("on_text"), str) or not entry["on_text"].strip():
            raise ManifestError(f"trigger {name!r}: give a python_name or a non-empty 'on_text'")
        data = {k: entry[k] for k in DATA_TRIGGER_FIELDS if k in entry}
        if not all(isinstance(v, str) for v in data.values()):
            raise ManifestError(f"trigger {name!r}: on_text, off_text and separator must be text")
    elif kind == PROMPT_SETS and python_name is None:
        path = entry.get("path")
        if not isinstance(path, str) or not path or Path(path).is_absolute() or ".." in Path(path).parts:
            raise ManifestError(f"prompt set {name!r}: give a python_name or a 'path' inside the package")
        data = {"path": path}
    elif python_name is None:
        raise ManifestError(f"{kind} {name!r}: python_name is required")
    if kind == PROBE_KINDS:
        fits_on = entry.get("fits_on", "contrast")
        if fits_on not in PROBE_FITS_ON:
            raise ManifestError(f"probe kind {name!r}: fits_on must be one of {', '.join(PROBE_FITS_ON)}")
        data = {"fits_on": fits_on}
    return ContributionSpec(kind, name, description, python_name, data)
