"""The data form's "Augmentation" group (issue 27 item 2): the settings of
graph/settings.py's AugmentSettings (random resized crop, flips, rotation, colour jitter,
normalisation), each change one undo step (Editor.set_setting("data", "augment", ...)), and
a "Preview" of the same few training samples augmented 8 ways (runtime/augment.py draws
them on a background thread; data_preview.augment_grid lays them out)."""
from __future__ import annotations

from typing import Callable

from pydantic import ValidationError
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget)

from graph.project import loads
from graph.settings import AugmentSettings, CropSettings

from .background import Background
from .data_preview import augment_grid
from .document import EditRefused

FIELDS = AugmentSettings.model_fields
# name -> (label, top, step) of the plain number settings, in the order shown
NUMBERS = {"hflip": ("flip left-right (p)", 1.0, 0.1), "vflip": ("flip up-down (p)", 1.0, 0.1),
           "rotation": ("rotation (± degrees)", 180.0, 5.0),
           "brightness": ("brightness", 1.0, 0.05), "contrast": ("contrast", 1.0, 0.05),
           "saturation": ("saturation", 1.0, 0.05), "hue": ("hue", 0.5, 0.02)}
NORMALIZE = ("none", "from data", "given")
WAYS, SAMPLES = 8, 4


def _spin(top: float, step: float, tip: str) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setRange(0.0, top)
    w.setSingleStep(step)
    w.setDecimals(3)
    w.setKeyboardTracking(False)  # typing commits once, at Enter or on leaving the field
    w.setToolTip(tip)
    return w


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise EditRefused(f"augment, normalize {what}: '{text}' is not a list of numbers "
                          "(e.g. 0.485, 0.456, 0.406)") from None


