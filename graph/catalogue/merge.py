"""Nodes that join several tensors: Add (residual connections), Multiply (gates) and Concat;
and OneMinus, the 1 − z a GRU's update gate needs beside them."""
from __future__ import annotations

from ..spec import Call, Doc, NodeSpec, Param, Port, TensorType
from ._common import COLORS, need_float, same_as_input


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


def _broadcast_all(ctx, verb: str) -> tuple:
    """The shape the inputs on port 'x' broadcast to, as torch broadcasts them."""
    ts = _inputs(ctx)
    shape = ts[0].shape
    for t in ts[1:]:
        b = broadcast(shape, t.shape)
        if b is None:
            ctx.fail(f"cannot {verb} {ts[0]} and {t} (from {ctx.src('x')}): the sizes must "
                     "match or be 1", "x")
        shape = b
    return shape


def _add_shape(ctx):
    return {"y": TensorType(_broadcast_all(ctx, "add"), ctx.ins["x"][0].dtype)}


def _multiply_shape(ctx):
    ts = _inputs(ctx)
    for t in ts:
        if t.dtype != "float32":
            ctx.fail(f"needs real numbers (float32) on port 'x' but gets {t} among its "
                     f"inputs (from {ctx.src('x')})", "x")
    return {"y": TensorType(_broadcast_all(ctx, "multiply"))}


def _one_minus_shape(ctx):
    need_float(ctx, "x")
    return same_as_input(ctx)


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
    channels_last="safe",
)

MULTIPLY = NodeSpec(
    type="Multiply", title="Multiply (⊙)", category="Structure", id_prefix="mul",
    inputs=(Port("x", multi=True),), outputs=(Port("y"),), params=(),
    shape=_multiply_shape, build=lambda ctx: Call("ops.mul_all", {}),
    color=COLORS["Structure"],
    doc=Doc(summary="Multiplies its inputs element by element (the Hadamard product ⊙, with "
                    "broadcasting).",
            formula="y = x₁ ⊙ x₂ ⊙ … ⊙ xₖ        y[i] = x₁[i] · x₂[i] · … · xₖ[i]",
            use_case="Gates: a gate's values in (0, 1) (a Sigmoid's output) scale another "
                     "value element by element, as in an LSTM's cell state "
                     "C_t = f_t ⊙ C_(t−1) + i_t ⊙ C̃_t and hidden state h_t = o_t ⊙ tanh(C_t), "
                     "or a GRU's (1 − z_t) ⊙ h_(t−1) + z_t ⊙ h̃_t: build a cell from Linear, "
                     "Sigmoid, Tanh, Multiply and Add nodes to see each gate at work.",
            notes="Sizes broadcast as in torch: each must match or be 1, so an N × C gate "
                  "reshaped to N × C × 1 × 1 scales whole feature maps (squeeze-and-"
                  "excitation). Example: [1, 2, 3] ⊙ [0.5, 0, 2] = [0.5, 0, 6]."),
    channels_last="safe",
)

ONE_MINUS = NodeSpec(
    type="OneMinus", title="One minus (1 − x)", category="Structure", id_prefix="oneminus",
    inputs=(Port("x"),), outputs=(Port("y"),), params=(),
    shape=_one_minus_shape, build=lambda ctx: Call("ops.one_minus", {}),
    color=COLORS["Structure"],
    doc=Doc(summary="Subtracts each value from 1: a gate's complement, what it lets through "
                    "turned into what it holds back.",
            formula="y = 1 − x",
            use_case="A GRU's update h_t = (1 − z_t) ⊙ h_(t−1) + z_t ⊙ h̃_t: the update gate "
                     "z_t (a Sigmoid) weighs the candidate h̃_t, and OneMinus → Multiply weighs "
                     "the old state with 1 − z_t, so the two weights sum to 1.",
            notes="torch's nn.GRU puts the 1 − z_t on the candidate instead, "
                  "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_(t−1): the same cell with z_t and 1 − z_t "
                  "swapped. Example: 1 − [0.25, 1, −2] = [0.75, 0, 3]."),
    channels_last="safe",
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
    channels_last="safe",
)

SPECS = (ADD, MULTIPLY, ONE_MINUS, CONCAT)
