"""The decision boundary while a classifier of 2-D points trains (issue 28, "Inside the
network"): the run sends the classes its model predicts over a grid of the plane a few times
a second (BoundaryFrame events, runtime/watch_boundary.py); this view draws the latest behind
the validation points, with the Try panel's pieces (app/try_boundary.py). The window shows
it beside the plots when such a run starts sending, and clears it when another run starts
(app/window_training.py)."""
from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

from .plotdata import LiveData
from .try_boundary import BoundaryBox, class_keys

WAITING = "The decision boundary appears here while a classifier of 2-D points trains."


class LiveBoundaryView(QWidget):
    def __init__(self, data: LiveData, parent=None):
        super().__init__(parent)
        self.data = data
        self.box = BoundaryBox(title="Decision boundary, live", name="live_boundary")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.box)
        self._version = -1
        self._first = None  # the frame whose points are drawn
        self.frame = None  # the frame drawn
        self.box.legend.setText(WAITING)

    def clear(self) -> None:
        """Forget the last run's boundary (another run or project)."""
        self._version, self._first, self.frame = -1, None, None
        self.box.clear()
        self.box.legend.setText(WAITING)

    def refresh(self) -> bool:
        """Draw the newest frame, if one arrived since the last refresh."""
        d = self.data
        f, first = d.boundary, d.boundary_first
        if f is None or first is None or d.boundary_version == self._version:
            return False
        self._version = d.boundary_version
        if first is not self._first:  # the run's points: drawn once
            self._first = first
            self.box.draw_points(np.asarray(first.points, dtype=np.float32), first.labels,
                                 first.axes)
        self.box.draw_plane(f.grid(), f.extent)
        self.frame = f
        labels = np.asarray(first.labels)
        right = int((f.point_classes() == labels).sum()) if len(labels) else 0
        names = first.class_names

        def name(k: int) -> str:
            return names[k] if 0 <= k < len(names) else str(k)
        when = "end of the run" if f.final else f"step {f.step:,} (epoch {f.epoch})"
        self.box.legend.setText(
            f"<b>{when}</b>: the plane coloured by the class the model predicts ({f.size} × "
            f"{f.size} grid; {first.axes[0]} across, {first.axes[1]} up), the validation "
            f"points by their true class: "
            f"{class_keys(f.n_classes, name)}. {right} of {len(labels)} points on their "
            f"class's side ({right / max(len(labels), 1):.1%}).")
        return True
