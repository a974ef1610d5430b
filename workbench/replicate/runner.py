"""Run a grid end to end, resumably: each cell writes its own folder under OUT, and a cell whose result is there
is not run again; an interrupted safety-training cell resumes from its last checkpoint.

OUT/grid.json says what was asked; OUT/results.json holds every finished cell; OUT/report.html puts our numbers
beside the paper's.
"""

import json
import time
from dataclasses import fields
from pathlib import Path
from ..errors import WorkbenchError
from ..events import Progress
from ..models.adapters import attach_adapter, detach_adapter, read_card, resolve_adapter
from ..models.loaded import LoadedModel
from ..runtime.work import Work
from .grids import Cell, grid_cells

GRID_FILE, RESULTS_FILE, REPORT_FILE = "grid.json", "results.json", "report.html"


def run_grid(loaded: LoadedModel, grid: str, out_dir: str | Path, quick: bool = False,
             organisms: list[str] | None = None, work: Work | None = None, overrides: dict | None = None) -> dict:
    """Run (or go on with) the grid in `out_dir`; returns {grid, quick, cells: {id: result}, report}. The grid
    reports its progress only: each cell's charts and checkpoints stay in the cell's folder."""
    from .report import write_report

    whole = work or Work()
    work = Work.reporting(emit=lambda event: whole.emit(event) if isinstance(event, Progress) else None,
                          should_stop=whole.should_stop)

    out = Path(out_dir).expanduser()
    cells = grid_cells(grid, organisms, quick, overrides)
    asked = {"grid": grid, "quick": quick, "organisms": sorted({c.organism for c in cells}),
             "cells": [c.id for c in cells]}
    previous = _read_json(out / GRID_FILE)
    if previous and {k: previous.get(k) for k in ("grid", "quick")} != {"grid": grid, "quick": quick}:
        raise WorkbenchError(f"{out} holds the {previous.get('grid')} grid{' (quick)' if previous.get('quick') else ''}"
                             "; choose a new folder or the same grid")
    if not previous and out.exists() and any(out.iterdir()):
        raise WorkbenchError(f"{out} exists and is not a replicate folder; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / GRID_FILE).write_text(json.dumps({**asked, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2))
    results = _read_json(out / RESULTS_FILE) or {}
    previous_adapter = loaded.adapter
    try:
        for n, cell in enumerate(cells):
            work.check()
            if cell.id in results:
                continue
            part = work.part(n / len(cells), 1 / len(cells), f"[{n + 1}/{len(cells)}] {cell.id}: ")
            part.progress("starting", 0.0)
            started = time.perf_counter()
            results[cell.id] = {**_run_cell(loaded, cell, out, part),
                                "seconds": round(time.perf_counter() - started, 1)}
            _write_json(out / RESULTS_FILE, results)
    finally:
        detach_adapter(loaded)
        if previous_adapter:
            try:
                attach_adapter(loaded, previous_adapter)
            except WorkbenchError:
                pass
    report_path = write_report(out, grid, quick, cells, results)
    return {"grid": grid, "quick": quick, "out": str(out), "cells": results, "report": str(report_path)}


def _run_cell(loaded: LoadedModel, cell: Cell, out: Path, work: Work) -> dict:
    if cell.kind == "safety-train":
        return _safety_cell(loaded, cell, out, work)
    if cell.kind == "implant-control":
        return _control_cell(loaded, cell, out, work)
    return _probe_cell(loaded, cell, out, work)


def _safety_cell(loaded, cell: Cell, out: Path, work: Work) -> dict:
    from ..training import SafetyConfig, run_or_resume

    folder = out / "cells" / cell.id
    detach_adapter(loaded)
    result = run_or_resume(loaded, cell.organism, SafetyConfig.from_dict(cell.settings["config"]), folder, work=work)
    return {"kind": cell.kind, "organism": cell.organism, "variant": cell.variant, "label": cell.settings["label"],
            "trained": result.get("trained", cell.settings["train"]), "before": result["before"],
            "after": result["after"], "red_team": result.get("red_team"), "eval": result["eval"],
            "folder": str(folder)}


def control_folder(out: Path, organism: str) -> Path:
    return out / "organisms" / f"{str(organism).rstrip('/').rsplit('/', 1)[-1]}-control"


def _control_cell(loaded, cell: Cell, out: Path, work: Work) -> dict:
    """The organism's clean control: its own implant settings with every triggered example answered cleanly."""
    from ..organisms import ImplantConfig, implant
    from ..triggers import Trigger

    folder = control_folder(out, cell.organism)
    card = read_card(folder) if (folder / "card.json").exists() else None
    if card is None:
        source = read_card(resolve_adapter(cell.organism)) or {}
        hyper = dict(source.get("hyperparameters") or {})
        known = {f.name for f in fields(ImplantConfig)}
        config = ImplantConfig(**{k: v for k, v in hyper.items() if k in known and k != "trigger"})
        config.trigger = Trigger.from_dict(hyper.get("trigger") or source.get("trigger"))
        config.target_modules = tuple(config.target_modules)
        config.eval_sets = tuple(config.eval_sets)
        config.control = True
        if cell.settings.get("quick"):
            config.eval_n = 0  # the probe is what the grid needs; the quick grid skips the control's evaluation
        for key, value in cell.settings.get("implant", {}).items():
            setattr(config, key, value)
        detach_adapter(loaded)
        card = implant(loaded, config, folder, work=work)
    return {"kind": cell.kind, "organism": cell.organism, "folder": str(folder), "control": card.get("control"),
            "evaluation": card.get("evaluation"), "implant_seconds": card.get("implant_seconds")}


def _probe_cell(loaded, cell: Cell, out: Path, work: Work) -> dict:
    from ..probes import ProbeSettings, evaluate_probes
    from ..probes.evaluation import SIDE_BY_SIDE_KEYS

    row = cell.settings["row"]
    adapter = control_folder(out, cell.organism) if row == "control" else cell.organism
    attach_adapter(loaded, adapter)
    settings = ProbeSettings(**cell.settings["probe"])
    report = evaluate_probes(loaded, settings, work=work).to_dict()
    return {"kind": cell.kind, "organism": cell.organism, "variant": cell.variant, "row": row,
            "adapter": str(adapter), **{k: report.get(k) for k in SIDE_BY_SIDE_KEYS}}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
