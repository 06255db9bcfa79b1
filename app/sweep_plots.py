"""The sweep window's plots (issue 29 item 4; app/sweep_view.py): parallel coordinates,
optimisation history, parameter importance, the Pareto scatter and the selected trial's
curves, each a pyqtgraph plot in a tab. They draw a snapshot (runtime/sweep_results.py) and
compute nothing of their own beyond placing it: a value's height on its axis is its place in
the entry's range (log where the range is log, a choice's index among the choices)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

GREY = (150, 150, 150)


def _plot(title: str, bottom: str, left: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#333", size="10pt")
    w.setLabel("bottom", bottom)
    w.setLabel("left", left)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMouseEnabled(x=False, y=False)
    w.hideButtons()
    return w


def place(entry: dict, v) -> float:
    """Where `v` sits on its entry's axis, 0 (low, first choice) to 1 (high, last)."""
    if entry["kind"] == "categorical":
        ch = entry["choices"]
        k = next((i for i, c in enumerate(ch) if c == v and type(c) is type(v)), 0)
        return k / (len(ch) - 1) if len(ch) > 1 else 0.5
    lo, hi = float(entry["low"]), float(entry["high"])
    if entry.get("log"):
        lo, hi, v = math.log(lo), math.log(hi), math.log(max(float(v), 1e-300))
    return min(1.0, max(0.0, (float(v) - lo) / (hi - lo))) if hi > lo else 0.5


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


