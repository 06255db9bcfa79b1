"""A detector's answer drawn over its image (issue 13): predicted boxes with class and score,
the true objects in another colour, and the region proposals on request. Used by the Try
panel; `picture()` is plain QPainter work on a QImage, so tests can read its pixels."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

PREDICTED = QColor("#ff9800")  # orange: what the model found
TRUE = QColor("#00e676")  # green, dashed: the ground truth
PROPOSAL = QColor(190, 190, 190, 150)  # grey: what the detector was offered
SCALE = 5  # a 64 × 64 image is shown 320 × 320
# Instance masks (issue 14): each confident detection its own colour, its mask translucent
INSTANCE = [QColor(c) for c in ("#ff9800", "#29b6f6", "#ec407a", "#ffee58", "#ab47bc",
                                "#66bb6a", "#ff7043", "#26c6da")]
MASK_ALPHA = 120  # of 255
# The anchors of one feature-map cell (issue 14): magenta, solid where the RPN's matching
# makes the anchor an object, dashed where it is ignored, dotted where it is background
ANCHOR = QColor("#e040fb")
ANCHOR_STYLE = {1: (Qt.SolidLine, 2), -1: (Qt.DashLine, 1), 0: (Qt.DotLine, 1)}


def to_qimage(image) -> QImage:
    a = (image.detach().float().clamp(0, 1).numpy() * 255).astype(np.uint8)
    if a.shape[0] == 1:
        a = np.repeat(a, 3, 0)
    rgb = np.ascontiguousarray(a[:3].transpose(1, 2, 0))
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3,
                  QImage.Format_RGB888).copy()


def mask_layer(masks, colours: list[QColor], scale: int) -> QImage:
    """Instance masks D × H × W (probabilities; a pixel is in where ≥ 0.5) as one RGBA image,
    each in its colour at MASK_ALPHA, enlarged `scale` times (pixels kept square)."""
    m = masks.detach().float().numpy() >= 0.5
    rgba = np.zeros((*m.shape[1:], 4), np.uint8)
    for k in reversed(range(len(m))):  # the best (first) detections drawn last, on top
        c = colours[k]
        rgba[m[k]] = (c.red(), c.green(), c.blue(), MASK_ALPHA)
    h, w = rgba.shape[:2]
    img = QImage(rgba.data, w, h, w * 4, QImage.Format_RGBA8888).copy()
    return img.scaled(w * scale, h * scale, Qt.IgnoreAspectRatio, Qt.FastTransformation)


def picture(d, proposals: bool = False, scale: int = SCALE,
            threshold: float = 0.5, cell: tuple[int, int] | None = None) -> QImage:
    """The image of Detections `d` (runtime.tryout) enlarged `scale` times, with its
    proposals (if asked), true boxes (dashed green) and the detections scoring at least
    `threshold` (orange, labelled; the weaker ones NMS kept would bury the picture). A
    detector with instance masks: each detection's mask translucent over the image, box,
    mask and label in one colour per instance. `cell` (i, j): the anchors of that cell of
    the detector's anchor grid (d.anchors), styled by how the RPN would label them, and a
    dot on the cell's centre."""
    base = to_qimage(d.image).scaled(d.image.shape[2] * scale, d.image.shape[1] * scale,
                                     Qt.IgnoreAspectRatio, Qt.FastTransformation)
    img = base.convertToFormat(QImage.Format_RGB32)
    p = QPainter(img)
    p.setRenderHint(QPainter.Antialiasing)

    def rect(b) -> QRectF:
        x1, y1, x2, y2 = (float(v) * scale for v in b)
        return QRectF(QPointF(x1, y1), QPointF(x2, y2))

    shown = [k for k, sc in enumerate(d.scores) if float(sc) >= threshold]
    masked = getattr(d, "masks", None) is not None
    colour = {k: INSTANCE[i % len(INSTANCE)] if masked else PREDICTED
              for i, k in enumerate(shown)}
    if masked and shown:
        p.drawImage(0, 0, mask_layer(d.masks[shown], [colour[k] for k in shown], scale))
    if proposals:
        p.setPen(QPen(PROPOSAL, 1))
        for b in d.proposals:
            p.drawRect(rect(b))
    pen = QPen(TRUE, 2, Qt.DashLine)
    p.setPen(pen)
    for b in d.true_boxes:
        p.drawRect(rect(b))
    grid = getattr(d, "anchors", None)
    if cell is not None and grid is not None:
        _best, labels = grid.labels(*cell, d.true_boxes)
        for b, lab in zip(grid.cell(*cell), labels.tolist()):
            style, width = ANCHOR_STYLE[lab]
            p.setPen(QPen(ANCHOR, width, style))
            p.drawRect(rect(b))
        x, y = grid.centre(*cell)
        p.setPen(Qt.NoPen)
        p.setBrush(ANCHOR)
        p.drawEllipse(QPointF(x * scale, y * scale), 4, 4)
        p.setBrush(Qt.NoBrush)
    font = QFont()
    font.setPixelSize(12)
    font.setBold(True)
    p.setFont(font)
    for k in shown:
        b, s, lab = d.boxes[k], d.scores[k], d.labels[k]
        r = rect(b)
        p.setPen(QPen(colour[k], 2))
        p.drawRect(r)
        text = f"{d.name(int(lab))} {float(s):.0%}"
        w = p.fontMetrics().horizontalAdvance(text) + 6
        tag = QRectF(r.left(), max(r.top() - 16, 0), w, 16)
        p.fillRect(tag, colour[k])
        p.setPen(QColor("black"))
        p.drawText(tag, Qt.AlignCenter, text)
    p.end()
    return img


