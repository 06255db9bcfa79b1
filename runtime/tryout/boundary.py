"""Trying a classifier of 2-D points (ARCHITECTURE.md, "A Try-panel mode"): its decision
boundary. The plane around the validation points is cut into a grid, the model predicts a
class for every cell in one batched forward pass, and the validation points come with their
true classes. The app draws it (app/try_boundary.py).

A classifier here is a model with one Input of 2 float features whose Output a
classification loss reads: the class is what that loss's accuracy takes of the output
(runtime.metrics.record: the argmax of class scores, or for one output value, above 0.5 for
a probability or a 0/1 step, above 0 for logits and a hinge's sign)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from graph.settings import auto_bind
from graph.spec import NodeRole, PortRole

from .base import TryError

# The accuracies that turn one sample's output into one class (runtime.metrics)
ARGMAX = "accuracy/argmax"
BINARY = ("accuracy/binary", "accuracy/logit", "accuracy/sign")
GRID = 200  # cells along each axis
MARGIN = 0.1  # of the points' range, added on each side


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
        from ..epoch_metrics import metric_kinds, target_of
        c = self.compiled
        g = c.graph
        why = ("a decision boundary needs a classifier of 2-D points: one Input of 2 float "
               "features, and an Output that a classification loss (an accuracy) reads")
        if self.generator or self.dataset is None or len(c.inputs) != 1:
            raise TryError(why)
        inp = c.inputs[0]
        t = c.analysis.out_type(inp, g.spec(inp).value_port)
        if t is None or tuple(t.sample_shape) != (2,) or not t.dtype.startswith("float"):
            raise TryError(why)
        for loss, kind in metric_kinds(c).items():
            if kind != ARGMAX and kind not in BINARY:
                continue
            spec = g.spec(loss)
            read = {(e.src, e.src_port) for e in g.in_edges(loss, spec.in_role(PortRole.PRED))}
            for out in c.outputs:
                e = g.in_edges(out)
                if not e or (e[0].src, e[0].src_port) not in read:
                    continue
                shape = c.analysis.edge_type(e[0]).shape
                n = shape[1] if len(shape) == 2 else 1 if len(shape) == 1 else None
                if (kind == ARGMAX and isinstance(n, int) and n >= 2) or \
                        (kind in BINARY and n == 1):
                    return inp, out, kind, target_of(c, loss)
        raise TryError(why)

    def _predict(self, x: torch.Tensor, out: str, kind: str) -> torch.Tensor:
        """The class the model gives each row of x (N × 2), as its loss's accuracy takes it."""
        from ..metrics import record
        c = self.compiled
        y = c.model(x)
        y = (y[c.outputs.index(out)] if isinstance(y, tuple) else y).float()
        if kind == ARGMAX:
            return record(kind, y.reshape(len(x), -1)).long()
        return record(kind, y.reshape(len(x))).long()

    def _truth(self, target: str, kind: str) -> torch.Tensor:
        """The validation samples' true classes, read as the accuracy reads them
        (runtime.metrics.finish)."""
        from ..metrics import truth
        y = self.val[target].reshape(len(self.val[target]), -1)
        return truth(kind, y if kind == ARGMAX else y[:, 0]).reshape(len(y)).long()

    def _axis_names(self, inp: str) -> tuple[str, str]:
        """The two features' names if the dataset names them, else x₁ and x₂."""
        ds, g = self.dataset, self.compiled.graph
        bind = self.project.data.bind or auto_bind(
            [n for n in g.nodes() if g.spec(n).role == NodeRole.INPUT], [],
            list(ds.fields), {})
        names = getattr(ds, "feature_names", {}).get(bind.get(inp, ""))
        if names and len(names) == 2 and all(isinstance(s, str) and s for s in names):
            return names[0], names[1]
        return "x₁", "x₂"

    @torch.no_grad()
    def boundary(self, size: int = GRID, margin: float = MARGIN) -> Boundary:
        """The class the model predicts at each cell of a size × size grid over the
        validation points' range (plus `margin` of it on each side), in one batched forward
        pass, with the points, their true classes and the model's class for each."""
        inp, out, kind, target = self.classifier_2d()
        pts = self.val[inp].float()
        if not len(pts):
            raise TryError("there are no validation points to draw the boundary around")
        lo, hi = pts.min(0).values, pts.max(0).values
        pad = (hi - lo) * margin
        pad = torch.where(pad > 0, pad, torch.ones_like(pad))  # one point, or all on a line
        lo, hi = lo - pad, hi + pad
        steps = (torch.arange(size, dtype=torch.float32) + 0.5) / size
        x1, x2 = lo[0] + steps * (hi[0] - lo[0]), lo[1] + steps * (hi[1] - lo[1])
        rows, cols = torch.meshgrid(x2, x1, indexing="ij")  # cell (i, j): (x1[j], x2[i])
        grid = torch.stack([cols, rows], -1).reshape(-1, 2)
        classes = self._predict(grid, out, kind).reshape(size, size)
        n_classes = 2 if kind in BINARY else int(
            self.compiled.analysis.edge_type(self.compiled.graph.in_edges(out)[0]).shape[1])
        names = list(self.classes or [])
        return Boundary(x1, x2, classes,
                        (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])),
                        pts, self._truth(target, kind), self._predict(pts, out, kind),
                        n_classes, self._axis_names(inp),
                        names if len(names) == n_classes else [], (inp, out))
