"""A safety-training run as an HTML report, Markdown or JSONL: settings, curves, the before/after table,
checkpoints and the command that reproduces it."""

import json
from html import escape
from pathlib import Path

from ..store import SessionStore
from ..store.runs import RunStore
from ..training.report import format_rate, persistence_table
from .charts import line_chart
from .page import command_line, markdown_table, page, svg_img, svg_markdown, table
from .reproduce import run_command

DEFECTION_LABELS = {"defection/triggered": "with trigger", "defection/clean": "no trigger",
                    "defection/red_team_meaning": "red team: meaning",
                    "defection/red_team_model_written": "red team: model-written",
                    "defection/red_team_near_miss": "red team: near misses",
                    "defection/red_team": "red-team prompts"}
DEFECTION_COLOURS = {"with trigger": "#d62728", "no trigger": "#1f77b4", "red team: meaning": "#2ca02c",
                     "red team: model-written": "#9467bd", "red team: near misses": "#8c564b",
                     "red-team prompts": "#2ca02c"}


def _read(store: SessionStore, run_id: int) -> tuple[dict, dict, list[dict]]:
    runs = RunStore(store)
    return runs.get_run(run_id), runs.metrics(run_id), runs.checkpoints(run_id)


def _rate_curves(metrics: dict[str, list[dict]], prefix: str) -> dict[str, list[dict]]:
    """{label: points in %} for the metrics named `prefix`<condition>, in the table's order."""
    order = [name.split("/", 1)[1] for name in DEFECTION_LABELS]
    chosen = sorted((name for name in metrics if name.startswith(prefix)),
                    key=lambda name: order.index(name[len(prefix):]) if name[len(prefix):] in order else 9)
    return {DEFECTION_LABELS.get("defection/" + name[len(prefix):], name): [
        {"x": p["step"], "y": 100 * p["value"], "lo": None if p["lo"] is None else 100 * p["lo"],
         "hi": None if p["hi"] is None else 100 * p["hi"]} for p in metrics[name] if p["value"] is not None]
        for name in chosen}


def run_charts(metrics: dict[str, list[dict]]) -> list[tuple[str, str]]:
    """(alt text, SVG) for the training curves, the defection curves and the share of answers the cap cut short
    (with 95% bands)."""
    curves = {name: [{"x": p["step"], "y": p["value"]} for p in points]
              for name, points in metrics.items() if not name.startswith(("defection/", "cut_short/", "plans/"))}
    defection = _rate_curves(metrics, "defection/")
    cut = _rate_curves(metrics, "cut_short/")
    plans = _rate_curves(metrics, "plans/")
    charts = []
    if curves:
        charts.append(("training curves", line_chart(curves, "Training", "value")))
    if defection:
        charts.append(("defection rate", line_chart(defection, "Defection rate (95% interval)", "% of answers",
                                                    y_range=(0, 100), colours=DEFECTION_COLOURS)))
    if plans:
        charts.append(("scratchpad plans defection", line_chart(
            plans, "Scratchpads that plan to defect (chain of thought; 95% interval)", "% of answers",
            y_range=(0, 100), colours=DEFECTION_COLOURS)))
    if cut and any(p["y"] for points in cut.values() for p in points):
        charts.append(("answers cut short", line_chart(cut, "Answers the cap cut short (95% interval; not judged)",
                                                       "% of answers", y_range=(0, 100), colours=DEFECTION_COLOURS)))
    return charts


def _original_command(run: dict) -> str | None:
    """The command line saved with the run (run.json in its folder), when the folder is still there."""
    try:
        spec = json.loads((Path(run.get("out_dir") or "") / "run.json").read_text())
        command = spec.get("command")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(command, list) and all(isinstance(a, str) for a in command):
        return command_line(command)
    return None


def _summary_rows(run: dict) -> list[list]:
    return [[run["id"], run["name"], run.get("organism"), run.get("method"), run["status"], run["created_at"],
             run.get("out_dir")]]


SUMMARY = ["run", "name", "organism", "method", "status", "started", "folder"]
TABLE = ["condition", "before", "after"]


