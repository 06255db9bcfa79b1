"""The live decision boundary (runtime/watch.py): while a classifier of 2-D points trains,
the classes it predicts over a grid of the plane around the validation points, at most
`PER_SECOND` times a second (less where a frame costs more than runtime.watch.SHARE of the
time between frames) and always at the run's last step. The grid is coarser than the
Try panel's (`GRID` cells a side) and travels as bytes; the points, their true classes and
the grid's frame travel once, in the first frame. The app draws it behind the points
(app/live_boundary.py, with app/try_boundary.py's pieces)."""
from __future__ import annotations

import time

import torch

from . import boundary_grid as BG
from .events import Event
from .watch import SHARE, Throttle, Watcher, evaluating, some_samples
from .watch_events import BoundaryFrame

# Cells along each axis during training (the Try panel draws 200): a frame of the mlp
# template cost 0.9 ms at 64, 5.7 ms at 100 (tests/benchmarks/bench_live_boundary.py)
GRID = 64
PER_SECOND = 4  # frames a second at most
MAX_POINTS = 1000  # validation points sent (and drawn) at most


class BoundaryWatcher(Watcher):
    def __init__(self, c, inp: str, out: str, kind: str, points: torch.Tensor,
                 labels: torch.Tensor, n_classes: int, axes, names: list[str], size: int = GRID):
        self.c, self.out, self.kind, self.size = c, out, kind, size
        self.points, self.labels, self.n_classes = points, labels, n_classes
        self.axes, self.names = axes, names
        _, _, self.cells, self.extent = BG.plane(points, size)
        self.throttle = Throttle(1.0 / PER_SECOND, SHARE)
        self.sent = 0

    def after_step(self, step: int, epoch: int, last: bool) -> list[Event]:
        if not self.throttle.due(force=last):
            return []
        t0 = time.perf_counter()
        frame = self.frame(step, epoch, last)
        self.throttle.spent(time.perf_counter() - t0)
        return [frame]

    def frame(self, step: int, epoch: int, last: bool = False) -> BoundaryFrame:
        with evaluating(self.c.model):
            both = BG.predict(self.c, torch.cat([self.cells, self.points]), self.out, self.kind)
        both = both.to(torch.uint8).cpu()
        cells, mine = both[:len(self.cells)], both[len(self.cells):]
        first = self.sent == 0
        self.sent += 1
        return BoundaryFrame(
            step, epoch, self.size, self.extent, cells.numpy().tobytes(),
            mine.numpy().tobytes(), self.n_classes,
            self.points.cpu().tolist() if first else None,
            self.labels.cpu().tolist() if first else None,
            tuple(self.axes), list(self.names), last)


def boundary_watcher(c, run, dataset, bind) -> BoundaryWatcher | None:
    """The watcher when the model is a classifier of 2-D points with points to draw around
    (and at most 255 classes: one byte a cell), else None."""
    found = BG.classifier_2d(c)
    if found is None:
        return None
    inp, out, kind, target = found
    n = BG.n_classes(c, out, kind)
    x = some_samples(run, inp, MAX_POINTS)
    y = some_samples(run, target, MAX_POINTS) if target is not None else None
    if x is None or y is None or not len(x) or n > 255:
        return None
    x = x.float()
    names = list(getattr(dataset, "classes", None) or [])
    return BoundaryWatcher(c, inp, out, kind, x, BG.truth(y, kind), n,
                           BG.axis_names(c, bind, dataset, inp),
                           names if len(names) == n else [])
