"""A bare learned tensor and the tensor operations that models written in PyTorch wrap around
it (issue 26): Parameter (a ViT's class token, its position embeddings), Expand to batch
(the token repeated for every sample), Flatten dims (x.flatten(2)), Transpose
(x.transpose(1, 2)) and Mean (x.mean(1)). The importer maps nn.Parameter and those tensor
methods here (graph/catalogue/torch_functions.py); each is as useful drawn by hand.

Axes are numbered as torch numbers them, the batch 0; a negative one counts from the end.
None of these moves the batch axis: a node's output is a batch like its input's."""
from __future__ import annotations

from ..spec import Call, Doc, Make, NodeSpec, Param, Port, TensorType, is_symbol, numel
from ._common import COLORS, need_float

CAT = "Structure"
_X, _Y = (Port("x"),), (Port("y"),)
_MAX_RANK = 16


def _axis(ctx, t: TensorType, dim: int, name: str) -> int:
    """`dim` of `t` as a number from 0, refused in words if out of range or the batch."""
    rank = len(t.shape)
    if not -rank <= dim < rank:
        ctx.fail(f"has {name} {dim}, but '{ctx.src('x')}' gives {t}, which has dims 0 to "
                 f"{rank - 1} (or −{rank} to −1)", "x")
    d = dim % rank
    if d == 0:
        ctx.fail(f"has {name} {dim}, which is the batch axis of '{ctx.src('x')}''s {t}: "
                 "the node works within each sample (dims 1 and up)", "x")
    return d


def _dim_param(name: str, default: int, help_: str) -> Param:
    return Param(name, "int", default, help_, min=-_MAX_RANK, max=_MAX_RANK - 1)


# Parameter --------------------------------------------------------------------------------

def _parameter_shape(ctx):
    shape = list(ctx.p["shape"])
    if any(is_symbol(d) for d in shape):
        ctx.fail(f"has shape {shape}: a learned tensor has fixed sizes (numbers), not size "
                 "names")
    dtype = ctx.p.get("dtype") or "float32"
    if dtype != "float32" and ctx.p["learn"]:
        ctx.fail(f"holds {dtype} values, which cannot be learned: turn learn off (a fixed "
                 "tensor, saved with the weights)")
    if dtype != "float32" and ctx.p["init"] not in ("zeros", "ones"):
        ctx.fail(f"holds {dtype} values, which start as zeros or ones, not "
                 f"'{ctx.p['init']}'")
    return {"y": TensorType(tuple(shape), dtype)}


def _parameter_args(p: dict) -> dict:
    args = {"shape": list(p["shape"]), "init": p["init"], "std": p["std"], "learn": p["learn"]}
    if (p.get("dtype") or "float32") != "float32":  # float32: the module exactly as before
        args["dtype"] = p["dtype"]
    return args


PARAMETER = NodeSpec(
    type="Parameter", title="Parameter (learned tensor)", category="Core", id_prefix="param",
    inputs=(), outputs=(Port("y", doc="the tensor itself, of the given shape"),),
    params=(Param("shape", "shape", [1, 1, 64], "The tensor's sizes, all of them: there is "
                  "no batch here. A leading 1 lets it broadcast over the batch (add it to an "
                  "N × T × D sequence) or be expanded to it (Expand to batch).",
                  label="shape"),
            Param("init", "choice", "zeros", "How it starts: zeros, ones, a normal "
                  "distribution N(0, std²) or uniform in [−std, std].",
                  choices=("zeros", "ones", "normal", "uniform")),
            Param("std", "float", 0.02, "The spread of 'normal' (standard deviation) and "
                  "'uniform' (bound); ViT's tokens start at 0.02.", min=0.0, max=100.0),
            Param("learn", "bool", True, "Train it (an nn.Parameter); off, it is a fixed "
                  "buffer that is saved with the weights but never changes."),
            Param("dtype", "choice", "float32", "What the values are: real numbers, or "
                  "integers (int64: token or position ids) or true/false (bool: a mask), "
                  "which are fixed (learn off); an import keeps such constants here.",
                  choices=("float32", "int64", "bool"))),
    shape=_parameter_shape,
    build=lambda ctx: Make("ops.LearnedTensor", _parameter_args(ctx.p)),
    color=COLORS["Core"],
    doc=Doc(
        summary="A tensor of values learned directly, with no input: the node gives the "
                "tensor itself (PyTorch's bare nn.Parameter used outside a layer).",
        formula="y = W,   W ∈ ℝ^shape, updated by gradient descent like any weight",
        use_case="A Vision Transformer's class token (1 × 1 × D, expanded to the batch and "
                 "put in front of the patch tokens) and its learned position embeddings "
                 "(1 × (T + 1) × D, added to the tokens); a learned query, a scale or a "
                 "temperature. Example: shape [1, 2], init ones: y = [[1, 1]] until training "
                 "moves it.",
        notes="Weights: one tensor 'weight' (the node's own: <node>.weight in the saved "
              "weights). Its gradient is the sum of the gradients of everything that reads "
              "it, over the whole batch."),
)