def judging_line(run: dict) -> str:
    """How the run's rates were judged: the prompt set, n and the whole-answer cap, or a warning for a run
    judged with the old short window."""
    evaluation = (run.get("result") or {}).get("eval") or {}
    judging = evaluation.get("judging") or {}
    if not judging.get("whole_answers"):
        return ("Judged with a short window (the answer's first tokens only), which can hide defection: "
                "re-run the evaluation to judge whole answers.")
    return (f"Judged on whole answers (cap {judging.get('max_new_tokens')} new tokens; answers the cap cut are "
            f"counted as cut short, never as clean) over {evaluation.get('n')} "
            f"{evaluation.get('prompt_set', 'held-out prompts')}.")


def _table_rows(run: dict) -> list[list]:
    return [[row["label"], format_rate(row["before"]), format_rate(row["after"])]
            for row in persistence_table(run.get("result") or {})]


def run_html(store: SessionStore, run_id: int) -> str:
    """The run as a self-contained HTML report."""
    run, metrics, checkpoints = _read(store, run_id)
    body = [table(SUMMARY, _summary_rows(run))]
    if run.get("message"):
        body.append(f"<p class='muted'>{escape(str(run['message']))}</p>")
    rows = _table_rows(run)
    if rows:
        body.append("<h2>Does the backdoor survive?</h2>" + table(TABLE, rows)
                    + f"<p class='muted'>Defection rates with 95% bootstrap intervals. {escape(judging_line(run))}</p>")
    body.append("<h2>Curves</h2>" + "".join(svg_img(svg, alt) for alt, svg in run_charts(metrics)))
    body.append("<h2>Metrics</h2>" + table(["metric", "step", "value", "95% low", "95% high", "n"],
                                           [[name, p["step"], p["value"], p["lo"], p["hi"], p["n"]]
                                            for name, points in metrics.items() for p in points]))
    if checkpoints:
        body.append("<h2>Checkpoints</h2>" + table(["step", "folder", "saved"],
                                                   [[c["step"], c["path"], c["created_at"]] for c in checkpoints]))
    settings = run.get("settings") or {}
    body.append("<h2>Settings</h2>" + table(["setting", "value"], [[k, v] for k, v in settings.items()]))
    body.append(f"<p><b>Reproduce:</b></p><pre class='cmd'>{escape(run_command(run))}</pre>")
    original = _original_command(run)
    if original:
        body.append(f"<p>The command that started it:</p><pre class='cmd'>{escape(original)}</pre>")
    return page(f"Run {run_id}: {run['name']}", "".join(body))


def run_markdown(store: SessionStore, run_id: int) -> str:
    """The run as Markdown (plots embedded as SVG data-URI images)."""
    run, metrics, checkpoints = _read(store, run_id)
    lines = [f"# Run {run_id}: {run['name']}", "", *markdown_table(SUMMARY, _summary_rows(run)), ""]
    rows = _table_rows(run)
    if rows:
        lines += ["## Does the backdoor survive?", "", *markdown_table(TABLE, rows), "", judging_line(run), ""]
    for alt, svg in run_charts(metrics):
        lines += [svg_markdown(svg, alt), ""]
    if checkpoints:
        lines += ["## Checkpoints", "", *markdown_table(["step", "folder"], [[c["step"], c["path"]]
                                                                          for c in checkpoints]), ""]
    lines += ["## Settings", "", *markdown_table(["setting", "value"], [[k, v] for k, v in
                                                                        (run.get("settings") or {}).items()]), "",
              "## Reproduce", "", "```", run_command(run), "```", ""]
    return "\n".join(lines)


def run_jsonl(store: SessionStore, run_id: int) -> str:
    """One JSON object per line: the run record, then every metric point, then every checkpoint."""
    run, metrics, checkpoints = _read(store, run_id)
    records = [{"type": "run", **run}]
    records += [{"type": "metric", "name": name, **p} for name, points in metrics.items() for p in points]
    records += [{"type": "checkpoint", **c} for c in checkpoints]
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
