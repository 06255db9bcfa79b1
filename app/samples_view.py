"""A generator's samples while it trains (issue 12): the run sends them a few times a second
(Samples events, runtime/recipes/adversarial.py), always for the same noise, so what moves is
the generator.

- 2-D points (the ring): real points in grey, generated ones in colour, on fixed axes, and
  what the dataset makes of them ("8 of 8 modes covered, 93 % of samples within 3σ");
- images (digits): a grid of generated images, grey-scale, each scaled to its own range.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .plotdata import LiveData


def image_grid(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """M × H × W (or M × 1 × H × W) images as one picture, rows of ⌈√M⌉, each scaled to 0-1,
    with `pad` pixels of white between them."""
    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 4:
        a = a[:, 0]
    m, h, w = a.shape
    cols = max(1, math.ceil(math.sqrt(m)))
    rows = math.ceil(m / cols)
    out = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad), np.float32)
    for i, img in enumerate(a):
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = 1.0 - img  # dark strokes on white, like ink
    return out


def describe(metrics: dict) -> str:
    if "modes" in metrics:
        of = metrics.get("of")
        q = metrics.get("quality")
        text = f"{int(metrics['modes'])}{f' of {of}' if of else ''} modes covered"
        if q is not None:
            text += f", {q:.0%} of samples within 3σ of a mode"
        return text
    if "digits" in metrics:
        return (f"{int(metrics['digits'])} of 10 digits read in the samples by a quick "
                f"classifier, mean confidence {metrics.get('confidence', 0):.2f}"
                + (f", quality {metrics['quality']:.2f} (the classes' mean)"
                   if "quality" in metrics else ""))
    return ", ".join(f"{k} {v:.3g}" for k, v in metrics.items() if isinstance(v, (int, float)))


class SamplesView(QWidget):
    def __init__(self, data: LiveData, parent=None):
        super().__init__(parent)
        self.data = data
        self.label = QLabel("Samples appear here while a generative model trains.")
        self.label.setObjectName("samples_label")
        self.label.setWordWrap(True)
        self.view = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.label)
        layout.addWidget(self.view, 1)
        self.plot = self.view.addPlot(title="real (grey) and generated (blue) samples")
        self.plot.setAspectLocked(True)
        self.plot.disableAutoRange()  # ranges set from the real data: no autorange per frame
        self.plot.setRange(xRange=(-1, 1), yRange=(-1, 1), padding=0)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.real = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(150, 150, 150, 110))
        self.fake = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(31, 119, 180, 170))
        self.plot.addItem(self.real)
        self.plot.addItem(self.fake)
        self.image = pg.ImageItem(axisOrder="row-major")
        self._version = -1
        self._mode = "points"
        self._ranged = False

    def clear(self) -> None:
        """Forget the last run's samples (another run or project)."""
        self._version = -1
        self.real.setData([], [])
        self.fake.setData([], [])
        self.image.clear()
        self._ranged = False
        self.label.setText("Samples appear here while a generative model trains.")

    def refresh(self) -> bool:
        s = self.data.samples
        if s is None or self.data.samples_version == self._version:
            return False
        self._version = self.data.samples_version
        fake = np.asarray(s.fake, dtype=np.float32)
        if len(s.shape) == 1 and s.shape[0] == 2:
            self._points(np.asarray(s.real, dtype=np.float32), fake)
        else:
            self._images(fake)
        text = describe(s.metrics)
        self.label.setText(f"Step {s.step:,} (epoch {s.epoch}): {text}" if text
                           else f"Step {s.step:,} (epoch {s.epoch})")
        return True

    def _points(self, real: np.ndarray, fake: np.ndarray) -> None:
        if self._mode != "points":
            self.plot.removeItem(self.image)
            self.plot.addItem(self.real)
            self.plot.addItem(self.fake)
            self.plot.setTitle("real (grey) and generated (blue) samples")
            self.plot.showAxis("left"), self.plot.showAxis("bottom")
            self._mode, self._ranged = "points", False
        if not self._ranged and len(real):  # the real data's extent, fixed: G moves, not the axes
            lo, hi = real.min(0).tolist(), real.max(0).tolist()  # Python floats: pyqtgraph
            pad = 0.25 * max(hi[0] - lo[0], hi[1] - lo[1])  # compares float32 with 1e307
            self.plot.setXRange(lo[0] - pad, hi[0] + pad, padding=0)
            self.plot.setYRange(lo[1] - pad, hi[1] + pad, padding=0)
            self._ranged = True
        if len(real):
            self.real.setData(real[:, 0], real[:, 1])
        self.fake.setData(fake[:, 0], fake[:, 1])

    def _images(self, fake: np.ndarray) -> None:
        if self._mode != "images":
            self.plot.removeItem(self.real)
            self.plot.removeItem(self.fake)
            self.plot.addItem(self.image)
            self.plot.invertY(True)
            self.plot.hideAxis("left"), self.plot.hideAxis("bottom")
            self.plot.setTitle("generated samples")
            self._mode = "images"
        grid = image_grid(fake)
        self.image.setImage(grid, levels=(0, 1))
        self.plot.setRange(xRange=(0, grid.shape[1]), yRange=(0, grid.shape[0]), padding=0)
