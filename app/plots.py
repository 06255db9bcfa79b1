"""Live training plots (pyqtgraph): loss (per step, smoothed, per epoch, validation),
metrics, learning rate, per-layer gradient norms on a log axis, and a layer × time heatmap
that makes vanishing and exploding gradients visible at a glance.

Cheap to repaint, because the training process shares two cores with the window:
- axes stay still: the x range follows the data but grows in jumps of 1.6x (capped at the
  run's planned length) and y ranges only grow, with headroom, so pyqtgraph regenerates
  ticks and labels a handful of times per run, not every frame (that was most of a 27 ms
  repaint);
- legends are coloured words in each plot's title, outside the data area, so they never
  hide a curve; log axes label whole decades only, thinned to fit (no overlapping labels);
- curves use peak downsampling (a min/max pair per pixel column) and clip-to-view, thin
  pens, no antialiasing, so a run of 100,000 steps repaints as fast as a short one;
- only curves with new points are updated; `refresh()` runs at ~10 Hz from a timer and does
  nothing when no data arrived.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .plotdata import LiveData, Series

pg.setConfigOptions(antialias=False, background="w", foreground="#333", imageAxisOrder="row-major")

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


def _title(name: str, entries: list[tuple[str, str, str]]) -> str:
    """A plot title carrying its legend: coloured marks and names, outside the data area."""
    marks = " ".join(f"<span style='color:{c}'>{m}</span>&nbsp;{n}" for n, c, m in entries)
    return f"{name}&nbsp;&nbsp;<span style='font-size:8pt'>{marks}</span>" if entries else name


MAX_TITLE_ENTRIES = 8


def _curve(plot, color, width=1, style=None, symbol=None, name=None):
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


def _set(curve, series: Series | None, log: bool = False) -> bool:
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


class LivePlots(QWidget):
    def __init__(self, data: LiveData, parent=None):
        super().__init__(parent)
        self.data = data
        self.view = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # What the gradients say, in words, next to the plots (vanishing or exploding).
        self.warning = QLabel()
        self.warning.setObjectName("gradient_warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("background: #fff4d6; color: #5c3b00; padding: 4px 8px;"
                                   "border: 1px solid #e8c15a;")
        self.warning.hide()
        layout.addWidget(self.warning)
        layout.addWidget(self.view)
        from PySide6.QtCore import Qt
        dash = Qt.DashLine

        def log_axes():
            return {"left": DecadeAxis("left")}

        self.loss_plot = self.view.addPlot(row=0, col=0, axisItems=log_axes())
        self.loss_plot.setLabel("bottom", "step")
        self.c_loss = _curve(self.loss_plot, "#9ecae1", name="per step")
        self.c_smooth = _curve(self.loss_plot, "#08519c", width=2, name="smoothed")
        self.c_epoch = _curve(self.loss_plot, "#08519c", symbol="o", name="epoch")
        self.c_val = _curve(self.loss_plot, "#d62728", symbol="s", name="validation")

        self.metric_plot = self.view.addPlot(row=0, col=1)
        self.metric_plot.setLabel("bottom", "step")
        self.metric_curves: dict[str, pg.PlotDataItem] = {}

        self.lr_plot = self.view.addPlot(row=0, col=2, title="learning rate")
        self.lr_plot.setLabel("bottom", "step")
        self.c_lr = _curve(self.lr_plot, "#2ca02c")

        self.grad_plot = self.view.addPlot(row=1, col=0, colspan=2, axisItems=log_axes())
        self.grad_plot.setLogMode(y=True)
        self.grad_plot.setLabel("bottom", "step")
        self.grad_curves: dict[str, pg.PlotDataItem] = {}

        # Recurrent runs: the gradient per time step takes the learning rate's place.
        self.time_plot = pg.PlotItem(axisItems=log_axes())
        self.time_plot.setLogMode(y=True)
        self.time_plot.setLabel("bottom", "time step t")
        self.time_curves: dict[str, tuple] = {}
        self.time_plot.hide()  # not in the layout until a recurrent run sends its profile
        self._time_shown = False
        # Runs that log named values per step (a GAN's two losses, D(x), D(G(z))): they take
        # the learning rate's cell too.
        self.values_plot = pg.PlotItem()
        self.values_plot.setLabel("bottom", "step")
        self.values_plot.hide()
        self.value_curves: dict[str, pg.PlotDataItem] = {}
        self._time_version = -1
        self._time_due = 0.0

        self.heat_plot = self.view.addPlot(row=1, col=2, title="log₁₀ gradient norm: layer × time")
        self.heat_img = pg.ImageItem()
        self.heat_plot.addItem(self.heat_img)
        self.heat_plot.invertY(True)
        self.heat_plot.setLabel("bottom", "time →")
        self.heat_plot.getAxis("bottom").setTicks([[]])
        self.colorbar = pg.ColorBarItem(values=(-6, 2), colorMap=pg.colormap.get("viridis"),
                                        width=12, interactive=False)
        self.colorbar.setImageItem(self.heat_img, insert_in=self.heat_plot)
        self.view.ci.layout.setColumnStretchFactor(0, 3)
        self.view.ci.layout.setColumnStretchFactor(1, 3)

        self.loss_plot.setLogMode(y=True)
        self.ranges = {"loss": Range(self.loss_plot, log=True, initial=(-3, 1)),
                       "metric": Range(self.metric_plot, initial=(0, 1)),
                       "lr": Range(self.lr_plot, initial=(0, 0.01)),
                       "grad": Range(self.grad_plot, log=True, initial=(-4, 1)),
                       "time": Range(self.time_plot, log=True, initial=(-8, 0)),
                       "values": Range(self.values_plot, initial=(0, 1))}
        self.view.ci.layout.setColumnStretchFactor(2, 2)
        self.overlays: list = []
        self._titles = {}
        self._x_hi = 0.0
        self._retitle()
        self._dash = dash
        self._layers: list[str] = []
        self._total = 0
        self._heat_version = -1

    # Data to curves -----------------------------------------------------------------------------
    def clear(self) -> None:
        self._layers = []
        for c in self.grad_curves.values():
            self.grad_plot.removeItem(c)
        self.grad_curves = {}
        for c in self.metric_curves.values():
            self.metric_plot.removeItem(c)
        self.metric_curves = {}
        self._show_time_plot(False)
        for now, first in self.time_curves.values():
            self.time_plot.removeItem(now)
            self.time_plot.removeItem(first)
        self.time_curves = {}
        self._time_version = -1
        for c in self.value_curves.values():
            self.values_plot.removeItem(c)
        self.value_curves = {}
        self._in_lr_cell(self.lr_plot)
        self.heat_img.clear()
        self.heat_plot.getAxis("left").setTicks([[]])  # the last run's layer names go
        self.heat_plot.setXRange(0, 8, padding=0)
        self.heat_plot.setYRange(0, 1, padding=0)
        self.ranges["metric"] = Range(self.metric_plot, initial=(0, 1))
        for c in (self.c_loss, self.c_smooth, self.c_epoch, self.c_val, self.c_lr):
            c._ll_n = -1
        self._lr_key = None
        self._heat_due = 0.0
        for r in self.ranges.values():
            r.reset()
        self._total = 0
        self._x_hi = 0.0
        self._x_range(0, 0)
        self._heat_version = -1
        self._heat_framed = None
        self._retitle()
        self.data.dirty = True
        self.refresh()

    X_GROWTH = 1.6  # the x axis jumps ahead by this factor when the data reaches its end

    def _x_range(self, step: int, total: int) -> None:
        """The x range follows the data: it jumps ahead (x1.6, at most to the run's planned
        length) when the data reaches its end, so the axes move a few times per run, not
        every frame, and a long planned run does not squash its first steps into a corner."""
        self._total = total
        hi = max(step * self.X_GROWTH, 20.0)
        if total:
            hi = min(hi, total)
        if step <= getattr(self, "_x_hi", 0.0) and self._x_hi:
            return
        self._x_hi = hi
        for plot in (self.loss_plot, self.metric_plot, self.lr_plot, self.grad_plot,
                     self.values_plot):
            plot.setXRange(0, hi, padding=0.02)

    def _retitle(self) -> None:
        """Titles carry the legends (outside the data area: they never hide a curve)."""
        over = {id(p): [c._ll_legend for q, c in self.overlays if q is p and c._ll_legend]
                for p in (self.loss_plot, self.metric_plot)}
        grads = [c._ll_legend for c in self.grad_curves.values()]
        if len(grads) > MAX_TITLE_ENTRIES:
            grads = grads[:MAX_TITLE_ENTRIES] + [(f"… {len(grads) - MAX_TITLE_ENTRIES} more",
                                                  "#777", "")]
        titles = {
            "loss": _title("loss", [c._ll_legend for c in (self.c_loss, self.c_smooth,
                                                           self.c_epoch, self.c_val)]
                           + over[id(self.loss_plot)]),
            "metric": _title("metrics (per epoch)",
                             [c._ll_legend for c in self.metric_curves.values()]
                             + over[id(self.metric_plot)]),
            "grad": _title("gradient norm per layer (log)", grads),
            "time": _title("gradient per time step |∂L/∂xₜ| (log)",
                           [c._ll_legend for pair in self.time_curves.values() for c in pair]),
            "values": _title("per step", [c._ll_legend for c in self.value_curves.values()]),
        }
        for key, plot in (("loss", self.loss_plot), ("metric", self.metric_plot),
                          ("grad", self.grad_plot), ("time", self.time_plot),
                          ("values", self.values_plot)):
            if self._titles.get(key) != titles[key]:
                self._titles[key] = titles[key]
                plot.setTitle(titles[key])

    def titles(self) -> dict[str, str]:
        """The plots' titles as plain text (legend entries included), for tests and tools."""
        import re
        return {k: re.sub(r"<[^>]+>", "", v).replace("&nbsp;", " ")
                for k, v in self._titles.items()}

    def refresh(self) -> bool:
        d = self.data
        if not d.dirty:
            return False
        d.dirty = False
        if (d.warning or "") != self.warning.text():
            self.warning.setText(d.warning or "")
            self.warning.setVisible(bool(d.warning))
        self._x_range(d.step, d.total_steps)
        if _set(self.c_loss, d.loss, log=True):
            self.ranges["loss"].include(d.loss.data()[1][-64:])
        _set(self.c_smooth, d.smooth, log=True)
        for name, curve in (("loss", self.c_epoch), ("val_loss", self.c_val)):
            if _set(curve, d.epoch.get(name), log=True) and name in d.epoch:
                self.ranges["loss"].include(d.epoch[name].data()[1][-1:])
        self._refresh_lr(d)
        self._refresh_time(d)
        self._refresh_values(d)
        bases: list[str] = []  # a metric and its val_ twin share a colour; val is drawn ■
        for name in d.metric_names():
            base = name.removeprefix("val_")
            if base not in bases:
                bases.append(base)
        for name in d.metric_names():
            if name not in self.metric_curves:
                color = PALETTE[bases.index(name.removeprefix("val_")) % len(PALETTE)]
                symbol = "s" if name.startswith("val_") else "o"
                self.metric_curves[name] = _curve(self.metric_plot, color, symbol=symbol,
                                                  name=name)
                if "accuracy" in name and not self.ranges["metric"].fixed:
                    self.ranges["metric"] = Range(self.metric_plot, fixed=(0.0, 1.02))
                self._retitle()
            if _set(self.metric_curves[name], d.epoch[name]):
                self.ranges["metric"].include(d.epoch[name].data()[1][-1:])
        if d.layers != self._layers:
            for c in self.grad_curves.values():
                self.grad_plot.removeItem(c)
            self.grad_curves = {l: _curve(self.grad_plot, PALETTE[i % len(PALETTE)], name=l)
                                for i, l in enumerate(d.layers)}
            self._layers = list(d.layers)
            self._retitle()
            self.heat_plot.getAxis("left").setTicks(
                [[(i + 0.5, l) for i, l in enumerate(d.layers)]])
        for l, c in self.grad_curves.items():
            series = d.grads.get(l)
            if _set(c, series, log=True) and series is not None and len(series):
                self.ranges["grad"].include(series.data()[1][-64:])
        heat = d.heat
        now = time.perf_counter()
        heat_due = now >= getattr(self, "_heat_due", 0.0)
        if heat is not None and heat.counts[0] > 0 and heat_due:
            self._heat_due = now + 0.3  # a coarse overview: ~3 Hz is plenty
            version = (heat.used, heat.per_column, int(heat.counts[heat.used]))
            if version != self._heat_version:
                self._heat_version = version
                img = heat.image()
                self.heat_img.setImage(np.nan_to_num(img, nan=-8.0), autoLevels=False,
                                       levels=(-6, 2))
                self.heat_img.setRect(0, 0, img.shape[1], img.shape[0])
                # A fixed frame sized to the run's expected samples (the image fills it by
                # the end); it only changes if the run outgrows the estimate.
                width = max(img.shape[1], min(d.expected_grad_samples or heat.columns,
                                              heat.columns), 8)
                if getattr(self, "_heat_framed", None) != width:
                    self._heat_framed = width
                    self.heat_plot.disableAutoRange()
                    self.heat_plot.setXRange(0, width, padding=0)
                    self.heat_plot.setYRange(0, max(len(self._layers), 1), padding=0)
        return True

    def _show_time_plot(self, on: bool) -> None:
        """The gradient-per-time-step plot in the learning rate's cell (and back)."""
        if on == self._time_shown:
            return
        self._in_lr_cell(self.time_plot if on else self.lr_plot)
        self._time_shown = on

    def _in_lr_cell(self, item) -> None:
        ci = self.view.ci
        old = getattr(self, "_lr_cell", self.lr_plot)
        if old is item:
            return
        ci.removeItem(old)
        old.hide()
        ci.addItem(item, row=0, col=2)
        item.show()
        self._lr_cell = item

    def _refresh_values(self, d) -> None:
        """Each named value per step: a GAN's losses (solid) and D(x), D(G(z)) (dashed)."""
        if not d.values:
            return
        self._in_lr_cell(self.values_plot)
        for i, (name, series) in enumerate(d.values.items()):
            if name not in self.value_curves:
                style = self._dash if name.startswith("D(") or ".D(" in name else None
                self.value_curves[name] = _curve(self.values_plot, PALETTE[i % len(PALETTE)],
                                                 width=2 if style is None else 1, style=style,
                                                 name=name)
                self._retitle()
            if _set(self.value_curves[name], series):
                self.ranges["values"].include(series.data()[1][-64:])

    MAX_TIME_LAYERS = 3

    def _refresh_time(self, d) -> None:
        """|∂L/∂x_t| over the time steps of each recurrent layer's input: now (solid) and at
        the run's start (dashed). Redrawn at ~2 Hz: one curve of T points each."""
        if not d.time_last:
            return
        self._show_time_plot(True)
        now = time.perf_counter()
        if d.time_version == self._time_version or now < self._time_due:
            return
        self._time_version, self._time_due = d.time_version, now + 0.5
        for i, n in enumerate(list(d.time_last)[:self.MAX_TIME_LAYERS]):
            if n not in self.time_curves:
                color = PALETTE[i % len(PALETTE)]
                self.time_curves[n] = (_curve(self.time_plot, color, width=2, name=f"{n} now"),
                                       _curve(self.time_plot, color, style=self._dash,
                                              name=f"{n} at the start"))
                self._retitle()
            last, first = d.time_last[n], d.time_first[n]
            for curve, values in zip(self.time_curves[n], (last, first)):
                y = np.maximum(np.asarray(values, dtype=float), LOG_FLOOR)
                curve.setData(np.arange(len(y)), y)
                self.ranges["time"].include(y)
            self.time_plot.setXRange(0, max(len(last) - 1, 1), padding=0.02)

    def _refresh_lr(self, d) -> None:
        """The learning rate as steps between the points where it changes: a constant rate
        is one flat line that does not need redrawing every frame."""
        x, y = d.lr.data()
        if not len(y):
            return
        changes = np.flatnonzero(np.diff(y)) + 1
        key = (len(changes), float(y[-1]), self._total)
        if key == getattr(self, "_lr_key", None):
            return
        self._lr_key = key
        idx = np.concatenate([[0], changes])
        xs = np.append(x[idx], max(self._total, x[-1]))
        ys = np.append(y[idx], y[-1])
        self.c_lr.setData(xs, ys, stepMode=None)
        self.ranges["lr"].include(ys)

    # Comparing runs -----------------------------------------------------------------------------
    def set_overlays(self, runs: list[tuple[str, dict, dict]]) -> None:
        """Dashed curves of earlier runs: (name, steps columns, epochs columns)."""
        for plot, item in self.overlays:
            plot.removeItem(item)
        self.overlays = []
        longest = max([max(s.get("step") or [0]) for _, s, _ in runs] or [0])
        if longest > self._x_hi / self.X_GROWTH:  # show the earlier runs whole
            self._x_hi = 0.0
            self._x_range(int(max(longest, self.data.step)), 0)
        for i, (name, steps, epochs) in enumerate(runs):
            color = PALETTE[(i + 3) % len(PALETTE)]
            if steps.get("step"):
                c = _curve(self.loss_plot, color, width=2, style=self._dash, name=f"{name} loss")
                c.setData(np.array(steps["step"]), _ema(np.array(steps["loss"])))
                self.overlays.append((self.loss_plot, c))
            for m, values in epochs.items():
                if m in ("epoch", "step", "seconds") or m.endswith("loss") or not epochs.get("step"):
                    continue
                c = _curve(self.metric_plot, color, width=2, style=self._dash, symbol="t",
                           name=f"{name} {m}")
                c.setData(np.array(epochs["step"]), np.array(values))
                self.overlays.append((self.metric_plot, c))
        self._retitle()


def _ema(y: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    out = np.empty_like(y)
    acc = None
    for i, v in enumerate(y):
        acc = v if acc is None or not np.isfinite(acc) else (1 - alpha) * acc + alpha * v
        out[i] = acc
    return out
