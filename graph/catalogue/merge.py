"""Nodes that join several tensors: Add (residual connections) and Concat."""
from __future__ import annotations

from ..spec import Call, Doc, NodeSpec, Param, Port, TensorType
from ._common import COLORS


def broadcast(a: tuple, b: tuple) -> tuple | None:
    """Broadcast two shapes as torch does; None if they don't fit."""
    out = []
    for x, y in zip(reversed((1,) * (len(b) - len(a)) + a), reversed((1,) * (len(a) - len(b)) + b)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(reversed(out))


def _inputs(ctx):
    ts = ctx.ins["x"]
    if len(ts) < 2:
        ctx.fail(f"needs at least two inputs on port 'x', it has {len(ts)}", "x")
    return ts


def _add_shape(ctx):
    ts = _inputs(ctx)
    shape = ts[0].shape
    for t in ts[1:]:
        b = broadcast(shape, t.shape)
        if b is None:
            ctx.fail(f"cannot add {ts[0]} and {t} (from {ctx.src('x')}): the sizes must match "
                     "or be 1", "x")
        shape = b
    return {"y": TensorType(shape, ts[0].dtype)}


def _concat_shape(ctx):
    ts = _inputs(ctx)
    d = ctx.p["dim"]
    rank = len(ts[0].shape)
    if any(len(t.shape) != rank for t in ts) or d >= rank:
        ctx.fail(f"needs inputs of the same rank with a dim {d} (from {ctx.src('x')}: "
                 + ", ".join(str(t) for t in ts) + ")", "x")
    for t in ts[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(ts[0].shape, t.shape)) if i != d):
            ctx.fail("can join along dim %d only inputs that agree on the other dims, got %s"
                     % (d, ", ".join(str(t) for t in ts)), "x")
    sizes = [t.shape[d] for t in ts]
    total = sum(sizes) if all(isinstance(s, int) for s in sizes) else "?"
    shape = list(ts[0].shape)
    shape[d] = total
    return {"y": TensorType(tuple(shape), ts[0].dtype)}


ADD = NodeSpec(
    type="Add", title="Add", category="Structure", id_prefix="add",
    inputs=(Port("x", multi=True),), outputs=(Port("y"),), params=(),
    shape=_add_shape, build=lambda ctx: Call("ops.add_all", {}),
    color=COLORS["Structure"],
    doc=Doc(summary="Adds its inputs element by element (with broadcasting).",
            formula="y = x₁ + x₂ + … + xₖ",
            use_case="Residual (skip) connections, y = F(x) + x, which let gradients flow "
                     "through deep networks; merging two branches."),
)

CONCAT = NodeSpec(
    type="Concat", title="Concat", category="Structure", id_prefix="concat",
    inputs=(Port("x", multi=True),), outputs=(Port("y"),),
    params=(Param("dim", "int", 1, "Dimension to join along (1 = features or channels).",
                  min=1),),
    shape=_concat_shape, build=lambda ctx: Call("torch.cat", {"dim": ctx.p["dim"]}),
    color=COLORS["Structure"],
    doc=Doc(summary="Joins its inputs along one dimension, in the order they were wired.",
            formula="y = [x₁, x₂, …, xₖ]",
            use_case="Joining branches; [h_{t−1}, x_t] in an LSTM gate; the decoder state with "
                     "the attention context [s_t, c_t]."),
)

SPECS = (ADD, CONCAT)
