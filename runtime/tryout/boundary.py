"""Trying a classifier of 2-D points (ARCHITECTURE.md, "A Try-panel mode"): its decision
boundary. The plane around the validation points is cut into a grid, the model predicts a
class for every cell in one batched forward pass, and the validation points come with their
true classes. The app draws it (app/try_boundary.py). What a classifier of 2-D points is,
its grid and its predictions are runtime/boundary_grid.py's (shared with the live boundary
during training, runtime/watch_boundary.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .. import boundary_grid as BG
from ..boundary_grid import ARGMAX, BINARY, MARGIN  # noqa: F401 (importable from here, as before)
from .base import TryError

GRID = 200  # cells along each axis


@dataclass
class Boundary:
    """The classes a model predicts over a grid of the plane, and the validation points.

    Cell (i, j) is centred on (x1[j], x2[i]): row i goes up the second feature's axis,
    column j along the first's, and `classes[i, j]` is the class predicted there."""
    x1: torch.Tensor  # G cell centres along the first feature, increasing
    x2: torch.Tensor  # G cell centres along the second feature, increasing
    classes: torch.Tensor  # G × G class indices (int64), rows along x2
    extent: tuple[float, float, float, float]  # the grid's edges: x1 from, to, x2 from, to
    points: torch.Tensor  # N × 2, the validation samples' inputs
    labels: torch.Tensor  # N, their true classes
    predicted: torch.Tensor  # N, the class the model gives each
    n_classes: int
    axes: tuple[str, str] = ("x₁", "x₂")  # the features' names
    class_names: list[str] = field(default_factory=list)
    nodes: tuple[str, str] = ("", "")  # (the Input, the Output it reads)

    def name(self, k: int) -> str:
        return self.class_names[k] if 0 <= k < len(self.class_names) else str(k)

    def cell_at(self, x1: float, x2: float) -> tuple[int, int]:
        """(row, column) of the cell that holds the point (x1, x2), clamped to the grid."""
        a, b, c, d = self.extent
        cols, rows = len(self.x1), len(self.x2)
        j = min(max(int((x1 - a) / (b - a) * cols), 0), cols - 1)
        i = min(max(int((x2 - c) / (d - c) * rows), 0), rows - 1)
        return i, j

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).float().mean()) if len(self.labels) \
            else float("nan")


class BoundaryMode:
    """Tryout's decision-boundary methods (a mixin: `self` is the Tryout)."""

    def classifier_2d(self) -> tuple[str, str, str, str]:
        """(Input node, Output node, accuracy kind, Target node) of a classifier of 2-D
        points; TryError for any other model."""
        found = None
        if not self.generator and self.dataset is not None:
            found = BG.classifier_2d(self.compiled)
        if found is None:
            raise TryError("a decision boundary needs a classifier of 2-D points: one Input of "
                           "2 float features, and an Output that a classification loss (an "
                           "accuracy) reads")
        return found

    def _predict(self, x: torch.Tensor, out: str, kind: str) -> torch.Tensor:
        """The class the model gives each row of x (N × 2), as its loss's accuracy takes it."""
        return BG.predict(self.compiled, x, out, kind)

    def _truth(self, target: str, kind: str) -> torch.Tensor:
        """The validation samples' true classes, read as the accuracy reads them."""
        return BG.truth(self.val[target], kind)

    def _axis_names(self, inp: str) -> tuple[str, str]:
        """The two features' names if the dataset names them, else x₁ and x₂."""
        return BG.axis_names(self.compiled, self.project.data.bind, self.dataset, inp)

    @torch.no_grad()
    def boundary(self, size: int = GRID, margin: float = MARGIN) -> Boundary:
        """The class the model predicts at each cell of a size × size grid over the
        validation points' range (plus `margin` of it on each side), in one batched forward
        pass, with the points, their true classes and the model's class for each."""
        inp, out, kind, target = self.classifier_2d()
        pts = self.val[inp].float()
        if not len(pts):
            raise TryError("there are no validation points to draw the boundary around")
        x1, x2, grid, extent = BG.plane(pts, size, margin)
        classes = self._predict(grid, out, kind).reshape(size, size)
        n_classes = BG.n_classes(self.compiled, out, kind)
        names = list(self.classes or [])
        return Boundary(x1, x2, classes, extent, pts, self._truth(target, kind),
                        self._predict(pts, out, kind), n_classes, self._axis_names(inp),
                        names if len(names) == n_classes else [], (inp, out))
