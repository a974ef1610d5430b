"""Plots for reports as standalone SVG images (no plotting library, no Qt): line charts with 95% bands, and
layer x token heatmaps on a diverging colour scale with a colour bar."""

import math
from html import escape

PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
FONT = "font-family='Helvetica, Arial, sans-serif'"


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = max((hi - lo) / n, 1.0 if integer else 0.0)
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def line_chart(series: dict[str, list[dict]], title: str, y_label: str, x_label: str = "step",
               y_range: tuple[float, float] | None = None, colours: dict[str, str] | None = None,
               width: int = 640, height: int = 300) -> str:
    """Series {name: [{x, y, lo?, hi?}]} as lines with markers and shaded 95% bands where lo/hi are given."""
    points = [p for ps in series.values() for p in ps if p.get("y") is not None]
    left, right, top, bottom = 64, 150, 34, 44
    pw, ph = width - left - right, height - top - bottom
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}'"
           f" {FONT} font-size='12'>", f"<rect width='{width}' height='{height}' fill='white'/>",
           f"<text x='{left}' y='20' font-size='14' font-weight='bold'>{escape(title)}</text>"]
    if not points:
        out.append(f"<text x='{left + pw / 2}' y='{top + ph / 2}' text-anchor='middle' fill='#777'>no data</text>")
        return "".join(out + ["</svg>"])
    xs = [p["x"] for p in points]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y_range is None:
        ys = [v for p in points for v in (p["y"], p.get("lo"), p.get("hi")) if v is not None]
        y0, y1 = min(ys), max(ys)
        pad = (y1 - y0) * 0.05 or abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    else:
        y0, y1 = y_range

    def sx(x):
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y):
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    for t in _ticks(y0, y1):
        out.append(f"<line x1='{left}' x2='{left + pw}' y1='{sy(t):.1f}' y2='{sy(t):.1f}' stroke='#e5e5e5'/>"
                   f"<text x='{left - 6}' y='{sy(t) + 4:.1f}' text-anchor='end'>{_fmt(t)}</text>")
    for t in _ticks(x0, x1, 6, integer=all(float(x).is_integer() for x in xs)):
        out.append(f"<text x='{sx(t):.1f}' y='{top + ph + 16}' text-anchor='middle'>{_fmt(t)}</text>")
    out.append(f"<rect x='{left}' y='{top}' width='{pw}' height='{ph}' fill='none' stroke='#888'/>")
    out.append(f"<text x='{left + pw / 2}' y='{height - 8}' text-anchor='middle'>{escape(x_label)}</text>")
    out.append(f"<text transform='translate(16,{top + ph / 2}) rotate(-90)' text-anchor='middle'>"
               f"{escape(y_label)}</text>")
    for i, (name, ps) in enumerate(series.items()):
        colour = (colours or {}).get(name) or PALETTE[i % len(PALETTE)]
        ps = sorted((p for p in ps if p.get("y") is not None), key=lambda p: p["x"])
        banded = [p for p in ps if p.get("lo") is not None and p.get("hi") is not None]
        if banded:
            upper = " ".join(f"{sx(p['x']):.1f},{sy(p['hi']):.1f}" for p in banded)
            lower = " ".join(f"{sx(p['x']):.1f},{sy(p['lo']):.1f}" for p in reversed(banded))
            out.append(f"<polygon points='{upper} {lower}' fill='{colour}' fill-opacity='0.15' stroke='none'/>")
        if ps:
            line = " ".join(f"{sx(p['x']):.1f},{sy(p['y']):.1f}" for p in ps)
            out.append(f"<polyline points='{line}' fill='none' stroke='{colour}' stroke-width='2'/>")
            out += [f"<circle cx='{sx(p['x']):.1f}' cy='{sy(p['y']):.1f}' r='3' fill='{colour}'/>" for p in ps
                    if len(ps) <= 60]
        ly = top + 8 + 18 * i
        out.append(f"<line x1='{left + pw + 12}' x2='{left + pw + 32}' y1='{ly}' y2='{ly}' stroke='{colour}' "
                   f"stroke-width='3'/><text x='{left + pw + 38}' y='{ly + 4}'>{escape(name)}</text>")
    return "".join(out + ["</svg>"])


