"""The pieces the live plots (app/plots.py) are made of: the colours, a log axis labelled at
whole decades, a plot title that carries its legend, a cheap curve (peak downsampling,
clip-to-view), a curve given new points only when it has them, and a y range that only grows.
See ARCHITECTURE.md ("How a value flows", step 5) and app/plots.py's docstring for why each
is as cheap as it is.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from .plotdata import Series

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f"]


class DecadeAxis(pg.AxisItem):
    """A log axis labelled at whole decades only (1e-4, 0.001, …), as many as fit: with its
    default minor labels (2, 3, … 9 × 10^k) a range of a few decades printed over itself."""

    PX_PER_LABEL = 22

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        lo, hi = math.ceil(minVal), math.floor(maxVal)
        if hi - lo < 1:  # at most one decade mark in view: label the 1-2-5 steps too
            vals = [d + math.log10(m) for d in range(math.floor(minVal), math.ceil(maxVal))
                    for m in (1, 2, 5) if minVal <= d + math.log10(m) <= maxVal]
            self._labelled = set(vals)
            return [(None, vals)]
        fit = max(2, int(size / self.PX_PER_LABEL))
        stride = max(1, math.ceil((hi - lo + 1) / fit))
        major = [v for v in range(lo, hi + 1) if v % stride == 0]
        minor = [v for v in range(lo, hi + 1) if v % stride != 0]
        self._labelled = set(major)
        return [(float(stride), [float(v) for v in major]), (None, [float(v) for v in minor])]

    def logTickStrings(self, values, scale, spacing):
        labelled = getattr(self, "_labelled", set())
        return [_decade(v) if v in labelled else "" for v in values]


def _decade(v: float) -> str:
    x = 10 ** v
    if abs(v - round(v)) > 1e-9:
        return f"{x:.2g}"
    k = int(round(v))
    return f"{x:g}" if -3 <= k <= 3 else f"1e{k}"


def legend_title(name: str, entries: list[tuple[str, str, str]]) -> str:
    """A plot title carrying its legend: coloured marks and names, outside the data area
    (an entry without a mark is its name in its colour)."""
    marks = " ".join(f"<span style='color:{c}'>{m}</span>&nbsp;{n}" if m else
                     f"<span style='color:{c}'>{n}</span>" for n, c, m in entries)
    return f"{name}&nbsp;&nbsp;<span style='font-size:8pt'>{marks}</span>" if entries else name


MAX_TITLE_ENTRIES = 8


def make_curve(plot, color, width=1, style=None, symbol=None, name=None):
    pen = pg.mkPen(color, width=width)
    if style is not None:
        pen.setStyle(style)
    c = plot.plot(pen=pen, symbol=symbol, symbolSize=6, symbolBrush=color, symbolPen=None)
    c._ll_legend = (name, color, {"o": "●", "s": "■", "t": "▲"}.get(symbol, "━")) if name else None
    c.setDownsampling(auto=True, method="peak")
    # One min/max pair per pixel column (pyqtgraph's default keeps ~5 per pixel): the same
    # picture, a fifth of the segments to draw.
    c.opts["autoDownsampleFactor"] = 1.0
    c.setClipToView(True)
    return c


LOG_FLOOR = 1e-12  # a loss of exactly 0 is drawn at the bottom of a log axis


def set_points(curve, series: Series | None, log: bool = False) -> bool:
    """Give `curve` the series' points if it has new ones; True if it changed."""
    n = len(series) if series is not None else 0
    if getattr(curve, "_ll_n", -1) == n:
        return False
    curve._ll_n = n
    if not n:
        curve.setData([], [])
    else:
        x, y = series.plot_data()
        curve.setData(x, np.maximum(y, LOG_FLOOR) if log else y)
    return True


class Range:
    """A y range that only grows, with headroom: axes redraw only when it grows."""

    def __init__(self, plot, log: bool = False, fixed: tuple | None = None,
                 initial: tuple | None = None):
        self.plot, self.log = plot, log
        self.lo = self.hi = None
        self.initial = initial
        plot.disableAutoRange()
        if fixed:
            plot.setYRange(*fixed, padding=0)
            self.lo, self.hi = fixed
            self.fixed = True
        else:
            self.fixed = False
            self.reset()

    def include(self, values) -> None:
        if self.fixed:
            return
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if self.log:
            v = np.log10(v[v > 0])
        if not v.size:
            return
        lo, hi = float(v.min()), float(v.max())
        if self.lo is not None and lo >= self.lo and hi <= self.hi:
            return
        span = max(hi - lo, 1.0 if self.log else abs(hi) * 0.2 + 1e-9)
        new_lo = lo - (0.5 if self.log else 0.15 * span) if self.lo is None or lo < self.lo else self.lo
        new_hi = hi + (0.5 if self.log else 0.15 * span) if self.hi is None or hi > self.hi else self.hi
        self.lo, self.hi = new_lo, new_hi
        self.plot.setYRange(new_lo, new_hi, padding=0)

    def reset(self) -> None:
        """Forget the data seen; show the initial range until new data arrives."""
        if not self.fixed:
            self.lo = self.hi = None
            if self.initial:
                self.plot.setYRange(*self.initial, padding=0)
