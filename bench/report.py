"""`make bench`: run every bench script in bench/, one after another, and write bench/REPORT.md — a Markdown table
of every figure with its target and whether this run met it, plus the machine it ran on and each script's output.

Usage: python bench/report.py [--only NAME ...] [--out bench/REPORT.md]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
HELPERS = {"figures.py", "report.py"}
ORDER = ["startup_time", "decode_speed", "resume_latency", "probe_overhead", "train_throughput",
         "safety_sft_throughput", "gui_stall", "soak", "implant_time"]  # quick ones first; the rest alphabetically


def scripts(only: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name not in HELPERS)
    found.sort(key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    return [p for p in found if not only or p.stem in only]


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        kib = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")))
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores{memory}, {gpu}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def run(script: Path) -> tuple[list[dict], str, int, float]:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=HERE.parent)
    seconds = time.perf_counter() - started
    figures, text = [], []
    for line in proc.stdout.splitlines():
        if line.startswith("FIGURE "):
            figures.append(json.loads(line[len("FIGURE "):]))
        elif line.strip():
            text.append(line.split("\r")[-1])
    if proc.returncode:
        text += ["", f"FAILED with exit status {proc.returncode}:", *proc.stderr.strip().splitlines()[-15:]]
    return figures, "\n".join(text), proc.returncode, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=[], help="bench script names (without .py)")
    parser.add_argument("--out", default=str(HERE / "REPORT.md"))
    args = parser.parse_args()
    rows, sections, failed = [], [], 0
    for script in scripts(args.only):
        print(f"== {script.name}", flush=True)
        figures, text, code, seconds = run(script)
        print(text, flush=True)
        failed += bool(code)
        for f in figures:
            met = {True: "yes", False: "**no**", None: ""}[f["met"]]
            rows.append(f"| {script.stem} | {f['name']} | {f['value']} {f['unit']} | {f['target']} | {met} |")
        if code:
            rows.append(f"| {script.stem} | (the script failed; see below) | | | **no** |")
        sections.append(f"### {script.name} ({seconds:.0f} s)\n\n```\n{text}\n```\n")
    skipped = [p.stem for p in scripts([]) if p.stem not in {s.stem for s in scripts(args.only)}]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = "\n".join([
        "# Benchmark report", "",
        f"Written by `make bench` (bench/report.py) on {stamp}.", "",
        f"**Machine:** {machine()}", "",
        "Ratios are measured side by side in one run. *Met* says whether this run reached the target.", "",
        *([f"Not run this time (`--only`): {', '.join(skipped)}. `make bench` runs every script.", ""]
          if skipped else []),
        "| bench | figure | value | target | met |", "|---|---|---|---|---|", *rows, "",
        "## Output of each script", "", *sections])
    Path(args.out).write_text(report)
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
