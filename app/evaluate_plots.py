"""The plots of Train > Evaluate (app/evaluate_view.py), drawn from an Evaluation's figures
(runtime/evaluate: every number computed there; nothing is computed here but positions).

ConfusionPlot: the confusion matrix as a heatmap, one cell per (true, predicted) class pair,
rows = TRUE class (top to bottom), columns = PREDICTED class (left to right), the class names
on both axes and each cell's count written in it; a click on a cell emits cellClicked(true,
predicted). The ImageItem holds the matrix in pyqtgraph's configured axis order: 'row-major' (what
app/plots.py sets) data[row = true, column = predicted], the matrix itself; 'col-major'
(pyqtgraph's default) data[x = predicted, y = true], the matrix transposed. Either way cell
(true r, predicted c) covers view x in [c, c+1], y in [r, r+1] with y growing downwards;
`cell_at` maps a point in view coordinates to (true, predicted).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem

TRUE_AXIS, PREDICTED_AXIS = "true class", "predicted class"


def _lut() -> np.ndarray:
    """White (no samples) to a deep blue (the most), 256 steps."""
    lo, hi = np.array([255, 255, 255]), np.array([8, 69, 148])
    t = np.linspace(0.0, 1.0, 256)[:, None]
    return (lo + (hi - lo) * t).round().astype(np.ubyte)


class ConfusionPlot(pg.PlotWidget):
    """See the module's docstring."""
    cellClicked = Signal(int, int)  # (true class, predicted class)

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.matrix = np.zeros((0, 0))
        self.names: list[str] = []
        self.image = pg.ImageItem()
        self.image.setLookupTable(_lut())
        self.texts: list[pg.TextItem] = []
        self.addItem(self.image)
        self.mark = QGraphicsRectItem(0, 0, 1, 1)  # the clicked cell's outline
        self.mark.setPen(pg.mkPen((214, 39, 40), width=3))
        self.mark.setZValue(10)
        self.mark.hide()
        self.addItem(self.mark)
        vb = self.getViewBox()
        vb.invertY(True)  # row 0 (the first true class) at the top
        vb.setMouseEnabled(False, False)
        vb.setMenuEnabled(False)
        vb.setAspectLocked(True)
        self.hideButtons()
        self.setLabel("left", TRUE_AXIS)
        self.setLabel("bottom", PREDICTED_AXIS)
        self.setTitle("Confusion matrix (click a cell for its samples)")
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_matrix(self, cm: list[list[int]], names: list[str]) -> None:
        a = np.asarray(cm, dtype=float).reshape(len(names), len(names))
        self.matrix, self.names = a, list(names)
        row_major = pg.getConfigOption("imageAxisOrder") == "row-major"
        self.image.setImage(a if row_major else a.T, autoLevels=False,
                            levels=(0.0, max(float(a.max(initial=0.0)), 1.0)))
        self.image.setRect(0, 0, a.shape[1], a.shape[0])  # pixel (c, r) covers [c, c+1] × [r, r+1]
        self.mark.hide()
        for t in self.texts:
            self.removeItem(t)
        self.texts = []
        top = max(float(a.max(initial=0.0)), 1.0)
        small = len(names) > 20  # too many cells to write in: the tooltip-free heatmap alone
        for r in range(a.shape[0]):
            for c in range(a.shape[1]):
                if small:
                    break
                n = int(a[r, c])
                t = pg.TextItem(str(n), anchor=(0.5, 0.5),
                                color="w" if n / top > 0.5 else (40, 40, 40))
                t.setPos(c + 0.5, r + 0.5)
                self.addItem(t)
                self.texts.append(t)
        ticks = [[(k + 0.5, name) for k, name in enumerate(names)]]
        self.getAxis("bottom").setTicks(ticks)
        self.getAxis("left").setTicks(ticks)
        self.setRange(xRange=(0, a.shape[1]), yRange=(0, a.shape[0]), padding=0.02)

    def axis_labels(self, which: str) -> list[tuple[float, str]]:
        """The class-name ticks of axis 'left' (true) or 'bottom' (predicted)."""
        ticks = self.getAxis(which)._tickLevels
        return list(ticks[0]) if ticks else []

    def cell_at(self, p: QPointF) -> tuple[int, int] | None:
        """(true, predicted) of the cell under view point `p`, or None outside the matrix."""
        if not len(self.names) or not (math.isfinite(p.x()) and math.isfinite(p.y())):
            return None
        r, c = math.floor(p.y()), math.floor(p.x())
        if 0 <= r < self.matrix.shape[0] and 0 <= c < self.matrix.shape[1]:
            return r, c
        return None

    def cell_center(self, true: int, predicted: int) -> QPointF:
        """A cell's centre in view coordinates."""
        return QPointF(predicted + 0.5, true + 0.5)

    def _clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton:
            return
        cell = self.cell_at(self.getViewBox().mapSceneToView(ev.scenePos()))
        if cell is not None:
            self.mark.setRect(cell[1], cell[0], 1, 1)
            self.mark.show()
            self.cellClicked.emit(*cell)


