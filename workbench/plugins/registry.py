"""The registry of everything plugins contribute: built-ins first, then installed plugins, loaded lazily."""

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import Cancelled, WorkbenchError
from .api import API_VERSION, BUILTIN, KIND_LABELS, KINDS, PROBE_KINDS
from .discovery import PluginSource, builtin_source, installed_sources
from .guard import PluginError, run_limited, time_limit
from .manifest import ContributionSpec, ManifestError, read_manifest
from .validate import check_value, load_value

NOT_LOADED, LOADED, FAILED = "not loaded", "loaded", "failed"
PYTHON = "python"  # contributions registered by code in this process (register_reward, TriggerRegistry.register)


@dataclass
class Plugin:
    name: str
    display_name: str
    source: PluginSource
    status: str = "ok"
    error: str | None = None
    contributions: list["Contribution"] = field(default_factory=list, repr=False)
    folder: Path | None = None

    def label(self) -> str:
        if self.name == BUILTIN:
            return "the built-ins"
        if self.name == PYTHON:
            return "code registered in this process"
        where = self.source.manifest or self.source.entry_point
        return f"plugin {self.name!r} ({self.source.distribution} {self.source.version}, {where})"

    def to_dict(self) -> dict:
        return {"name": self.name, "display_name": self.display_name, "status": self.status, "error": self.error,
                "source": self.source.to_dict(), "contributions": [c.to_dict() for c in self.contributions]}


@dataclass
class Contribution:
    spec: ContributionSpec
    plugin: Plugin = field(repr=False)
    status: str = NOT_LOADED
    error: str | None = None
    failed_during: str | None = None  # "load" or "use"
    seconds: float | None = None
    value: object = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def builtin(self) -> bool:
        return self.plugin.name in (BUILTIN, PYTHON)

    def origin(self) -> str:
        return f"{KIND_LABELS[self.kind]} {self.name!r} from {self.plugin.label()}"

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "description": self.description, "status": self.status,
               "error": self.error, "failed_during": self.failed_during, "python_name": self.spec.python_name,
               "load_seconds": None if self.seconds is None else round(self.seconds, 3)}
        out.update({k: v for k, v in self.spec.data.items() if k == "fits_on"})
        return out


