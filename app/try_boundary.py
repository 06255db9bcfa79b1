"""The Try panel's decision-boundary mode (ARCHITECTURE.md, "A Try-panel mode"): a classifier
of 2-D points (runtime.tryout.Tryout.boundary) draws the plane around its validation points
coloured by the class it predicts there, the points on top coloured by their true class, and
a ring round the chosen validation sample. The first feature runs right, the second up."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGroupBox, QLabel, QSizePolicy, QVBoxLayout

# One colour per class (matplotlib's tab10): the points in it, the plane in a pale tint of it
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"]
TINT = 0.35  # how much of the class colour the plane holds (the rest is white)
RING = QColor("#000000")


def class_colour(k: int) -> QColor:
    return QColor(CLASS_COLOURS[k % len(CLASS_COLOURS)])


def region_colour(k: int) -> QColor:
    """The pale colour of the plane where class k is predicted."""
    c = class_colour(k)
    return QColor(*(round(255 - TINT * (255 - v)) for v in (c.red(), c.green(), c.blue())))


def region_image(classes) -> np.ndarray:
    """The predicted classes (rows × columns) as an RGBA picture, row i of the array row i of
    the image (pyqtgraph reads images row-major in this app, app/plots.py)."""
    k = np.asarray(classes, dtype=np.int64)
    lut = np.array([[*region_colour(i).getRgb()] for i in range(int(k.max(initial=0)) + 1)],
                   np.uint8)
    return np.ascontiguousarray(lut[k])


def class_keys(n_classes: int, name) -> str:
    """Each class's colour and name (`name(k)`), as rich text for a legend."""
    return " ".join(f"<span style='color:{class_colour(k).name()}'>●</span> {name(k)}"
                    for k in range(n_classes))


class BoundaryBox(QGroupBox):
    """The decision boundary: the plane in pale class colours, the points, the chosen one
    ringed. A click on a point picks that validation sample (`picked(index)`)."""

    def __init__(self, picked=None, parent=None, title: str = "Decision boundary",
                 name: str = "try_boundary"):
        super().__init__(title, parent)
        box = QVBoxLayout(self)
        self.legend = QLabel()
        self.legend.setObjectName(f"{name}_legend")
        self.legend.setWordWrap(True)
        box.addWidget(self.legend)
        self.view = pg.PlotWidget()
        self.view.setObjectName(name)
        self.view.setMinimumHeight(260)
        self.view.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Expanding)
        self.view.setBackground("w")
        self.view.setMenuEnabled(False)
        self.view.hideButtons()
        self.view.setMouseEnabled(False, False)
        self.view.invertY(False)  # x₂ up
        self.plane = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.plane)
        self.points = pg.ScatterPlotItem(size=7, pen=pg.mkPen("#222", width=1))
        self.points.setZValue(1)
        self.view.addItem(self.points)
        self.ring = pg.ScatterPlotItem(size=20, pen=pg.mkPen(RING, width=2.5), brush=None)
        self.ring.setZValue(2)
        self.view.addItem(self.ring)
        box.addWidget(self.view, 1)
        self._picked = picked
        self.points.sigClicked.connect(self._clicked)
        self.result = None  # the Boundary shown

    def clear(self) -> None:
        self.result = None
        self.plane.clear()
        self.points.clear()
        self.ring.clear()
        self.legend.clear()

    def show_boundary(self, b, index: int | None = None) -> None:
        """Draw Boundary `b` (runtime.tryout), with validation sample `index` ringed."""
        self.result = b
        self.draw_plane(b.classes.numpy(), b.extent)
        self.draw_points(b.points.numpy(), b.labels.tolist(), b.axes)
        right = int((b.predicted == b.labels).sum())
        self.legend.setText(
            f"The plane coloured by the class the model predicts ({len(b.x1)} × {len(b.x2)} "
            f"grid), the validation points by their true class: "
            f"{class_keys(b.n_classes, b.name)}. "
            f"{right} of {len(b.labels)} points on their class's side "
            f"({b.accuracy:.1%}).")
        self.mark(index)

    def draw_plane(self, classes, extent) -> None:
        """The predicted classes (rows up x₂, columns along x₁) over the grid's `extent`
        (x₁ from, to, x₂ from, to), in pale class colours."""
        x0, x1, y0, y1 = extent
        self.plane.setImage(region_image(classes), autoLevels=False, levels=(0, 255))
        self.plane.setRect(x0, y0, x1 - x0, y1 - y0)  # column j along x₁, row i up x₂
        self.view.setXRange(x0, x1, padding=0)
        self.view.setYRange(y0, y1, padding=0)

    def draw_points(self, pts, labels, axes) -> None:
        """The points (N × 2) in their true classes' colours, the axes named."""
        self.points.setData(pts[:, 0], pts[:, 1], data=list(range(len(pts))),
                            brush=[pg.mkBrush(class_colour(int(k))) for k in labels])
        self.view.setLabel("bottom", axes[0])
        self.view.setLabel("left", axes[1])

    def mark(self, index: int | None) -> None:
        """Ring validation sample `index` (nothing for None)."""
        b = self.result
        if b is None or index is None or not 0 <= index < len(b.points):
            self.ring.clear()
            return
        x, y = (float(v) for v in b.points[index])
        self.ring.setData([x], [y])

    def _clicked(self, _item, spots, *_ev) -> None:
        if self._picked is not None and len(spots):
            self._picked(int(spots[0].data()))

    def describe(self, index: int) -> str:
        """A line on sample `index`: where it is, its class and the model's."""
        b = self.result
        if b is None or not 0 <= index < len(b.points):
            return ""
        x, y = (float(v) for v in b.points[index])
        true, got = int(b.labels[index]), int(b.predicted[index])
        return (f"Ringed on the decision boundary: ({b.axes[0]}, {b.axes[1]}) = ({x:.3g}, "
                f"{y:.3g}), class {b.name(true)}, predicted {b.name(got)}"
                + ("" if true == got else " (wrong side)") + ".")
