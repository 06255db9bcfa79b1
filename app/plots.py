"""Live training plots (pyqtgraph): loss (per step, smoothed, per epoch, validation),
metrics, learning rate, per-layer gradient norms on a log axis, and a layer × time heatmap
that makes vanishing and exploding gradients visible at a glance. Its pieces (axes, curves,
titles, ranges) are app/plot_parts.py. See ARCHITECTURE.md ("How a value flows", step 5).

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
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .plot_parts import (LOG_FLOOR, MAX_TITLE_ENTRIES, PALETTE, DecadeAxis, Range,
                         legend_title, make_curve, set_points)
from .plot_dead import DeadUnitsPlot
from .plotdata import LiveData, smoothed

WAIT_COLOUR = "#ff7f0e"
pg.setConfigOptions(antialias=False, background="w", foreground="#333", imageAxisOrder="row-major")


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
        dash = Qt.DashLine

        def log_axes():
            return {"left": DecadeAxis("left")}

        self.loss_plot = self.view.addPlot(row=0, col=0, axisItems=log_axes())
        self.loss_plot.setLabel("bottom", "step")
        self.c_loss = make_curve(self.loss_plot, "#9ecae1", name="per step")
        self.c_smooth = make_curve(self.loss_plot, "#08519c", width=2, name="smoothed")
        self.c_epoch = make_curve(self.loss_plot, "#08519c", symbol="o", name="epoch")
        self.c_val = make_curve(self.loss_plot, "#d62728", symbol="s", name="validation")

        self.metric_plot = self.view.addPlot(row=0, col=1)
        self.metric_plot.setLabel("bottom", "step")
        self.metric_curves: dict[str, pg.PlotDataItem] = {}

        self.lr_plot = self.view.addPlot(row=0, col=2, title=legend_title(
            "learning rate", [("data wait (right axis, 0-1)", WAIT_COLOUR, "━")]))
        self.lr_plot.setLabel("bottom", "step")
        self.c_lr = make_curve(self.lr_plot, "#2ca02c")
        # The share of each step spent waiting for data (a starving pipeline shows near 1),
        # on its own 0-1 axis at the right of the learning rate's plot
        self.wait_box = pg.ViewBox()
        self.lr_plot.showAxis("right")
        self.lr_plot.scene().addItem(self.wait_box)
        self.lr_plot.getAxis("right").linkToView(self.wait_box)
        self.wait_box.setXLink(self.lr_plot)
        self.wait_box.setYRange(0, 1.02, padding=0)
        self.wait_box.setMouseEnabled(False, False)
        self.c_wait = pg.PlotDataItem(pen=pg.mkPen(WAIT_COLOUR, width=1))
        self.wait_box.addItem(self.c_wait)
        self.lr_plot.vb.sigResized.connect(
            lambda *_: self.wait_box.setGeometry(self.lr_plot.vb.sceneBoundingRect()))

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

        self.heat_plot = self.view.addPlot(row=1, col=2, title="layer × time: log₁₀ ‖g‖")
        self.heat_img = pg.ImageItem(axisOrder="row-major")
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
        self.dead = DeadUnitsPlot(self.view, self.loss_plot)  # a row of its own, when sent
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
        self._layer_stride = None
        self.heat_plot.setXRange(0, 8, padding=0)
        self.heat_plot.setYRange(0, 1, padding=0)
        self.ranges["metric"] = Range(self.metric_plot, initial=(0, 1))
        for c in (self.c_loss, self.c_smooth, self.c_epoch, self.c_val, self.c_lr):
            c._ll_n = -1
        self.c_lr.setData([], [])  # drawn by _refresh_lr, which keeps it while no data comes
        self.c_wait.setData([], [])
        self.c_wait._ll_n = -1
        self._lr_key = None
        self._heat_due = 0.0
        for r in self.ranges.values():
            r.reset()
        self._total = 0
        self._x_hi = 0.0
        self._x_range(0, 0)
        self._heat_version = -1
        self._heat_framed = None
        self.dead.clear()
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
            "loss": legend_title("loss", [c._ll_legend for c in (self.c_loss, self.c_smooth,
                                                           self.c_epoch, self.c_val)]
                           + over[id(self.loss_plot)]),
            "metric": legend_title("metrics (per epoch)", self._metric_legend()
                             + over[id(self.metric_plot)]),
            "grad": legend_title("gradient norm per layer (log)", grads),
            "time": legend_title("gradient per time step |∂L/∂xₜ| (log)",
                           [c._ll_legend for pair in self.time_curves.values() for c in pair]),
            "values": legend_title("per step", [c._ll_legend for c in self.value_curves.values()]),
        }
        changed = False
        for key, plot in (("loss", self.loss_plot), ("metric", self.metric_plot),
                          ("grad", self.grad_plot), ("time", self.time_plot),
                          ("values", self.values_plot)):
            if self._titles.get(key) != titles[key]:
                self._titles[key] = titles[key]
                plot.setTitle(titles[key])
                changed = True
        if changed:
            self._fit_titles()

    def _metric_legend(self) -> list[tuple[str, str, str]]:
        """Each metric's name once, in its colour (its training curve ●, its validation
        twin ■), then what the marks mean: the legend of 12 metrics fits two lines."""
        entries = {}
        for name, c in self.metric_curves.items():
            entries.setdefault(name.removeprefix("val_"), c._ll_legend[1])
        out = [(n, color, "") for n, color in entries.items()]
        if out:
            out.append(("(● training, ■ validation)", "#555", ""))
        return out

    # The share of the width each plot's cell has (columns 3 : 3 : 2; gradients span two)
    SHARES = {"loss": 3 / 8, "metric": 3 / 8, "lr": 2 / 8, "time": 2 / 8, "values": 2 / 8,
              "grad": 6 / 8, "heat": 2 / 8}

    def _plots(self) -> dict:
        return {"loss": self.loss_plot, "metric": self.metric_plot, "lr": self.lr_plot,
                "time": self.time_plot, "values": self.values_plot, "grad": self.grad_plot,
                "heat": self.heat_plot}

    def _fit_titles(self) -> None:
        """A title (its legend) longer than its cell wraps onto more lines instead of
        widening the plot and pushing its neighbours past the window's edge. The cells of a
        row share the width by their stretch; a row whose plots still need more than the
        width (axes and the colour bar take their room first) wraps its titles narrower."""
        total = self.view.width()
        plots = self._plots()
        rows = (("loss", "metric", self._cell_key()), ("grad", "heat"))
        for keys in rows:
            room = total - 20 * len(keys) - 20  # the layout's margins and spacing
            fit = 1.0
            for _ in range(4):
                for key in keys:
                    self._wrap_title(plots[key], total * self.SHARES[key] * fit)
                need = sum(plots[k].effectiveSizeHint(Qt.MinimumSize).width() for k in keys)
                if need <= room:
                    break
                fit *= room / need

    def _cell_key(self) -> str:
        cell = getattr(self, "_lr_cell", self.lr_plot)
        return {id(self.time_plot): "time", id(self.values_plot): "values"}.get(id(cell), "lr")

    @staticmethod
    def _wrap_title(plot, width: float) -> None:
        item = plot.titleLabel.item
        chrome = max(plot.width() - plot.vb.width(), 0.0)  # axes, colour bar
        room = max(60.0, width - chrome - 16)
        item.setTextWidth(-1)
        wide = item.document().idealWidth() > room
        if wide:
            item.setTextWidth(room)
            option = item.document().defaultTextOption()
            option.setAlignment(Qt.AlignHCenter)
            item.document().setDefaultTextOption(option)
        if wide or getattr(plot, "_ll_wrapped", False):
            plot._ll_wrapped = wide
            plot.titleLabel.updateMin()
            plot.titleLabel.resizeEvent(None)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_titles()
        self._label_layers()

    LAYER_LABEL_PX = 13  # the heatmap's row labels: one every this many pixels at least

    def _label_layers(self) -> None:
        """Name as many of the heatmap's rows as fit without overlapping (every k-th)."""
        layers = self._layers
        if not layers:
            return
        rows = max(self.heat_plot.vb.height(), 1.0) / len(layers)
        k = max(1, math.ceil(self.LAYER_LABEL_PX / rows))
        if getattr(self, "_layer_stride", None) == (k, tuple(layers)):
            return
        self._layer_stride = (k, tuple(layers))
        self.heat_plot.getAxis("left").setTicks(
            [[(i + 0.5, l if len(l) <= 14 else l[:13] + "…")
              for i, l in enumerate(layers) if i % k == 0]])

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
        if set_points(self.c_loss, d.loss, log=True):
            self.ranges["loss"].include(d.loss.data()[1][-64:])
        set_points(self.c_smooth, d.smooth, log=True)
        for name, curve in (("loss", self.c_epoch), ("val_loss", self.c_val)):
            if set_points(curve, d.epoch.get(name), log=True) and name in d.epoch:
                self.ranges["loss"].include(d.epoch[name].data()[1][-1:])
        self._refresh_lr(d)
        set_points(self.c_wait, d.data_wait)
        self._refresh_time(d)
        self._refresh_values(d)
        self.dead.refresh(d)
        bases: list[str] = []  # a metric and its val_ twin share a colour; val is drawn ■
        for name in d.metric_names():
            base = name.removeprefix("val_")
            if base not in bases:
                bases.append(base)
        for name in d.metric_names():
            if name not in self.metric_curves:
                color = PALETTE[bases.index(name.removeprefix("val_")) % len(PALETTE)]
                symbol = "s" if name.startswith("val_") else "o"
                self.metric_curves[name] = make_curve(self.metric_plot, color, symbol=symbol,
                                                  name=name)
                if "accuracy" in name and not self.ranges["metric"].fixed:
                    self.ranges["metric"] = Range(self.metric_plot, fixed=(0.0, 1.02))
                self._retitle()
            if set_points(self.metric_curves[name], d.epoch[name]):
                self.ranges["metric"].include(d.epoch[name].data()[1][-1:])
        if d.layers != self._layers:
            for c in self.grad_curves.values():
                self.grad_plot.removeItem(c)
            self.grad_curves = {l: make_curve(self.grad_plot, PALETTE[i % len(PALETTE)], name=l)
                                for i, l in enumerate(d.layers)}
            self._layers = list(d.layers)
            self._retitle()
            self._label_layers()
        for l, c in self.grad_curves.items():
            series = d.grads.get(l)
            if set_points(c, series, log=True) and series is not None and len(series):
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
                self.value_curves[name] = make_curve(self.values_plot, PALETTE[i % len(PALETTE)],
                                                 width=2 if style is None else 1, style=style,
                                                 name=name)
                self._retitle()
            if set_points(self.value_curves[name], series):
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
                self.time_curves[n] = (make_curve(self.time_plot, color, width=2, name=f"{n} now"),
                                       make_curve(self.time_plot, color, style=self._dash,
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
                c = make_curve(self.loss_plot, color, width=2, style=self._dash, name=f"{name} loss")
                c.setData(np.array(steps["step"]), smoothed(steps["step"], steps["loss"]))
                self.overlays.append((self.loss_plot, c))
            for m, values in epochs.items():
                if m in ("epoch", "step", "seconds") or m.endswith("loss") or not epochs.get("step"):
                    continue
                c = make_curve(self.metric_plot, color, width=2, style=self._dash, symbol="t",
                           name=f"{name} {m}")
                c.setData(np.array(epochs["step"]), np.array(values))
                self.overlays.append((self.metric_plot, c))
        self._retitle()

