"""`python -m workbench.cli ...` (what `accelerate launch -m workbench.cli implant ...` runs)."""

import sys

from .main import main

sys.exit(main())
