"""Small SVG plots for the shareable HTML evaluation: lines, points, bars, a heat map.

Why SVG drawn here, not matplotlib or pyqtgraph: matplotlib is not among the project's
dependencies (adding a plotting stack for one file is heavy), and pyqtgraph's exporters need
a Qt application, which runtime/ must not import and a headless CLI should not start. An SVG
is text, exact at any zoom, and embeds in one HTML file as a data: image."""
from __future__ import annotations

import base64
import math
from html import escape

W, H = 360, 260
L, R, T, B = 48, 12, 24, 40  # margins: left, right, top, bottom
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _fmt(v: float) -> str:
    return f"{v:.3g}"


class Frame:
    """Axes mapping data to pixels, with ticks and labels."""

    def __init__(self, title: str, xlabel: str, ylabel: str, xr, yr):
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        lo, hi = xr
        self.x0, self.x1 = (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)
        lo, hi = yr
        self.y0, self.y1 = (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)
        self.parts: list[str] = []

    def px(self, x: float) -> float:
        return L + (x - self.x0) / (self.x1 - self.x0) * (W - L - R)

    def py(self, y: float) -> float:
        return H - B - (y - self.y0) / (self.y1 - self.y0) * (H - T - B)

    def add(self, s: str) -> None:
        self.parts.append(s)

    def polyline(self, xs, ys, color: str, width: float = 1.5, dash: str = "") -> None:
        pts = " ".join(f"{self.px(x):.1f},{self.py(y):.1f}" for x, y in zip(xs, ys)
                       if _finite(x, y))
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<polyline fill="none" stroke="{color}" stroke-width="{width}"{d} '
                 f'points="{pts}"/>')

    def points(self, xs, ys, color: str, r: float = 2.0) -> None:
        self.add("".join(f'<circle cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="{r}" '
                         f'fill="{color}" fill-opacity="0.6"/>'
                         for x, y in zip(xs, ys) if _finite(x, y)))

    def svg(self, legend: list[tuple[str, str]] = (), low_left: bool = False) -> str:
        """The plot; its legend top right, or bottom left with `low_left` (PR curves, which
        run along the top right)."""
        ax = [f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="white" '
              'stroke="#444"/>']
        for i in range(5):
            fx, fy = self.x0 + (self.x1 - self.x0) * i / 4, self.y0 + (self.y1 - self.y0) * i / 4
            ax.append(f'<text x="{self.px(fx):.1f}" y="{H - B + 14}" font-size="10" '
                      f'text-anchor="middle">{_fmt(fx)}</text>')
            ax.append(f'<text x="{L - 4}" y="{self.py(fy) + 3:.1f}" font-size="10" '
                      f'text-anchor="end">{_fmt(fy)}</text>')
        ax.append(f'<text x="{(L + W - R) / 2}" y="{H - 6}" font-size="11" '
                  f'text-anchor="middle">{escape(self.xlabel)}</text>')
        ax.append(f'<text x="12" y="{(T + H - B) / 2}" font-size="11" text-anchor="middle" '
                  f'transform="rotate(-90 12 {(T + H - B) / 2})">{escape(self.ylabel)}</text>')
        ax.append(f'<text x="{W / 2}" y="15" font-size="12" font-weight="bold" '
                  f'text-anchor="middle">{escape(self.title)}</text>')
        shown = list(legend[:12])
        if low_left:
            leg = [f'<text x="{L + 6}" y="{H - B - 6 - 11 * (len(shown) - 1 - i)}" '
                   f'font-size="9" text-anchor="start" fill="{c}">{escape(name)}</text>'
                   for i, (name, c) in enumerate(shown)]
        else:
            leg = [f'<text x="{W - R - 4}" y="{T + 12 + 11 * i}" font-size="9" '
                   f'text-anchor="end" fill="{c}">{escape(name)}</text>'
                   for i, (name, c) in enumerate(shown)]
        return _wrap("".join(ax + self.parts + leg), W, H)


def _wrap(body: str, w: int, h: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="sans-serif">{body}</svg>')


def _finite(*vs) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in vs)


def curves(title: str, xlabel: str, ylabel: str, series: list[tuple[str, list, list]],
           diagonal: bool = False, low_left: bool = False) -> str:
    """Lines on the unit square (ROC, PR curves), one colour per series."""
    f = Frame(title, xlabel, ylabel, (0.0, 1.0), (0.0, 1.0))
    if diagonal:
        f.polyline([0, 1], [0, 1], "#999", 1, "4 3")
    legend = []
    for i, (name, xs, ys) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        f.polyline(xs, ys, c)
        legend.append((name, c))
    return f.svg(legend, low_left)


def _range(vs) -> tuple[float, float]:
    vs = [v for v in vs if _finite(v)]
    return (min(vs), max(vs)) if vs else (0.0, 1.0)