class SweepPlots(QTabWidget):
    """Tabs: Parallel coordinates, History, Importance, Pareto, Curves."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cmap = pg.colormap.get("viridis")
        self.parallel = _plot("Parallel coordinates: one line per trial, coloured by the metric "
                              "(yellow = best; dashed: pruned or failed)",
                              "", "place in the range (0 = low, 1 = high)")
        self.parallel_lines: list[pg.PlotDataItem] = []  # one per trial, in trial order
        self.history = _plot("Optimisation history", "trial", "metric")
        self.importance = _plot("Parameter importance (Optuna)", "importance", "")
        self.importance_values: dict[str, float] = {}
        self.pareto = _plot("Pareto front: the metric against the parameter count",
                            "parameters", "metric")
        self.curves = _plot("Selected trial: loss per step", "step", "loss")
        self.epoch_curves = _plot("Selected trial: the metric per epoch", "epoch", "metric")
        curves = QWidget()
        v = QVBoxLayout(curves)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.curves)
        v.addWidget(self.epoch_curves)
        for w, name in ((self.parallel, "Parallel coordinates"), (self.history, "History"),
                        (self.importance, "Importance"), (self.pareto, "Pareto"),
                        (curves, "Curves")):
            self.addTab(w, name)
        self.setTabEnabled(3, False)
        self.snap: dict | None = None

    # Drawing a snapshot ------------------------------------------------------------------------
    def show_snapshot(self, snap: dict) -> None:
        self.snap = snap
        self.setTabEnabled(3, bool(snap.get("multi")))
        self._parallel(snap)
        self._history(snap)
        self._importance(snap)
        if snap.get("multi"):
            self._pareto(snap)

    def _colour(self, snap: dict, values: list[float], states: list[str]):
        """Each trial's pen: its metric on the colour map (bright = better), grey without;
        dashed unless the trial completed."""
        good = [v for v in values if v is not None]
        lo, hi = (min(good), max(good)) if good else (0.0, 1.0)
        out = []
        for v, state in zip(values, states):
            if v is None:
                out.append(pg.mkPen(GREY, width=1, style=Qt.DashLine))
                continue
            x = (v - lo) / (hi - lo) if hi > lo else 1.0
            if snap["direction"] == "minimize":
                x = 1.0 - x
            out.append(pg.mkPen(self.cmap.map(x, mode="qcolor"), width=2 if state == "complete"
                                else 1, style=Qt.SolidLine if state == "complete"
                                else Qt.DashLine))
        return out

    def _parallel(self, snap: dict) -> None:
        p = self.parallel
        p.clear()
        self.parallel_lines = []
        entries = snap["search"]
        names = [e["target"] for e in entries] + [snap["metric"]]
        n = len(names)
        rows = [r for r in snap["trials"] if r["params"]]
        metric = [r["values"][0] if r["values"] else None for r in rows]
        good = [v for v in metric if v is not None]
        mlo, mhi = (min(good), max(good)) if good else (0.0, 1.0)
        pens = self._colour(snap, metric, [r["state"] for r in rows])
        for r, pen, m in zip(rows, pens, metric):
            xs, ys = [], []
            for i, e in enumerate(entries):
                if e["target"] in r["params"]:
                    xs.append(i)
                    ys.append(place(e, r["params"][e["target"]]))
            if m is not None:
                xs.append(n - 1)
                ys.append((m - mlo) / (mhi - mlo) if mhi > mlo else 0.5)
            line = p.plot(xs, ys, pen=pen, symbol="o", symbolSize=5, symbolPen=None,
                          symbolBrush=pen.color(), name=f"trial {r['number']}")
            self.parallel_lines.append(line)
        for i, e in enumerate(entries + [None]):
            p.addItem(pg.InfiniteLine(pos=i, angle=90, pen=pg.mkPen((90, 90, 90), width=1)))
            if e is None:
                lo, hi = (_short(mlo), _short(mhi)) if good else ("", "")
            elif e["kind"] == "categorical":
                lo, hi = _short(e["choices"][0]), _short(e["choices"][-1])
            else:
                lo, hi = _short(e["low"]), _short(e["high"])
            for y, text, anchor in ((0.0, lo, (0.5, 0)), (1.0, hi, (0.5, 1))):
                t = pg.TextItem(text, color="#444", anchor=anchor)
                t.setPos(i, y)
                p.addItem(t)
        p.getAxis("bottom").setTicks([[(i, name) for i, name in enumerate(names)]])
        p.setXRange(-0.3, n - 0.7, padding=0)
        p.setYRange(-0.12, 1.12, padding=0)

    def _history(self, snap: dict) -> None:
        p = self.history
        p.clear()
        p.setLabel("left", snap["metric"])
        done = [r for r in snap["trials"] if r["state"] == "complete" and r["values"]]
        if not done:
            return
        xs = np.array([r["number"] for r in done], float)
        ys = np.array([r["values"][0] for r in done], float)
        p.plot(xs, ys, pen=None, symbol="o", symbolBrush=(59, 111, 212), symbolPen=None,
               name="trial")
        best = (np.minimum if snap["direction"] == "minimize" else np.maximum).accumulate(ys)
        p.plot(xs, best, pen=pg.mkPen((212, 73, 59), width=2), stepMode=None, name="best")

    def _importance(self, snap: dict) -> None:
        p = self.importance
        p.clear()
        imp = snap.get("importance") or {}
        self.importance_values = dict(imp)
        if not imp:
            t = pg.TextItem("Importance appears after 2 complete trials.", color="#666")
            t.setPos(0, 0)
            p.addItem(t)
            p.getAxis("left").setTicks([[]])
            return
        names = list(imp)[::-1]  # the most important on top
        p.addItem(pg.BarGraphItem(x0=0, y=np.arange(len(names)), height=0.6,
                                  width=[imp[k] for k in names], brush=(59, 111, 212)))
        p.getAxis("left").setTicks([[(i, k) for i, k in enumerate(names)]])
        p.setXRange(0, max(imp.values()) * 1.05 or 1)
        p.setYRange(-0.6, len(names) - 0.4)

    def _pareto(self, snap: dict) -> None:
        p = self.pareto
        p.clear()
        p.setLabel("left", snap["metric"])
        done = [r for r in snap["trials"] if r["state"] == "complete" and r["values"]]
        front = set(snap.get("pareto") or [])
        for on, brush in ((False, GREY), (True, (212, 73, 59))):
            pts = [r for r in done if (r["number"] in front) == on]
            if pts:
                p.plot([r["values"][1] for r in pts], [r["values"][0] for r in pts], pen=None,
                       symbol="o", symbolBrush=brush, symbolPen=None)

    # A trial's curves ----------------------------------------------------------------------------
    def show_curves(self, name: str, steps: dict, epochs: dict, metric: str) -> None:
        self.curves.clear()
        self.epoch_curves.clear()
        self.curves.setTitle(f"Trial {name}: loss per step", color="#333", size="10pt")
        if steps.get("step") and steps.get("loss"):
            self.curves.plot(steps["step"], steps["loss"], pen=pg.mkPen((59, 111, 212)))
        self.epoch_curves.setLabel("left", metric)
        self.epoch_curves.setTitle(f"Trial {name}: {metric} per epoch", color="#333",
                                   size="10pt")
        if epochs.get("epoch") and epochs.get(metric):
            self.epoch_curves.plot(epochs["epoch"], epochs[metric], pen=pg.mkPen((212, 73, 59)),
                                   symbol="o", symbolSize=5)
