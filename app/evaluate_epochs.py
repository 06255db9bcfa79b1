"""A generator's samples per epoch of its run, on Train > Evaluate's generator page
(app/evaluate_other.py): the samples of the training's fixed noise batch the run kept at each
epoch's end (runtime/runs.py samples/, listed by runtime/evaluate/sequences.epochs), a slider
to pick the epoch, the picked epoch's grid (images) or scatter (2-D points), and what the
dataset's judge made of each epoch's samples: a curve per figure over the epochs, the picked
epoch marked, and a table. Every number is the runtime's."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSplitter, QVBoxLayout, QWidget

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]


def _judged_text(judged: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in judged.items()) or "no judge"


class EpochGrids(QWidget):
    """See the module's docstring. `grid` turns an epoch's images into one picture
    (evaluate_other._grid: the same drawing as the final weights' grid)."""

    def __init__(self, epochs: list[dict], shape: list, grid, parent=None):
        super().__init__(parent)
        self.setObjectName("epoch_grids")
        self.all = epochs  # every epoch's judged figures
        self.shown = [e for e in epochs if e.get("generated") is not None]  # with samples
        self.shape, self._grid = list(shape), grid
        self.points = len(self.shape) == 1 and self.shape[0] == 2
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        title = QLabel(f"<b>Samples per epoch</b> (the training's fixed noise batch, kept at "
                       f"each epoch's end: {len(self.all)} epochs, {len(self.shown)} "
                       f"with their samples)")
        title.setWordWrap(True)
        lay.addWidget(title)
        row = QHBoxLayout()
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("epoch_slider")
        self.slider.setRange(0, max(len(self.shown) - 1, 0))
        self.slider.setPageStep(max(len(self.shown) // 10, 1))
        self.slider.setTickPosition(QSlider.TicksBelow)
        self.label = QLabel()
        self.label.setObjectName("epoch_label")
        row.addWidget(QLabel("Epoch"))
        row.addWidget(self.slider, 1)
        lay.addLayout(row)
        lay.addWidget(self.label)
        split = QSplitter(Qt.Vertical)
        self.plot = pg.PlotWidget(background="w")
        vb = self.plot.getViewBox()
        vb.setMouseEnabled(False, False)
        if self.points:
            self.item = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(31, 119, 180, 170))
            self.plot.setLabel("bottom", "x₁")
            self.plot.setLabel("left", "x₂")
            self.plot.showGrid(x=True, y=True, alpha=0.2)
            self._fix_range()
        else:
            self.item = pg.ImageItem()
            vb.invertY(True)
            vb.setAspectLocked(True)
            self.plot.hideAxis("left")
            self.plot.hideAxis("bottom")
        self.plot.addItem(self.item)
        split.addWidget(self.plot)
        split.addWidget(self._curves())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay.addWidget(split, 1)
        self.slider.valueChanged.connect(self.show_index)
        self.slider.setValue(self.slider.maximum())  # the last epoch first
        self.show_index(self.slider.value())

    def _fix_range(self) -> None:
        """Axes fixed over every epoch's points: what moves between epochs is the generator."""
        pts = [np.asarray(e["generated"], dtype=float) for e in self.shown]
        if not pts:
            return
        allp = np.concatenate(pts)
        lo, hi = np.percentile(allp, 1, axis=0), np.percentile(allp, 99, axis=0)
        pad = 0.15 * float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-6))
        self.plot.setXRange(float(lo[0]) - pad, float(hi[0]) + pad, padding=0)
        self.plot.setYRange(float(lo[1]) - pad, float(hi[1]) + pad, padding=0)
        self.plot.getViewBox().disableAutoRange()

    def _curves(self) -> pg.PlotWidget:
        """Each judged figure over the epochs (every epoch), the picked epoch marked."""
        plot = pg.PlotWidget(background="w")
        plot.setTitle("The dataset's judge of each epoch's samples")
        plot.setLabel("bottom", "epoch")
        plot.addLegend(offset=(10, 5), colCount=5)
        plot.showGrid(x=True, y=True, alpha=0.2)
        xs = [e["epoch"] for e in self.all]
        names = list(dict.fromkeys(k for e in self.all for k in e["judged"]))
        for i, k in enumerate(names):
            ys = [e["judged"].get(k, np.nan) for e in self.all]
            plot.plot(xs, ys, pen=pg.mkPen(COLOURS[i % len(COLOURS)], width=2),
                      symbol="o", symbolSize=5, symbolBrush=COLOURS[i % len(COLOURS)], name=k)
        self.mark = pg.InfiniteLine(angle=90, pen=pg.mkPen((120, 120, 120), width=1,
                                                          style=Qt.DashLine))
        plot.addItem(self.mark)
        self.judge_plot = plot
        return plot

    @property
    def epoch(self) -> dict | None:
        """The picked epoch's entry ({epoch, step, judged, generated})."""
        return self.shown[self.slider.value()] if self.shown else None

    def show_index(self, i: int) -> None:
        if not self.shown:
            self.label.setText("No epoch's samples were kept.")
            return
        e = self.shown[i]
        self.label.setText(f"Epoch {e['epoch']} of {self.all[-1]['epoch']} (step "
                           f"{e['step']:,}): {_judged_text(e['judged'])}")
        self.mark.setValue(e["epoch"])
        gen = np.asarray(e["generated"], dtype=float)
        if self.points:
            self.item.setData(gen[:, 0], gen[:, 1])
        elif len(self.shape) in (2, 3):
            self.item.setImage(self._grid(gen), levels=(0, 1))
        self.plot.setTitle(f"Epoch {e['epoch']}: {len(gen)} generated samples")
