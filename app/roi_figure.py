"""RoIPool versus RoIAlign on one proposal, side by side (issue 14; the seed's point about
quantisation), for the help of both nodes. The numbers come from the real ops
(runtime/detection/boxes.py) on a small feature map; `comparison()` returns them, `figure()`
draws them with QPainter."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

BOX = (1.55, 3.4, 8.55, 9.3)  # a proposal in feature-map pixels (spatial scale 1)
SHIFT = 0.4  # then moved right by less than RoIPool's rounding notices
OUT = 7
MAP = 12
EXACT = QColor("#ff9800")
ROUNDED = QColor("#e53935")


def feature_map():
    """A 12 × 12 map with a bright disc and a ridge: detail a pooled RoI should keep."""
    import torch
    yy, xx = torch.meshgrid(torch.arange(MAP, dtype=torch.float32),
                            torch.arange(MAP, dtype=torch.float32), indexing="ij")
    disc = torch.exp(-((xx - 5.2) ** 2 + (yy - 6.1) ** 2) / 4.0)
    ridge = 0.6 * torch.exp(-((xx - yy + 1.5) ** 2) / 1.5)
    return (disc + ridge)[None, None]


def comparison() -> dict:
    """RoIPool's and RoIAlign's 7 × 7 outputs for BOX and for BOX moved right by SHIFT, and
    the region RoIPool rounds BOX to."""
    import torch

    from runtime.detection.boxes import _round, roi_align, roi_pool
    f = feature_map()
    out = {"map": f[0, 0].numpy()}
    for key, dx in (("", 0.0), ("_shifted", SHIFT)):
        b = torch.tensor([[0.0, BOX[0] + dx, BOX[1], BOX[2] + dx, BOX[3]]])
        out["pool" + key] = roi_pool(f, b, OUT, 1.0)[0, 0].numpy()
        out["align" + key] = roi_align(f, b, OUT, 1.0, sampling_ratio=2)[0, 0].numpy()
    r = _round(torch.tensor(BOX))
    out["rounded"] = tuple(float(v) for v in r)
    return out


def _heat(p: QPainter, a: np.ndarray, x: float, y: float, side: float, top: float) -> None:
    cell = side / a.shape[0]
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            v = int(max(0.0, min(1.0, float(a[i, j]) / top)) * 255)
            p.fillRect(QRectF(x + j * cell, y + i * cell, cell + 0.5, cell + 0.5),
                       QColor(v, v, v))


def figure(width: int = 420) -> QImage:
    """Two rows (the proposal, then the proposal moved SHIFT pixels right): the feature map
    with the exact box (orange) and the region RoIPool reads (red, dashed), RoIPool's output,
    RoIAlign's output."""
    d = comparison()
    top = float(d["map"].max())
    pad, caption = 8, 16
    side = (width - 4 * pad) / 3
    height = int(2 * (side + caption + pad) + caption + pad)
    img = QImage(width, height, QImage.Format_RGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    font = QFont()
    font.setPixelSize(11)
    p.setFont(font)
    heads = ["feature map, proposal", "RoIPool 7 × 7", "RoIAlign 7 × 7"]
    for k, h in enumerate(heads):
        p.drawText(QRectF(pad + k * (side + pad), 0, side, caption), Qt.AlignCenter, h)
    for row, key in enumerate(("", "_shifted")):
        y = caption + row * (side + caption + pad)
        _heat(p, d["map"], pad, y, side, top)
        cell = side / MAP
        dx = SHIFT if key else 0.0

        def rect(b, x0=pad, y0=y):
            return QRectF(QPointF(x0 + b[0] * cell, y0 + b[1] * cell),
                          QPointF(x0 + b[2] * cell, y0 + b[3] * cell))
        p.setPen(QPen(EXACT, 2))
        p.drawRect(rect((BOX[0] + dx, BOX[1], BOX[2] + dx, BOX[3])))
        r = d["rounded"]  # the shift is too small to change the rounding
        p.setPen(QPen(ROUNDED, 2, Qt.DashLine))
        p.drawRect(rect((r[0], r[1], r[2] + 1, r[3] + 1)))
        _heat(p, d["pool" + key], 2 * pad + side, y, side, top)
        _heat(p, d["align" + key], 3 * pad + 2 * side, y, side, top)
        p.setPen(QColor("#37414b"))
        text = (f"box x {BOX[0]:.1f}…{BOX[2]:.1f}" if not key else
                f"moved {SHIFT} px: RoIPool the same, RoIAlign follows")
        p.drawText(QRectF(pad, y + side, width - 2 * pad, caption), Qt.AlignCenter, text)
    p.end()
    return img
