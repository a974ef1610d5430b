"""Where saved probes live (the user data dir), which there are, and the last fit kept per model and organism so
that reopening the workbench does not mean fitting again."""

import hashlib
import json
import os
from pathlib import Path

from ..models.loaded import LoadedModel
from ..paths import data_dir
from .probe import CARD, WEIGHTS, Probe, card_mismatches, chat_rendering

REPORT = "report.json"  # the fit's whole evaluation (ProbeReport.result), beside a remembered probe
REMEMBERED_PREFIX = "last-fit-"


def probes_dir() -> Path:
    path = data_dir() / "probes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def saved_probes() -> list[Path]:
    """Folders of saved probes, newest first."""
    found = [p for p in probes_dir().iterdir() if (p / WEIGHTS).exists() and (p / CARD).exists()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _identity(loaded: LoadedModel) -> tuple[str, str, str]:
    return loaded.identity.fingerprint or loaded.identity.name, loaded.adapter or "", chat_rendering(loaded)


def remember_fit(loaded: LoadedModel, probe: Probe, result: dict) -> Path:
    """Keep a probe just fitted on `loaded`, with its evaluation, as the last fit of its method for this base
    model, organism and chat rendering (replacing the one before)."""
    model, adapter, rendering = _identity(loaded)
    key = hashlib.sha256("\n".join((model, adapter, rendering, probe.kind)).encode()).hexdigest()[:12]
    name = (Path(adapter).name if adapter else "base") + f"-{probe.kind}"
    folder = probes_dir() / f"{REMEMBERED_PREFIX}{name}-{key}"
    (folder / REPORT).unlink(missing_ok=True)  # never the new probe beside the last fit's evaluation
    probe.save(folder)
    (folder / REPORT).write_text(json.dumps(result))
    os.utime(folder)  # the newest fit first, whichever method it used
    return folder


def remembered_fit(loaded: LoadedModel) -> Path | None:
    """The newest remembered fit made on this base model, organism and chat rendering (None if there is none).
    A folder that cannot be read is passed over."""
    rendering = chat_rendering(loaded)
    for folder in saved_probes():
        if not folder.name.startswith(REMEMBERED_PREFIX) or not (folder / REPORT).exists():
            continue
        try:
            if not card_mismatches(json.loads((folder / CARD).read_text()), loaded, rendering):
                return folder
        except (OSError, ValueError, AttributeError, TypeError):  # a damaged card: not this fit
            continue
    return None


def load_remembered(folder: str | Path) -> tuple[Probe, dict]:
    """A remembered fit: the probe and its evaluation (WorkbenchError if it cannot be read)."""
    from ..errors import WorkbenchError

    probe = Probe.load(folder)
    try:
        result = json.loads((Path(folder) / REPORT).read_text())
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"Cannot read the probe's evaluation in {folder}: {exc}") from None
    return probe, result
