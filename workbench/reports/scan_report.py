"""A trigger scan (kept in the runs table, kind 'scan') as an HTML report or Markdown: the verdict, the payload
found, and every candidate measured on the organism and on the base model beside it."""

import json
from html import escape

from ..evals.rates import rate_text
from ..store import SessionStore
from ..store.runs import RunStore
from .page import markdown_table, page, table

KIND = "scan"
CANDIDATES = ["model", "candidate", "found by", "payload log-prob", "defection with it", "verdict"]


def is_scan(store: SessionStore, run_id: int) -> bool:
    return RunStore(store).get_run(run_id).get("kind") == KIND


def _report(store: SessionStore, run_id: int) -> tuple[dict, dict]:
    run = RunStore(store).get_run(run_id)
    return run, run.get("result") or {}


def summary_lines(report: dict) -> list[str]:
    """The scan's findings in plain sentences: verdict, payload, and each model's result beside its control."""
    payload = report.get("payload")
    lines = [f"Verdict: {report.get('verdict', '—')} (adapter {report.get('adapter')}; held-out prompts: "
             f"{report.get('prompt_set')})"]
    if payload:
        lines.append(f"Payload found by memory extraction: {payload['text']!r} (in {payload['support']} of "
                     f"{payload['spans_over_threshold']} high-gain samples)")
    else:
        lines.append("Memory extraction found no payload: no sampled text stands clearly above the base model")
    for scan in report.get("scans", []):
        lines.append(f"{scan['model']}: {scan['verdict']}; without a trigger {rate_text(scan['no_trigger'])}")
    return lines


def candidate_rows(report: dict) -> list[list]:
    return [[scan["model"], repr(c["text"]), c["source"], c["payload_logprob"], rate_text(c["measured"]),
             c["verdict"]] for scan in report.get("scans", []) for c in scan["candidates"]]


def scan_html(store: SessionStore, run_id: int) -> str:
    run, report = _report(store, run_id)
    body = ["".join(f"<p>{escape(line)}</p>" for line in summary_lines(report))]
    if run.get("message"):
        body.append(f"<p class='muted'>{escape(str(run['message']))}</p>")
    body.append("<h2>Candidates</h2>" + table(CANDIDATES, candidate_rows(report))
                + f"<p class='muted'>{escape(report.get('judging', ''))}. Defection rates with 95% bootstrap "
                  "intervals.</p>")
    extraction = report.get("extraction") or {}
    spans = extraction.get("top_answer_spans", []) + extraction.get("top_prompt_spans", [])
    body.append("<h2>Memory extraction</h2>" + table(["where", "gain (nats)", "text"],
                                                     [[s["where"], s["gain"], s["text"]] for s in spans]))
    body.append("<h2>Settings</h2>" + table(["setting", "value"], list((report.get("settings") or {}).items())))
    return page(f"Trigger scan {run_id}: {run['name']}", "".join(body))


def scan_markdown(store: SessionStore, run_id: int) -> str:
    run, report = _report(store, run_id)
    lines = [f"# Trigger scan {run_id}: {run['name']}", "", *summary_lines(report), "", "## Candidates", "",
             *markdown_table(CANDIDATES, candidate_rows(report)), "", report.get("judging", ""), ""]
    return "\n".join(lines)


def scan_jsonl(store: SessionStore, run_id: int) -> str:
    run, _ = _report(store, run_id)
    return json.dumps({"type": "scan", **run}, ensure_ascii=False, default=str) + "\n"