def scatter(title: str, xlabel: str, ylabel: str, xs, ys, diagonal: bool = False,
            zero_line: bool = False) -> str:
    lo, hi = _range(list(xs) + (list(ys) if diagonal else []))
    ylo, yhi = (lo, hi) if diagonal else _range(ys)
    f = Frame(title, xlabel, ylabel, (lo, hi), (ylo, yhi))
    if diagonal:
        f.polyline([lo, hi], [lo, hi], "#999", 1, "4 3")
    if zero_line and ylo < 0 < yhi:
        f.polyline([lo, hi], [0, 0], "#999", 1, "4 3")
    f.points(xs, ys, COLORS[0])
    return f.svg()


def bars(title: str, xlabel: str, ylabel: str, lows, highs, heights, diagonal: bool = False,
         y_max: float | None = None) -> str:
    """Bars from low to high on x (a reliability diagram's bins, lengths' shares)."""
    x0, x1 = (min(lows), max(highs)) if lows else (0.0, 1.0)
    f = Frame(title, xlabel, ylabel, (x0, x1), (0.0, y_max or max([*heights, 1e-9])))
    for lo, hi, h in zip(lows, highs, heights):
        f.add(f'<rect x="{f.px(lo):.1f}" y="{f.py(h):.1f}" width="{f.px(hi) - f.px(lo):.1f}" '
              f'height="{f.py(0) - f.py(h):.1f}" fill="{COLORS[0]}" fill-opacity="0.7" '
              'stroke="white"/>')
    if diagonal:
        f.polyline([x0, x1], [x0, x1], "#d62728", 1, "4 3")
    return f.svg()


def heatmap(title: str, matrix: list[list[int]], labels: list[str]) -> str:
    """A confusion matrix: rows true, columns predicted, the count in each cell."""
    n = max(len(matrix), 1)
    cell = max(14, min(40, 400 // n))
    left, top = 70, 40
    w, h = left + cell * n + 10, top + cell * n + 30
    top_count = max((v for row in matrix for v in row), default=1) or 1
    parts = [f'<text x="{w / 2}" y="15" font-size="12" font-weight="bold" '
             f'text-anchor="middle">{escape(title)}</text>',
             f'<text x="{left + cell * n / 2}" y="{h - 6}" font-size="11" '
             'text-anchor="middle">predicted</text>',
             f'<text x="12" y="{top + cell * n / 2}" font-size="11" text-anchor="middle" '
             f'transform="rotate(-90 12 {top + cell * n / 2})">true</text>']
    for i, row in enumerate(matrix):
        parts.append(f'<text x="{left - 4}" y="{top + cell * i + cell / 2 + 3}" font-size="9" '
                     f'text-anchor="end">{escape(labels[i][:10])}</text>')
        parts.append(f'<text x="{left + cell * i + cell / 2}" y="{top - 4}" font-size="9" '
                     f'text-anchor="middle">{escape(labels[i][:4])}</text>')
        for j, v in enumerate(row):
            shade = int(255 - 200 * v / top_count)
            fill = f"rgb({shade},{shade},255)"
            parts.append(f'<rect x="{left + cell * j}" y="{top + cell * i}" width="{cell}" '
                         f'height="{cell}" fill="{fill}" stroke="#ccc"/>')
            if v and cell >= 18:
                parts.append(f'<text x="{left + cell * j + cell / 2}" '
                             f'y="{top + cell * i + cell / 2 + 3}" font-size="9" '
                             f'text-anchor="middle">{v}</text>')
    return _wrap("".join(parts), w, h)


def image_grid(title: str, images, cols: int = 8) -> str:
    """Grey or colour images (C × H × W nested lists, values in [−1, 1] or [0, 1]) as a grid
    of pixel rectangles."""
    import numpy as np
    arr = np.asarray(images, dtype=float)
    if arr.ndim == 3:
        arr = arr[:, None]
    lo, hi = float(arr.min()), float(arr.max())
    arr = (arr - lo) / (hi - lo) if hi > lo else arr * 0
    n, c, h, w = arr.shape
    px = max(1, min(4, 48 // max(h, w)))
    rows = math.ceil(n / cols)
    gw, gh = cols * (w * px + 2), rows * (h * px + 2) + 20
    parts = [f'<text x="{gw / 2}" y="14" font-size="12" font-weight="bold" '
             f'text-anchor="middle">{escape(title)}</text>']
    for k in range(n):
        ox, oy = (k % cols) * (w * px + 2), 20 + (k // cols) * (h * px + 2)
        for y in range(h):
            for x in range(w):
                v = arr[k, :, y, x]
                r, g, b = ((v * 255).astype(int).tolist() * 3)[:3] if c == 1 else \
                    (v[:3] * 255).astype(int).tolist()
                parts.append(f'<rect x="{ox + x * px}" y="{oy + y * px}" width="{px}" '
                             f'height="{px}" fill="rgb({r},{g},{b})"/>')
    return _wrap("".join(parts), gw, gh)
