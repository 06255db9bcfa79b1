"""The Try panel's view of the inside of the network (issue 28, item 2; runtime/inside.py):
for the chosen validation sample, a Saliency or Grad-CAM overlay on its image, the first
convolution's filters as a grid, a table of each wire's activation statistics over the
validation samples with the ReLU units that never fire named, and on the canvas, hovering a
wire shows that wire's tensor for the sample (feature maps as a small grid, a vector as a
histogram) through the canvas scene's preview hook (app/canvas/scene.GraphScene.preview_hook,
set to this box's wire_preview by the window that holds both)."""
from __future__ import annotations

import base64

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

OVERLAYS = ("none", "Saliency", "Grad-CAM")
STATS_SAMPLES = 256  # validation samples the statistics are taken over
SIDE = 160  # the sample's picture, as app/try_sample.pixmap draws it
SHOWN_MAPS = 16  # feature maps in a wire's thumbnail at most
SHOWN_FILTERS = 64
BLEND = 0.55  # of the heat map over the image


def _rgb(a: np.ndarray) -> QImage:
    """An H × W × 3 uint8 array as a QImage (copied)."""
    a = np.ascontiguousarray(a)
    return QImage(a.data, a.shape[1], a.shape[0], a.shape[1] * 3,
                  QImage.Format_RGB888).copy()


def _grey3(v: np.ndarray) -> np.ndarray:
    """An image C × H × W in [0, 1] as H × W × 3 floats."""
    v = np.clip(v, 0, 1)
    return np.repeat(v[0][..., None], 3, -1) if v.shape[0] != 3 else v.transpose(1, 2, 0)


