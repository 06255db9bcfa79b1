"""A classifier of 2-D points and its decision boundary, the pieces the Try panel's boundary
(runtime/tryout/boundary.py) and the live boundary during training (runtime/watch_boundary.py)
share: which Input and Output make a model such a classifier, the grid of cells over its
points, and the class the model predicts for each row of a batch.

A classifier here is a model with one Input of 2 float features whose Output a
classification loss reads: the class is what that loss's accuracy takes of the output
(runtime.metrics.record: the argmax of class scores, or for one output value, above 0.5 for
a probability or a 0/1 step, above 0 for logits and a hinge's sign)."""
from __future__ import annotations

import torch

from graph.settings import auto_bind
from graph.spec import NodeRole, PortRole

from .compile import Compiled

# The accuracies that turn one sample's output into one class (runtime.metrics)
ARGMAX = "accuracy/argmax"
BINARY = ("accuracy/binary", "accuracy/logit", "accuracy/sign")
MARGIN = 0.1  # of the points' range, added on each side


def classifier_2d(c: Compiled) -> tuple[str, str, str, str | None] | None:
    """(Input node, Output node, accuracy kind, Target node) when the compiled model is a
    classifier of 2-D points, else None."""
    from .epoch_metrics import metric_kinds, target_of
    g = c.graph
    if len(c.inputs) != 1:
        return None
    inp = c.inputs[0]
    t = c.analysis.out_type(inp, g.spec(inp).value_port)
    if t is None or tuple(t.sample_shape) != (2,) or not t.dtype.startswith("float"):
        return None
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
    return None


def n_classes(c: Compiled, out: str, kind: str) -> int:
    """How many classes Output `out` tells apart."""
    if kind in BINARY:
        return 2
    return int(c.analysis.edge_type(c.graph.in_edges(out)[0]).shape[1])


def predict(c: Compiled, x: torch.Tensor, out: str, kind: str) -> torch.Tensor:
    """The class the model gives each row of x (N × 2), as its loss's accuracy takes it
    (the model as it is: the caller sets eval mode and no_grad)."""
    from .metrics import record
    y = c.model(x)
    y = (y[c.outputs.index(out)] if isinstance(y, tuple) else y).float()
    if kind == ARGMAX:
        return record(kind, y.reshape(len(x), -1)).long()
    return record(kind, y.reshape(len(x))).long()


def truth(y: torch.Tensor, kind: str) -> torch.Tensor:
    """The true classes of targets `y` (N × …), read as the accuracy reads them
    (runtime.metrics.finish)."""
    from .metrics import truth as read
    y = y.reshape(len(y), -1)
    return read(kind, y if kind == ARGMAX else y[:, 0]).reshape(len(y)).long()


def plane(pts: torch.Tensor, size: int, margin: float = MARGIN):
    """The size × size grid over the points' range (plus `margin` of it on each side):
    (x1 cell centres, x2 cell centres, the cells as a (size²) × 2 batch, row by row up x2,
    and the grid's edges (x1 from, to, x2 from, to))."""
    pts = pts.float()
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = (hi - lo) * margin
    pad = torch.where(pad > 0, pad, torch.ones_like(pad))  # one point, or all on a line
    lo, hi = lo - pad, hi + pad
    steps = (torch.arange(size, dtype=torch.float32, device=pts.device) + 0.5) / size
    x1, x2 = lo[0] + steps * (hi[0] - lo[0]), lo[1] + steps * (hi[1] - lo[1])
    rows, cols = torch.meshgrid(x2, x1, indexing="ij")  # cell (i, j): (x1[j], x2[i])
    grid = torch.stack([cols, rows], -1).reshape(-1, 2)
    return x1, x2, grid, (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


def axis_names(c: Compiled, bind: dict | None, dataset, inp: str) -> tuple[str, str]:
    """The two features' names of Input `inp` if the dataset names them (its fields bound
    by `bind`, the project's data.bind, or as training binds them), else x₁ and x₂."""
    g = c.graph
    bind = bind or auto_bind([n for n in g.nodes() if g.spec(n).role == NodeRole.INPUT], [],
                             list(dataset.fields), {})
    names = getattr(dataset, "feature_names", {}).get(bind.get(inp, ""))
    if names and len(names) == 2 and all(isinstance(s, str) and s for s in names):
        return names[0], names[1]
    return "x₁", "x₂"