class PluginRegistry:
    """Plugins and their contributions by kind and name. Thread-safe; plugin code is imported on first use."""

    def __init__(self, include_installed: bool = True):
        self._lock = threading.RLock()
        self._include_installed = include_installed
        self._plugins: list[Plugin] = []
        self._by_kind: dict[str, dict[str, Contribution]] = {k: {} for k in KINDS}
        self._python = Plugin(PYTHON, "Registered from Python", PluginSource("(in-process)", "-", "-", None))
        self.discover()

    # ---- discovery -------------------------------------------------------------------------------------------
    def discover(self) -> None:
        """Read every manifest again (after a `pip install`); contributions registered from Python are kept."""
        with self._lock:
            kept = {k: {n: c for n, c in d.items() if c.plugin is self._python} for k, d in self._by_kind.items()}
            self._plugins = []
            self._by_kind = {k: {} for k in KINDS}
            sources = [builtin_source()] + (installed_sources() if self._include_installed else [])
            for source in sources:
                self._add_plugin(source)
            for kind, entries in kept.items():
                for name, contribution in entries.items():
                    self._by_kind[kind].setdefault(name, contribution)

    def _add_plugin(self, source: PluginSource) -> None:
        try:
            if source.error:
                raise ManifestError(source.error)
            manifest = read_manifest(source.manifest)
        except ManifestError as exc:
            name = source.entry_point.split("=")[0].strip() or source.distribution
            self._plugins.append(Plugin(name, name, source, status=FAILED, error=str(exc)))
            return
        if any(p.name == manifest.name for p in self._plugins):
            self._plugins.append(Plugin(manifest.name, manifest.display_name, source, status=FAILED,
                                        error=f"another installed plugin is already named {manifest.name!r}"))
            return
        plugin = Plugin(manifest.name, manifest.display_name, source, folder=manifest.folder)
        self._plugins.append(plugin)
        for spec in manifest.contributions:
            contribution = Contribution(spec, plugin)
            plugin.contributions.append(contribution)
            taken = self._by_kind[spec.kind].get(spec.name)
            if taken is not None:
                contribution.status, contribution.failed_during = FAILED, "load"
                contribution.error = f"the name is already taken by {taken.plugin.label()}"
                continue
            self._by_kind[spec.kind][spec.name] = contribution

    # ---- reading ---------------------------------------------------------------------------------------------
    def plugins(self) -> list[Plugin]:
        with self._lock:
            extra = [self._python] if any(c.plugin is self._python for d in self._by_kind.values()
                                          for c in d.values()) else []
            return list(self._plugins) + extra

    def contributions(self, kind: str) -> list[Contribution]:
        """All of a kind in the order they were found (built-ins first), failed ones included."""
        with self._lock:
            return list(self._by_kind[kind].values())

    def names(self, kind: str) -> list[str]:
        """Names of a kind that have not failed."""
        return [c.name for c in self.contributions(kind) if c.status != FAILED]

    def find(self, kind: str, name: str) -> Contribution:
        with self._lock:
            contribution = self._by_kind[kind].get(name)
        if contribution is None:
            known = ", ".join(self.names(kind)) or "none"
            raise WorkbenchError(f"Unknown {KIND_LABELS[kind]} {name!r}; known {KIND_LABELS[kind]}s: {known}")
        return contribution

    def get(self, kind: str, name: str):
        """The contribution's object, importing its plugin code on first use; PluginError if it is broken."""
        return self.load(self.find(kind, name))

    def load(self, contribution: Contribution):
        if contribution.status == LOADED:
            return contribution.value
        if contribution.status == FAILED:
            raise PluginError(f"{contribution.origin()} is broken: {contribution.error}")
        plugin = contribution.plugin
        started = time.perf_counter()
        try:
            if contribution.builtin:
                value = load_value(contribution.spec, plugin.folder, "built-in")
            else:
                seconds = time_limit("load")
                value = run_limited(load_value, (contribution.spec, plugin.folder, f"plugin {plugin.name}"),
                                    seconds=seconds, what=f"loading {contribution.origin()}")
        except TimeoutError:
            self._fail(contribution, f"did not load within {time_limit('load'):g} s (a slow import?)", "load")
        except (KeyboardInterrupt, Cancelled):
            raise
        except BaseException as exc:  # noqa: BLE001 - whatever a plugin raises is reported, never fatal
            self._fail(contribution, _describe(exc), "load")
        with self._lock:
            contribution.value, contribution.status = value, LOADED
            contribution.seconds = time.perf_counter() - started
        return value

    def call(self, contribution: Contribution, fn: Callable, *args, should_stop: Callable[[], bool] = lambda: False,
             check: Callable | None = None):
        """fn(*args) for a contribution in use: a plugin's exception, hang or wrong answer marks it failed and
        raises PluginError naming it. `check(result)` raises PluginError for a wrong answer."""
        try:
            if contribution.builtin:
                result = fn(*args)
            else:
                result = run_limited(fn, args, seconds=time_limit("call"), should_stop=should_stop,
                                     what=contribution.origin())
            return check(result) if check else result
        except TimeoutError:
            self._fail(contribution, f"gave no answer within {time_limit('call'):g} s", "use")
        except (KeyboardInterrupt, Cancelled):
            raise
        except PluginError as exc:
            self._fail(contribution, str(exc), "use")
        except BaseException as exc:  # noqa: BLE001
            if contribution.builtin:
                raise
            self._fail(contribution, _describe(exc), "use")

    def _fail(self, contribution: Contribution, message: str, during: str):
        with self._lock:
            contribution.status, contribution.error, contribution.failed_during = FAILED, message, during
        verb = "failed to load" if during == "load" else "failed in use"
        raise PluginError(f"{contribution.origin()} {verb}: {message}")

    # ---- registering from Python -----------------------------------------------------------------------------
    def add(self, kind: str, name: str, value, description: str = "", replace: bool = False,
            fits_on: str = "contrast") -> None:
        """Register an object from code in this process (checked like a plugin's); `fits_on` for probe kinds."""
        spec = ContributionSpec(kind, name, description, None, {"fits_on": fits_on} if kind == PROBE_KINDS else {})
        checked = check_value(spec, value, None, "registered from Python")
        with self._lock:
            existing = self._by_kind[kind].get(name)
            if existing is not None and not replace:
                raise ValueError(f"a {KIND_LABELS[kind]} named {name!r} is already registered")
            self._by_kind[kind][name] = Contribution(spec, self._python, LOADED, value=checked, seconds=0.0)

    # ---- reports ---------------------------------------------------------------------------------------------
    def check(self) -> list[Contribution]:
        """Load every contribution (what `plugins --check` does); the ones that failed."""
        failed = []
        for plugin in self.plugins():
            for contribution in plugin.contributions:
                if contribution.status == FAILED:
                    failed.append(contribution)
                    continue
                try:
                    self.load(contribution)
                except PluginError:
                    failed.append(contribution)
        return failed

    def describe(self) -> dict:
        plugins = self.plugins()
        return {
            "api_version": API_VERSION,
            "plugins": [p.to_dict() for p in plugins],
            "available": {kind: self.names(kind) for kind in KINDS},
            "failed": [{"plugin": p.name, "error": p.error, "source": p.source.to_dict()}
                       for p in plugins if p.status == FAILED]
            + [{"plugin": p.name, "kind": c.kind, "name": c.name, "error": c.error, "source": p.source.to_dict()}
               for p in plugins for c in p.contributions if c.status == FAILED],
        }


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, WorkbenchError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_REGISTRY: PluginRegistry | None = None
_REGISTRY_LOCK = threading.Lock()


def plugin_registry() -> PluginRegistry:
    """The process-wide registry (found on first use)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            _REGISTRY = PluginRegistry()
        return _REGISTRY