# Expand to batch --------------------------------------------------------------------------

def _expand_shape(ctx):
    x, like = ctx.ins["x"], ctx.ins["like"]
    if not x.shape or x.shape[0] != 1:
        ctx.fail(f"repeats a tensor whose first size is 1 (1 × …), but '{ctx.src('x')}' "
                 f"gives {x}", "x")
    if not like.shape:
        ctx.fail(f"reads the batch size of '{ctx.src('like')}', which gives a scalar", "like")
    return {"y": TensorType((like.shape[0], *x.shape[1:]), x.dtype)}


EXPAND_TO_BATCH = NodeSpec(
    type="ExpandToBatch", title="Expand to batch", category=CAT, id_prefix="expand",
    inputs=(Port("x", doc="the tensor to repeat, 1 × …"),
            Port("like", doc="any batch N × …: only its batch size N is read")),
    outputs=(Port("y", doc="N × …, x for every sample"),),
    params=(),
    shape=_expand_shape, build=lambda ctx: Call("ops.expand_to_batch", {}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Repeats a tensor whose first size is 1 once for every sample of another "
                "input's batch (a view: nothing is copied).",
        formula="y[n] = x[0]  for n = 0 … N − 1,   N = the batch size of 'like'\n"
                "1 × d₁ × … × dₖ  →  N × d₁ × … × dₖ",
        use_case="A Vision Transformer's class token: a Parameter 1 × 1 × D expanded to "
                 "N × 1 × D, then concatenated in front of the N × T × D patch tokens "
                 "(torch: cls.expand(x.shape[0], -1, -1)). Example: x = [[5, 6]] and a batch "
                 "of 3 give [[5, 6], [5, 6], [5, 6]].",
        notes="The gradient of x is the sum over the batch of the output's gradients."),
)


# Flatten dims ------------------------------------------------------------------------------

def _flatten_dims_shape(ctx):
    t = ctx.ins["x"]
    if len(t.shape) < 2:
        ctx.fail(f"needs a batch N × … but '{ctx.src('x')}' gives {t}", "x")
    s = _axis(ctx, t, ctx.p["start_dim"], "start_dim")
    e = _axis(ctx, t, ctx.p["end_dim"], "end_dim")
    if s > e:
        ctx.fail(f"flattens dims {ctx.p['start_dim']} to {ctx.p['end_dim']} of "
                 f"'{ctx.src('x')}''s {t}, which is {s} to {e}: start_dim must not come "
                 "after end_dim", "x")
    n = numel(t.shape[s:e + 1])
    shape = (*t.shape[:s], n if n is not None else "?", *t.shape[e + 1:])
    return {"y": TensorType(shape, t.dtype)}