class AugmentBox(QGroupBox):
    """`commit(edit)`: the data form's Refusals.commit; `settings()` the project's current
    AugmentSettings, `set_settings(value)` the Editor call; `source()` (project, base_dir)
    for the preview."""

    def __init__(self, commit: Callable, settings: Callable[[], AugmentSettings],
                 set_settings: Callable[[AugmentSettings], None], source: Callable,
                 parent=None):
        super().__init__("Augmentation (training data only)", parent)
        self.setObjectName("augment")
        self._commit, self._settings, self._set, self._source = (commit, settings,
                                                                 set_settings, source)
        self._updating = False
        self.form = QFormLayout(self)
        self.crop = QCheckBox("random resized crop")
        self.crop.setToolTip(FIELDS["random_resized_crop"].description)
        self.crop.toggled.connect(self._edited)
        self.form.addRow(self.crop)
        self.scale = (_spin(1.0, 0.05, "lowest share of the area"),
                      _spin(1.0, 0.05, "highest share of the area"))
        self.ratio = (_spin(10.0, 0.05, "lowest width / height"),
                      _spin(10.0, 0.05, "highest width / height"))
        for label, pair in (("crop scale", self.scale), ("crop ratio", self.ratio)):
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            for w in pair:
                w.valueChanged.connect(self._edited)
                h.addWidget(w)
            self.form.addRow(label, row)
        self.numbers: dict[str, QDoubleSpinBox] = {}
        for name, (label, top, step) in NUMBERS.items():
            w = self.numbers[name] = _spin(top, step, FIELDS[name].description)
            w.setObjectName(f"augment_{name}")
            w.valueChanged.connect(self._edited)
            self.form.addRow(label, w)
        self.normalize = QComboBox()
        self.normalize.addItems(NORMALIZE)
        self.normalize.setToolTip(FIELDS["normalize"].description)
        self.normalize.currentIndexChanged.connect(self._edited)
        self.form.addRow("normalise", self.normalize)
        self.mean, self.std = QLineEdit(), QLineEdit()
        for w, what in ((self.mean, "mean"), (self.std, "std")):
            w.setPlaceholderText(f"{what} per channel, e.g. 0.5, 0.5, 0.5")
            w.editingFinished.connect(self._edited)
            self.form.addRow(f"  {what}", w)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip(f"The first {SAMPLES} training samples (rows), each "
                                       f"augmented {WAYS} ways (columns)")
        self.preview_button.clicked.connect(self.show_preview)
        self.form.addRow(self.preview_button)
        self.preview_note = QLabel()
        self.preview_note.setWordWrap(True)
        self.preview_note.hide()
        self.grid = QLabel()
        self.grid.setObjectName("augment_grid")
        self.grid.hide()
        self.form.addRow(self.preview_note)
        self.form.addRow(self.grid)
        self.job = Background(self)
        self.row_labels: list[str] | None = None  # the preview rows' classes, once drawn
        self.cells: list = []  # the preview's QRects: [row][0] as read, [row][1:] augmented

    def load(self, a: AugmentSettings) -> None:
        """Show `a` (after opening, undo, redo)."""
        self._updating = True
        try:
            crop = a.random_resized_crop
            self.crop.setChecked(crop is not None)
            shown = crop if crop is not None else CropSettings()
            for w, v in zip(self.scale + self.ratio, (*shown.scale, *shown.ratio)):
                w.setValue(v)
                w.setEnabled(crop is not None)
            for name, w in self.numbers.items():
                w.setValue(getattr(a, name))
            norm = a.normalize
            self.normalize.setCurrentIndex(0 if norm is None else 1 if norm == "from data"
                                           else 2)
            given = not isinstance(norm, (str, type(None)))
            self.mean.setText(", ".join(f"{v:g}" for v in norm.mean) if given else "")
            self.std.setText(", ".join(f"{v:g}" for v in norm.std) if given else "")
            for w in (self.mean, self.std):
                w.setEnabled(given)
        finally:
            self._updating = False

    def value(self) -> AugmentSettings:
        """The settings the widgets show; EditRefused (in words) when they are not valid."""
        norm = NORMALIZE[self.normalize.currentIndex()]
        if norm == "given":
            mean, std = _floats(self.mean.text(), "mean"), _floats(self.std.text(), "std")
            if not mean and not std:  # just chosen: one channel's identity to start from
                mean, std = [0.5], [0.5]
            norm = {"mean": mean, "std": std}
        raw = {name: w.value() for name, w in self.numbers.items()}
        if self.crop.isChecked():
            raw["random_resized_crop"] = {"scale": [w.value() for w in self.scale],
                                          "ratio": [w.value() for w in self.ratio]}
        raw["normalize"] = None if norm == "none" else norm
        try:
            return AugmentSettings.model_validate(raw)
        except ValidationError as e:
            err = e.errors()[0]
            where = ", ".join(str(p) for p in err.get("loc", ()) if not isinstance(p, int))
            msg = err["msg"].removeprefix("Value error, ")
            raise EditRefused(f"augment{', ' + where if where else ''}: {msg}") from None

    def _edited(self, *_):
        if self._updating:
            return
        self._commit(lambda: self._apply())

    def _apply(self) -> None:
        new = self.value()
        if new != self._settings():
            self._set(new)

    def set_running(self, running: bool) -> None:
        for w in self.findChildren(QWidget):
            if w is not self.grid and w is not self.preview_note:
                w.setEnabled(not running)
        if not running and self._settings() is not None:
            self.load(self._settings())  # the crop's and the given values' fields as they were

    def show_preview(self) -> None:
        """Draw the preview on a background thread (the dataset is loaded for it)."""
        from runtime.augment_preview import preview_rows  # torch: only when asked
        project, base_dir = self._source()
        project = loads(project.to_json())  # a copy: the form may be edited meanwhile
        self.preview_note.setText("Drawing the preview…")
        self.preview_note.show()
        self.job.start(lambda: preview_rows(project, base_dir, SAMPLES, WAYS),
                       self._preview_done)

    def _preview_done(self, outcome) -> None:
        if outcome.error is not None:
            self.preview_note.setText(f"<span style='color:#c62828'>No preview: "
                                      f"{outcome.error}</span>")
            self.grid.hide()
            return
        p = outcome.value
        self.row_labels = p.labels
        room = max(8 * WAYS, self.contentsRect().width() - 24)  # never wider than the panel
        image, self.cells = preview_picture(p.originals, p.augmented, p.labels, room,
                                            self.font())
        self.grid.setPixmap(QPixmap.fromImage(image))
        self.grid.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        rows = "their classes at the left" if p.labels else "rows"
        self.preview_note.setText(f"The first {SAMPLES} training samples ({rows}): each as "
                                  f"read, then augmented {WAYS} ways. Validation data is never "
                                  "augmented.")
        self.grid.show()