def describe(d, threshold: float = 0.5) -> str:
    """The detections as text: the confident ones, then how they compare with the truth."""
    from runtime.detection.boxes import box_iou
    masks = getattr(d, "masks", None)
    true_masks = getattr(d, "true_masks", None)
    shown = [(b, s, int(lab), k) for k, (b, s, lab) in enumerate(zip(d.boxes, d.scores,
                                                                     d.labels))
             if float(s) >= threshold]
    lines = [f"{len(shown)} detection{'s' * (len(shown) != 1)} scoring ≥ {threshold:.0%} "
             f"(of {len(d.boxes)} kept by NMS), {len(d.true_boxes)} true object"
             f"{'s' * (len(d.true_boxes) != 1)}, {len(d.proposals)} proposals:"]
    for b, s, lab, k in shown:
        x1, y1, x2, y2 = (float(v) for v in b)
        hit = ""
        if len(d.true_boxes):
            iou = box_iou(b[None], d.true_boxes)[0]
            j = int(iou.argmax())
            right = int(d.true_labels[j]) == lab
            hit = (f"  IoU {float(iou[j]):.2f} with the true {d.name(int(d.true_labels[j]))}"
                   f"{'' if right else ' (wrong class)'}")
            if masks is not None and true_masks is not None:
                mine, theirs = masks[k] >= 0.5, true_masks[j] >= 0.5
                union = int((mine | theirs).sum())
                m_iou = int((mine & theirs).sum()) / union if union else 0.0
                hit += f", mask IoU {m_iou:.2f} ({int(mine.sum())} pixels)"
        lines.append(f"  {d.name(lab)} {float(s):.0%} at ({x1:.0f}, {y1:.0f})–({x2:.0f}, "
                     f"{y2:.0f}){hit}")
    return "\n".join(lines)


def describe_anchors(d, cell: tuple[int, int]) -> str:
    """The anchors of one cell as text: where the cell is, each anchor's size and shape, its
    best IoU with a true object and what the RPN's matching makes of it."""
    grid = d.anchors
    rows, cols, k = grid.shape
    i, j = cell
    x, y = grid.centre(i, j)
    best, labels = grid.labels(i, j, d.true_boxes)
    word = {1: "object", 0: "background", -1: "ignored"}
    lines = [f"Anchors of cell ({i}, {j}) of the {rows} × {cols} feature map "
             f"(stride {grid.stride[1]} × {grid.stride[0]} pixels), centred on ({x:.0f}, "
             f"{y:.0f}): {k} per cell, {rows * cols * k:,} in all. The RPN labels an anchor "
             f"an object at IoU ≥ {grid.fg_iou:g} with a true box"
             + (" (or where no anchor overlaps that box more)" if grid.low_quality else "")
             + f", background below {grid.bg_iou:g}, and ignores it between:"]
    for b, iou, lab in zip(grid.cell(i, j), best.tolist(), labels.tolist()):
        x1, y1, x2, y2 = (float(v) for v in b)
        lines.append(f"  {x2 - x1:.0f} × {y2 - y1:.0f} at ({x1:.0f}, {y1:.0f})–({x2:.0f}, "
                     f"{y2:.0f})  best IoU {iou:.2f}: {word[lab]}")
    return "\n".join(lines)