def _plot(title: str, x: str, y: str) -> pg.PlotWidget:
    p = pg.PlotWidget(background="w")
    p.setTitle(title)
    p.setLabel("bottom", x)
    p.setLabel("left", y)
    p.showGrid(x=True, y=True, alpha=0.2)
    return p


def _pen(k: int, n: int):
    return pg.mkPen(pg.intColor(k, hues=max(n, 1)), width=2)


def curves_plot(f: dict, roc: bool) -> pg.PlotWidget:
    """ROC (false against true positive rate) or precision-recall curves, one per class
    (one-vs-rest), each class's AUC / average precision in the legend."""
    if roc:
        p = _plot("ROC, one-vs-rest", "false positive rate", "true positive rate")
        p.plot([0, 1], [0, 1], pen=pg.mkPen((150, 150, 150), style=Qt.DashLine))
    else:
        p = _plot("Precision-recall, one-vs-rest", "recall", "precision")
    p.addLegend(offset=(-10, 10) if roc else (10, -10))
    drawn = [c for c in f["curves"] if c.get("roc")]
    for k, c in enumerate(drawn):
        if roc:
            p.plot(c["roc"]["fpr"], c["roc"]["tpr"], pen=_pen(k, len(drawn)),
                   name=f"{c['class']}  AUC {c['roc_auc']:.3f}")
        else:
            p.plot(c["pr"]["recall"], c["pr"]["precision"], pen=_pen(k, len(drawn)),
                   name=f"{c['class']}  AP {c['average_precision']:.3f}")
    p.setRange(xRange=(0, 1), yRange=(0, 1.02), padding=0.02)
    return p


def reliability_plot(f: dict) -> pg.PlotWidget:
    """The reliability diagram: each non-empty confidence bin's accuracy as a bar over the
    bin, its mean confidence as a point, and the diagonal of perfect calibration."""
    cal = f.get("calibration")
    ece = f.get("ece")
    p = _plot("Reliability" + (f" (ECE {ece:.3f})" if ece is not None else ""),
              "confidence (top class)", "accuracy")
    p.plot([0, 1], [0, 1], pen=pg.mkPen((150, 150, 150), style=Qt.DashLine))
    if cal:
        b = cal["bins"]
        lo = np.array([x["low"] for x in b])
        hi = np.array([x["high"] for x in b])
        p.addItem(pg.BarGraphItem(x0=lo, x1=hi, height=[x["accuracy"] for x in b],
                                  brush=(31, 119, 180, 160), pen=pg.mkPen((20, 60, 110))))
        p.plot([x["confidence"] for x in b], [x["accuracy"] for x in b], pen=None,
               symbol="o", symbolSize=6, symbolBrush=(214, 39, 40))
    else:
        p.setTitle("Reliability: the loss's scores are not probabilities (no calibration)")
    p.setRange(xRange=(0, 1), yRange=(0, 1.02), padding=0.02)
    return p


def scatter_plot(title: str, x: str, y: str, xs, ys, diagonal=False, zero=False):
    """Points (thinned to 20,000 evenly) with the y = x line or the y = 0 line."""
    p = _plot(title, x, y)
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    if len(xs) > 20000:
        keep = np.linspace(0, len(xs) - 1, 20000).astype(int)
        xs, ys = xs[keep], ys[keep]
    p.addItem(pg.ScatterPlotItem(xs, ys, size=5, pen=None, brush=(31, 119, 180, 140)))
    if len(xs):
        lo, hi = float(min(xs.min(), ys.min() if diagonal else xs.min())), \
            float(max(xs.max(), ys.max() if diagonal else xs.max()))
        line = pg.mkPen((214, 39, 40), style=Qt.DashLine)
        if diagonal:
            p.plot([lo, hi], [lo, hi], pen=line, name="y = x")
        if zero:
            p.plot([lo, hi], [0, 0], pen=line)
    return p


def bars_plot(title: str, x: str, y: str, xs, heights, y_max=None) -> pg.PlotWidget:
    p = _plot(title, x, y)
    if len(xs):
        p.addItem(pg.BarGraphItem(x=np.asarray(xs, float), height=np.asarray(heights, float),
                                  width=0.8, brush=(31, 119, 180, 180)))
    if y_max is not None:
        p.setYRange(0, y_max)
    return p
