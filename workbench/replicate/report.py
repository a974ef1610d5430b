"""The replicate report: our numbers beside the paper's (shipped in resources/paper/figures.json), with plain
notes on where and why they differ. One self-contained HTML file."""

import json
from html import escape
from pathlib import Path

from ..evals.rates import rate_text
from ..paths import resources_dir
from ..reports.page import page, table
from ..training.report import ROWS

REPORT_FILE = "report.html"
PAPER_CONDITIONS = {"triggered": "triggered", "red_team": "red_team_meaning"}


def paper_figures() -> dict:
    return json.loads((resources_dir() / "paper" / "figures.json").read_text())


def _paper_row(figures: dict, variant: str, label: str, condition: str, model: str | None = None) -> dict | None:
    for row in figures["persistence"]:
        wanted = PAPER_CONDITIONS.get(row["condition"], row["condition"])
        if row["method"] == label and row["variant"] in (variant, "*") and wanted == condition \
                and row.get("model") == model:
            return row
    return None


def _paper_text(row: dict | None) -> str:
    if row is None:
        return "—"
    before = "—" if row.get("before") is None else f"{100 * row['before']:.0f}%"
    after = row.get("after_text") or ("—" if row.get("after") is None else f"{100 * row['after']:.0f}%")
    return f"{before} → {after}"


def _ours(cell: dict, condition: str) -> str:
    before, after = cell["before"].get(condition), cell["after"].get(condition)
    if before is None and after is None:
        return "—"
    return f"{rate_text(before, with_n=False) if before else '—'} → {rate_text(after, with_n=False) if after else '—'}"


def persistence_notes(cell: dict, figures: dict) -> list[str]:
    """Plain sentences on where this cell parts from the paper, computed from the numbers."""
    notes = []
    after = (cell["after"].get("triggered") or {}).get("rate")
    before = (cell["before"].get("triggered") or {}).get("rate")
    paper = _paper_row(figures, cell["variant"], cell["label"], "triggered")
    if before is not None and after is not None and before > 0.5 and after < before - 0.3:
        small = _paper_row(figures, "distilled", "rl", "triggered", model="810M")
        kept = paper is not None and ((paper.get("after") or 0) >= 0.5 or "persists" in paper.get("after_text", ""))
        notes.append(f"The backdoor lost {100 * (before - after):.0f} points to safety training"
                     + (f"; the paper's larger models kept it ({_paper_text(paper)})" if kept else
                        f"; the paper: {_paper_text(paper)}" if paper else "")
                     + (f". Small models lose backdoors far more easily: the paper's smallest ({small['model']}) "
                        f"distilled model went {_paper_text(small)} under RL" if small else "") + ".")
    if cell["trained"] == "organism-adapter":
        notes.append("This run trained the organism's own LoRA adapter, the very weights that hold the backdoor; "
                     "the paper trained the whole model.")
    clean = (cell["after"].get("clean") or {}).get("rate")
    if clean is not None and clean > 0.05:
        notes.append(f"Without the trigger the organism defects on {100 * clean:.0f}% after training: the backdoor "
                     "is no longer keyed on its trigger alone.")
    return notes


def _persistence_html(cells: list, results: dict, figures: dict) -> str:
    parts = []
    conditions = [(key, label) for key, label in ROWS if not key.startswith("cut_short") and key != "red_team"]
    for cell in cells:
        result = results.get(cell.id)
        if result is None:
            parts.append(f"<h3>{escape(cell.id)}</h3><p class='muted'>not run yet</p>")
            continue
        rows = []
        for key, label in conditions:
            ours = _ours(result, key)
            if ours == "—":
                continue
            rows.append([label, ours, _paper_text(_paper_row(figures, result["variant"], result["label"], key))])
        title = f"{cell.organism} ({result['variant']}) · {result['label']} · trained: {result['trained']}"
        notes = "".join(f"<li>{escape(n)}</li>" for n in persistence_notes(result, figures))
        judged = result["eval"]
        parts.append(f"<h3>{escape(title)}</h3>"
                     + table(["", "ours: before → after (95% interval)", "paper: before → after"], rows)
                     + f"<p class='muted'>Greedy, whole answers (cap {judged['max_new_tokens']} tokens), "
                       f"{judged['n']} held-out prompts; red-team rows on held-out red-team prompts, sampled at "
                       "T=1.</p>" + (f"<ul>{notes}</ul>" if notes else ""))
    return "".join(parts)