def heat_colours(m: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (H × W) as H × W × 3 floats of the 'inferno' colour map."""
    lut = pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256, alpha=False)
    return lut[np.clip((m * 255).round(), 0, 255).astype(int)].astype(np.float32) / 255


def overlay(image, heat) -> QPixmap:
    """Image C × H × W (values 0 to 1) with a heat map H × W (0 to 1) blended over it,
    scaled like the plain picture (app/try_sample.pixmap)."""
    base = _grey3(image.detach().float().numpy())
    h = heat.detach().float().numpy()
    mixed = (1 - BLEND * h[..., None]) * base + BLEND * h[..., None] * heat_colours(h)
    img = _rgb((np.clip(mixed, 0, 1) * 255).astype(np.uint8))
    return QPixmap.fromImage(img).scaled(SIDE, SIDE, Qt.KeepAspectRatio, Qt.FastTransformation)


def tile_grid(tiles: np.ndarray, tile: int, columns: int = 8, gap: int = 2) -> QPixmap:
    """N × H × W × 3 floats in [0, 1] as a grid of tiles `tile` pixels wide."""
    n = len(tiles)
    cols = max(1, min(columns, n))
    rows = (n + cols - 1) // cols
    pm = QPixmap(cols * (tile + gap) + gap, rows * (tile + gap) + gap)
    pm.fill(QColor("#ffffff"))
    p = QPainter(pm)
    for i, t in enumerate(tiles):
        img = _rgb((np.clip(t, 0, 1) * 255).astype(np.uint8))
        r, c = divmod(i, cols)
        p.drawImage(QRectF(gap + c * (tile + gap), gap + r * (tile + gap), tile, tile), img)
    p.end()
    return pm


def histogram(v: np.ndarray, w: int = 180, h: int = 70, bins: int = 24) -> QPixmap:
    """A vector's values as a histogram (bars over the range of its values)."""
    counts, _ = np.histogram(v, bins=bins)
    pm = QPixmap(w, h)
    pm.fill(QColor("#ffffff"))
    p = QPainter(pm)
    p.setPen(Qt.NoPen)
    p.setBrush(QColor("#5b8def"))
    top = max(int(counts.max()), 1)
    bw = w / bins
    for i, k in enumerate(counts):
        bh = (h - 2) * k / top
        p.drawRect(QRectF(i * bw + 0.5, h - bh, bw - 1, bh))
    p.end()
    return pm


def thumbnail(v) -> QPixmap | None:
    """A wire's value for one sample as a small picture: C × H × W as a grid of its first
    feature maps (one grey scale over all of them), T × F as an image (rows the steps), a
    vector as a histogram; None for a single number."""
    a = v.detach().float().numpy()
    if a.ndim == 3:
        maps = a[:SHOWN_MAPS]
        lo, hi = float(maps.min()), float(maps.max())
        maps = (maps - lo) / (hi - lo) if hi > lo else np.full_like(maps, 0.5)
        tile = max(24, min(64, 256 // max(maps.shape[1:])))
        return tile_grid(np.repeat(maps[..., None], 3, -1), tile, columns=4)
    if a.ndim == 2:
        lo, hi = float(a.min()), float(a.max())
        m = (a - lo) / (hi - lo) if hi > lo else np.full_like(a, 0.5)
        return QPixmap.fromImage(_rgb((heat_colours(m) * 255).astype(np.uint8))).scaled(
            180, 120, Qt.IgnoreAspectRatio, Qt.FastTransformation)
    if a.ndim == 1 and a.size > 1:
        return histogram(a)
    return None


def _png(pm: QPixmap) -> str:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    pm.save(buf, "PNG")
    return base64.b64encode(bytes(data)).decode()


def wire_tooltip(node: str, port: str, v, index: int) -> str:
    """Rich text for a wire's tooltip: its name, shape, range and picture."""
    shape = " × ".join(map(str, v.shape)) or "1"
    f = v.detach().float()
    head = (f"<b>{node}.{port}</b>: {shape}, validation sample {index}<br>"
            f"min {float(f.min()):.3g}, mean {float(f.mean()):.3g}, max {float(f.max()):.3g}")
    pm = thumbnail(v)
    if pm is None:
        return head
    what = ("the first feature maps" if v.dim() == 3 else "a histogram of its values"
            if v.dim() == 1 else "steps down, features across")
    return f'{head}<br><img src="data:image/png;base64,{_png(pm)}"><br><i>{what}</i>'


class InsideBox(QGroupBox):
    """Inside the network, for the Try panel: overlays, filters, statistics, wire previews."""

    def __init__(self, parent=None):
        super().__init__("Inside the network", parent)
        box = QVBoxLayout(self)
        row = QHBoxLayout()
        self.overlay = QComboBox()
        self.overlay.setObjectName("try_overlay")
        self.overlay.addItems(OVERLAYS)
        self.overlay.setToolTip("Saliency: how much each input pixel moves the predicted "
                                "class's score (|gradient|). Grad-CAM: where the last "
                                "convolution's feature maps speak for that class.")
        row.addWidget(QLabel("overlay"))
        row.addWidget(self.overlay)
        self.filters = QLabel()
        self.filters.setObjectName("try_filters")
        row.addWidget(self.filters)
        row.addStretch(1)
        box.addLayout(row)
        self.info = QLabel()
        self.info.setObjectName("try_inside_info")
        self.info.setWordWrap(True)
        box.addWidget(self.info)
        self.stats = QTableWidget(0, 6)
        self.stats.setObjectName("try_stats")
        self.stats.setHorizontalHeaderLabels(["wire", "shape", "mean", "std", "never fire",
                                              "dead units"])
        self.stats.verticalHeader().hide()
        self.stats.setEditTriggers(QTableWidget.NoEditTriggers)
        self.stats.horizontalHeader().setStretchLastSection(True)
        box.addWidget(self.stats, 1)
        self.tryout = None
        self.outputs: dict = {}  # (node, port) -> the tried sample's value on that wire
        self.index = -1
        self.shown = None  # the picture with its overlay, or None
        self.found = None  # the Saliency or GradCam shown

    def clear(self) -> None:
        self.tryout, self.outputs, self.index, self.shown, self.found = None, {}, -1, None, None
        self.stats.setRowCount(0)
        self.filters.clear()
        self.info.clear()

    def loaded(self, tryout) -> bool:
        """A model was loaded: its filters and statistics. Whether the box applies (a model of
        float inputs, not a generator or detector)."""
        from runtime import inside
        self.clear()
        if tryout.generator or tryout.detector or not any(
                v.is_floating_point() for v in tryout.val.values()):
            return False
        self.tryout = tryout
        c = tryout.compiled
        try:
            f = inside.first_filters(c).images()[:SHOWN_FILTERS]
            tiles = np.stack([_grey3(t) for t in f.numpy()])
            self.filters.setPixmap(tile_grid(tiles, 20, columns=8, gap=2))
            self.filters.setToolTip(f"The first convolution's {len(f)} filters (each scaled "
                                    "to its own range: dark low, light high)")
        except inside.InsideError:
            self.filters.clear()
        batch = {n: v[:STATS_SAMPLES] for n, v in tryout.val.items() if n in c.inputs}
        try:
            self._show_stats(inside.activation_stats(c, batch), len(next(iter(batch.values()))))
        except (inside.InsideError, RuntimeError, ValueError) as e:
            self.info.setText(f"No statistics: {e}")
        return True

    def _show_stats(self, stats, n: int) -> None:
        self.stats.setRowCount(len(stats))
        for r, s in enumerate(stats):
            dead = ", ".join(map(str, s.dead[:12])) + (f" … (+{len(s.dead) - 12})"
                                                       if len(s.dead) > 12 else "")
            cells = [f"{s.node}.{s.port}", " × ".join(map(str, s.shape)), f"{s.mean:.3g}",
                     f"{s.std:.3g}",
                     f"{len(s.dead)}/{s.units} ({s.dead_share:.0%})" if s.relu_like else "",
                     dead]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 4 and s.dead:
                    item.setForeground(QColor("#c62828"))
                self.stats.setItem(r, col, item)
        self.stats.setToolTip(f"Over the first {n} validation samples. Never fire: the units "
                              "of a ReLU (features, or channels of a feature map) that are "
                              "zero for every one of them")

    def show_sample(self, sample, image_label) -> None:
        """Sample `sample` was shown: keep its wires' values; draw the chosen overlay on
        `image_label` (the panel's picture) when the model classifies images."""
        from runtime import inside
        self.shown = self.found = None
        t = self.tryout
        if t is None:
            return
        c = t.compiled
        self.index = sample.index
        try:
            self.outputs = inside.node_outputs(c, sample.inputs)
        except (inside.InsideError, RuntimeError, ValueError) as e:
            self.outputs = {}
            self.info.setText(f"The wires' values could not be taken: {e}")
            return
        images = [n for n, v in sample.inputs.items() if sample.kinds.get(n) == "image"]
        scores = [n for n in sample.outputs if sample.kinds.get(n) == "scores"]
        mode = self.overlay.currentText()
        self.overlay.setEnabled(bool(images and scores))
        if not (images and scores):
            self.info.setText("Hover a wire on the canvas to see its values for this sample.")
            return
        try:
            if mode == "Saliency":
                self.found = found = inside.saliency(c, sample.inputs, scores[0], node=images[0])
                m = found.map
                heat = m / m.max() if float(m.max()) > 0 else m
            elif mode == "Grad-CAM":
                self.found = found = inside.grad_cam(c, sample.inputs, scores[0],
                                                     node=images[0])
                heat = found.map
            else:
                self.info.setText("Hover a wire on the canvas to see its values for this "
                                  "sample; choose an overlay to see what the class rests on.")
                return
        except (inside.InsideError, RuntimeError, ValueError) as e:
            self.info.setText(f"{mode}: {e}")
            return
        self.shown = overlay(sample.inputs[images[0]], heat)
        image_label.setPixmap(self.shown)
        image_label.show()
        cls = found.cls
        names = t.classes
        label = f"{cls} ({names[cls]})" if names and 0 <= cls < len(names) else str(cls)
        where = ("|d score / d pixel|, the largest over the channels" if mode == "Saliency"
                 else f"at the last convolution '{found.layer}', upsampled")
        self.info.setText(f"{mode} of the predicted class {label}: {where}; bright is "
                          "where the class score rests most.")

    def wire_preview(self, item) -> str | None:
        """The tooltip of a canvas wire: this sample's value on it (the hook of the scene
        of this box's window, GraphScene.preview_hook); None before a sample is tried."""
        if not self.outputs:
            return None
        e = item.edge
        v = self.outputs.get((e.src, e.src_port))
        return None if v is None else wire_tooltip(e.src, e.src_port, v, self.index)