FLATTEN_DIMS = NodeSpec(
    type="FlattenDims", title="Flatten dims", category=CAT, id_prefix="flatten",
    inputs=_X, outputs=_Y,
    params=(_dim_param("start_dim", 2, "The first dim joined (1 or later: the batch stays)."),
            _dim_param("end_dim", -1, "The last dim joined; −1 is the last.")),
    shape=_flatten_dims_shape,
    build=lambda ctx: Call("torch.flatten", {"start_dim": ctx.p["start_dim"],
                                             "end_dim": ctx.p["end_dim"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Joins the dims from start_dim to end_dim into one, keeping the others: "
                "Flatten with a chosen range (Flatten joins everything after the batch).",
        formula="N × d₁ × … × dₖ  →  N × d₁ × … × (d_s · … · d_e) × … × dₖ\n"
                "start_dim 2: N × C × H × W  →  N × C × (H·W)",
        use_case="A Vision Transformer's patch embedding: a stride-p convolution gives "
                 "N × D × H/p × W/p, flatten dims 2 to −1 gives N × D × T (T patches), and a "
                 "Transpose of dims 1 and 2 turns it into the sequence N × T × D. Example: "
                 "start_dim 2 on 1 × 2 × 2 × 2 [[[1, 2], [3, 4]], [[5, 6], [7, 8]]] gives "
                 "1 × 2 × 4 [[1, 2, 3, 4], [5, 6, 7, 8]].",
        notes="torch.flatten(x, start_dim, end_dim), as nn.Flatten(start_dim, end_dim). The "
              "values keep their order (row-major): no copy where the input is contiguous."),
)


# Transpose ---------------------------------------------------------------------------------

def _transpose_shape(ctx):
    t = ctx.ins["x"]
    a = _axis(ctx, t, ctx.p["dim0"], "dim0")
    b = _axis(ctx, t, ctx.p["dim1"], "dim1")
    shape = list(t.shape)
    shape[a], shape[b] = shape[b], shape[a]
    return {"y": TensorType(tuple(shape), t.dtype)}


TRANSPOSE = NodeSpec(
    type="Transpose", title="Transpose (swap two dims)", category=CAT, id_prefix="transpose",
    inputs=_X, outputs=_Y,
    params=(_dim_param("dim0", 1, "One dim of the pair (1 or later: the batch stays)."),
            _dim_param("dim1", 2, "The other; negative counts from the end.")),
    shape=_transpose_shape,
    build=lambda ctx: Call("torch.transpose", {"dim0": ctx.p["dim0"], "dim1": ctx.p["dim1"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Swaps two dims of each sample, whatever the rank: the sequence's time and "
                "feature axes, or the last two of a matrix.",
        formula="y[…, j, …, i, …] = x[…, i, …, j, …]\n"
                "dims 1, 2: N × D × T  →  N × T × D",
        use_case="A Vision Transformer turns its patch features N × D × T into the token "
                 "sequence N × T × D (x.transpose(1, 2)); a 1-d convolution's N × C × L back "
                 "to a sequence N × L × C. Example: dims 1, 2 of [[[1, 2, 3], [4, 5, 6]]] "
                 "(1 × 2 × 3) give [[[1, 4], [2, 5], [3, 6]]] (1 × 3 × 2).",
        notes="torch.transpose(x, dim0, dim1): a view, nothing copied. Permute reorders all "
              "the axes at once when their number is known."),
)


# Mean --------------------------------------------------------------------------------------

def _mean_shape(ctx):
    t = need_float(ctx, "x")
    d = _axis(ctx, t, ctx.p["dim"], "dim")
    shape = list(t.shape)
    if ctx.p["keepdim"]:
        shape[d] = 1
    else:
        del shape[d]
    return {"y": TensorType(tuple(shape))}


MEAN = NodeSpec(
    type="Mean", title="Mean over a dim", category=CAT, id_prefix="mean",
    inputs=_X, outputs=_Y,
    params=(_dim_param("dim", 1, "The dim averaged over (1 or later: each sample on its "
                                 "own); negative counts from the end."),
            Param("keepdim", "bool", False, "Keep the averaged dim, with size 1.")),
    shape=_mean_shape,
    build=lambda ctx: Call("torch.mean", {"dim": ctx.p["dim"], "keepdim": ctx.p["keepdim"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="The average of each sample's values along one dim, which goes away (or "
                "stays with size 1).",
        formula="y[…] = (1 / d) Σᵢ x[…, i, …]   over the d entries of dim\n"
                "dim 1: N × T × D  →  N × D",
        use_case="Mean pooling over a sequence: a Transformer encoder's N × T × D tokens "
                 "averaged into one N × D vector per sample for a classifier (instead of a "
                 "class token). Example: dim 1 of [[[1, 2], [3, 6]]] gives [[2, 4]].",
        notes="torch.mean(x, dim, keepdim). Padded steps count like the others: mask them "
              "out first where padding varies. Global average pooling of images "
              "(N × C × H × W → N × C) is the Global avg pool node."),
)

SPECS = (PARAMETER, EXPAND_TO_BATCH, FLATTEN_DIMS, TRANSPOSE, MEAN)