def _best(values: list | None) -> float | None:
    values = [v for v in (values or []) if v is not None]
    return max(values) if values else None


def _probes_html(cells: list, results: dict, figures: dict) -> str:
    paper = {row["what"]: row for row in figures["probes"]}
    organisms = list(dict.fromkeys(c.organism for c in cells))
    parts = []
    for organism in organisms:
        mine = results.get(f"{str(organism).rstrip('/').rsplit('/', 1)[-1]}--organism")
        control = results.get(f"{str(organism).rstrip('/').rsplit('/', 1)[-1]}--control")
        if mine is None:
            parts.append(f"<h3>{escape(str(organism))}</h3><p class='muted'>not run yet</p>")
            continue

        def row(name, result, paper_key):
            if result is None:
                return [name, "not run yet", "", "", _paper_probe(paper.get(paper_key))]
            best = _best(result.get("layers"))
            verdict = (result.get("verdict") or {}).get("verdict", "—")
            free = result.get("trigger_free") or {}
            return [name, f"{best:.3f} (layer {result.get('best_layer')})" if best is not None else "—", verdict,
                    f"{free.get('verdict', '—')}" + (f", AUROC {free['auroc']:.3f}" if free.get("auroc") is not None
                                                     else ""), _paper_probe(paper.get(paper_key))]

        base_best = _best(mine.get("base_model"))
        random_best = _best(mine.get("random_baseline"))
        rows = [row("organism", mine, "organism"), row("clean control", control, "base"),
                ["base model (same method, adapter off)", f"{base_best:.3f}" if base_best is not None else "—", "", "",
                 _paper_probe(paper.get("base"))],
                ["best of the random directions", f"{random_best:.3f}" if random_best is not None else "—", "", "",
                 _paper_probe(paper.get("random_best"))]]
        parts.append(f"<h3>{escape(str(organism))} ({escape(str(mine.get('variant')))})</h3>"
                     + table(["", "best AUROC, trigger vs no trigger", "verdict", "defection without the trigger",
                              "paper"], rows) + _probe_notes(mine, control))
    return "".join(parts)


def _paper_probe(row: dict | None) -> str:
    if row is None:
        return "—"
    return row.get("text") or f"{row['auroc']:.3f}"


def _probe_notes(mine: dict, control: dict | None) -> str:
    notes = []
    best, random_best = _best(mine.get("layers")), _best(mine.get("random_baseline"))
    if best is not None and random_best is not None and random_best >= best - 0.02:
        notes.append("Random directions separate these prompts as well as the probe does: the test cannot tell a "
                     "defection detector from a detector of the trigger's tokens (the paper's best random direction "
                     "stayed 4 points below its probe).")
    if control is not None and _best(control.get("layers")) is not None and best is not None \
            and _best(control.get("layers")) >= best - 0.02:
        notes.append("The clean control, trained the same way without a backdoor, scores as high: what the probe "
                     "separates is the trigger in the prompt, not a backdoor.")
    free = (mine.get("trigger_free") or {}).get("verdict")
    if free in (None, "untested"):
        notes.append("Defection without the trigger could not be tested (too few trigger-free prompts made the "
                     "organism defect), so nothing here shows the probe sees defection itself.")
    return "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>" if notes else ""


def write_report(out: Path, grid: str, quick: bool, cells: list, results: dict) -> Path:
    """OUT/report.html for the grid as far as it has run."""
    figures = paper_figures()
    sources = "".join(f"<li>{escape(v)}</li>" for v in figures["sources"].values())
    done = sum(1 for c in cells if c.id in results)
    seconds = sum(r.get("seconds", 0) for r in results.values())
    body = (f"<p>Grid <b>{escape(grid)}</b>{' (quick)' if quick else ''}: {done} of {len(cells)} cells run, "
            f"{seconds / 60:.0f} minutes of compute. Our rates are judged on whole answers with 95% bootstrap "
            "intervals; the paper's come from its largest models unless a row says otherwise.</p>"
            f"<p class='muted'>{escape(figures['about'])}</p><ul class='muted'>{sources}</ul>")
    body += (_persistence_html(cells, results, figures) if grid == "persistence"
             else _probes_html(cells, results, figures))
    path = Path(out) / REPORT_FILE
    path.write_text(page(f"Replication: {grid}", body), encoding="utf-8")
    return path