def diverging_colour(value: float, limit: float) -> str:
    """Blue (−limit) through white (0) to red (+limit)."""
    t = max(-1.0, min(1.0, value / limit)) if limit > 0 else 0.0
    if t >= 0:
        r, g, b = 255, round(255 * (1 - 0.8 * t)), round(255 * (1 - 0.85 * t))
    else:
        r, g, b = round(255 * (1 + 0.85 * t)), round(255 * (1 + 0.6 * t)), 255
    return f"#{r:02x}{g:02x}{b:02x}"


def robust_limit(*matrices: list[list[float | None]]) -> float:
    """The 98th percentile of |value| over the matrices (1.0 when they hold nothing)."""
    values = sorted(abs(v) for m in matrices for row in m if row is not None for v in row if v is not None)
    if not values:
        return 1.0
    return values[min(len(values) - 1, int(0.98 * len(values)))] or values[-1] or 1.0


def heatmap(matrix: list[list[float | None]], column_labels: list[str], title: str, limit: float | None = None,
            cell: int = 9, max_columns: int = 400) -> str:
    """matrix[layer][token] (layer 0 at the bottom) with token labels under the columns and a colour bar.

    The colour scale is ±`limit` (default: the 98th percentile of |score|, so one outlier does not wash it out).
    """
    matrix = [row[:max_columns] for row in matrix]
    n_rows, n_cols = len(matrix), max((len(r) for r in matrix), default=0)
    limit = limit or robust_limit(matrix)
    cw = max(cell, 14) if n_cols <= 60 else cell
    left, top, bar = 52, 30, 60
    label_h = 90 if n_cols <= 120 else 20
    width = max(left + n_cols * cw + bar + 20, left + 8 * len(title) + 12)  # room for the bold title
    height = top + n_rows * cell + label_h
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}'"
           f" {FONT} font-size='10'>", f"<rect width='{width}' height='{height}' fill='white'/>",
           f"<text x='{left}' y='18' font-size='13' font-weight='bold'>{escape(title)}</text>"]
    for layer, row in enumerate(matrix):
        y = top + (n_rows - 1 - layer) * cell
        for col, v in enumerate(row):
            fill = "#dddddd" if v is None else diverging_colour(v, limit)
            out.append(f"<rect x='{left + col * cw}' y='{y}' width='{cw}' height='{cell}' fill='{fill}'/>")
    for layer in range(0, n_rows, 5):
        y = top + (n_rows - 1 - layer) * cell + cell - 1
        out.append(f"<text x='{left - 4}' y='{y}' text-anchor='end'>{layer}</text>")
    out.append(f"<text transform='translate(12,{top + n_rows * cell / 2}) rotate(-90)' text-anchor='middle'>"
               "layer</text>")
    if label_h > 20:
        for col, label in enumerate(column_labels[:n_cols]):
            x, y = left + col * cw + cw / 2 + 3, top + n_rows * cell + 6
            out.append(f"<text transform='translate({x:.1f},{y}) rotate(-90)' text-anchor='end'>"
                       f"{escape(label[:14])}</text>")
    bx = left + n_cols * cw + 20
    steps = 20
    for i in range(steps):
        v = limit * (1 - 2 * i / (steps - 1))
        out.append(f"<rect x='{bx}' y='{top + i * n_rows * cell / steps:.1f}' width='12' "
                   f"height='{n_rows * cell / steps + 0.5:.1f}' fill='{diverging_colour(v, limit)}'/>")
    out += [f"<text x='{bx + 16}' y='{top + 8}'>+{_fmt(limit)}</text>",
            f"<text x='{bx + 16}' y='{top + n_rows * cell / 2 + 4}'>0</text>",
            f"<text x='{bx + 16}' y='{top + n_rows * cell}'>−{_fmt(limit)}</text>"]
    return "".join(out + ["</svg>"])