def preview_picture(originals, augmented, labels, room: int, font):
    """The preview grid, at most `room` pixels wide: a column of the samples as read, a gap,
    the augmented columns; the class name of each row at its left; a heading above each
    part. Images larger than a cell are averaged down (never cropped). Returns the
    QImage and each cell's QRect: cells[row][0] the sample as read, [row][1:] augmented."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QColor, QFontMetrics, QPainter
    gap, part_gap = 3, 10
    fm = QFontMetrics(font, QImage(1, 1, QImage.Format_RGB888))  # measured as painted
    left = (max(fm.horizontalAdvance(t) for t in labels) + 8) if labels else 0
    head = fm.height() + 4
    titles = ("as read", f"augmented {WAYS} ways")
    k, ch, h, w = originals.shape
    cell = max(8, min(56, (room - left - part_gap - gap * (WAYS + 3)) // (WAYS + 1),
                      (room - left - part_gap - fm.horizontalAdvance(titles[0]) - 4
                       - gap * (WAYS + 1)) // WAYS))
    # whole-pixel enlargement (augment_grid) of small images; big ones averaged down
    s = min(1.0, cell / max(h, w))
    if s < 1:
        originals, augmented = _shrunk(originals, s), _shrunk(augmented, s)
        k, ch, h, w = originals.shape
    first = _grid_image(augment_grid(originals[None], cell=cell, gap=gap))
    rest = _grid_image(augment_grid(augmented, cell=cell, gap=gap))
    column = max(first.width(), fm.horizontalAdvance(titles[0]) + 4)  # the heading's room
    x0 = left + (column - first.width()) // 2
    x1 = left + column + part_gap
    out = QImage(x1 + rest.width(), head + max(first.height(), rest.height()),
                 QImage.Format_RGB888)
    out.fill(QColor("#f0f0f0"))
    paint = QPainter(out)
    paint.setFont(font)
    paint.setPen(QColor("#202020"))
    paint.setClipRect(0, 0, out.width(), head)  # headings never spill over the pictures
    paint.drawText(left, 0, column, head, Qt.AlignCenter, titles[0])
    paint.drawText(x1, 0, rest.width(), head, Qt.AlignCenter, titles[1])
    paint.setClipping(False)
    paint.drawImage(x0, head, first)
    paint.drawImage(x1, head, rest)
    f = max(1, cell // max(h, w))  # augment_grid's enlargement
    cw, chh = w * f, h * f

    def rect(x, i, j):
        return QRect(x + gap + j * (cw + gap), head + gap + i * (chh + gap), cw, chh)
    cells = [[rect(x0, i, 0)] + [rect(x1, i, j) for j in range(WAYS)] for i in range(k)]
    if labels:
        paint.setClipRect(0, head, left - 2, out.height() - head)  # nor do the class names
        for i, name in enumerate(labels):
            r = cells[i][0]
            paint.drawText(0, r.top() - gap, left - 6, r.height() + 2 * gap,
                           Qt.AlignRight | Qt.AlignVCenter, name)
    paint.end()
    return out, cells


def _grid_image(pixels) -> QImage:
    rows, cols, _ = pixels.shape
    return QImage(pixels.data, cols, rows, 3 * cols, QImage.Format_RGB888).copy()


def _area(n: int, m: int):
    """The m × n matrix averaging n pixels into m (each output pixel the mean of the input
    area it covers, parts of pixels weighed by their share)."""
    import numpy as np
    edges = np.arange(m + 1) * (n / m)
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(n)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
    return (overlap / overlap.sum(1, keepdims=True)).astype(np.float32)


def _shrunk(x, s: float):
    """Images (… × H × W) reduced by the factor `s` < 1, each pixel the mean of its area."""
    h, w = x.shape[-2:]
    ah, aw = _area(h, max(1, round(h * s))), _area(w, max(1, round(w * s)))
    return ah @ x @ aw.T
