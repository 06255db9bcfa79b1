"""Generic tensor operations (issue 26): element-wise functions of one tensor, of a tensor and
a constant, and of two tensors; matrix products; reductions over dims; a choice by a mask.
Each node type comes from one table whose rows name a torch function and its formula; the
node's `function` param picks a row (a fixed list: never code, never eval), and the build is
a Call of that row's torch function (or of one of ours in runtime/tensor_ops.py where torch
has none taking the tensor first), so the Python export reads `torch.exp(x)`.
The importer maps torch's functions, tensor methods and operators here
(graph/catalogue/torch_functions_generic.py). Shape ops (unsqueeze, slice, chunk, ...):
tensor_shape_ops.py."""
from __future__ import annotations

from ..spec import Call, Doc, NodeSpec, Param, Port, TensorType
from .merge import broadcast

CAT = "Tensor operations"
COLOR = "#5b6c8f"
_MAX_RANK = 16

# Element-wise functions of one tensor: function -> (torch target, formula)
UNARY = {
    "abs": ("torch.abs", "|x|"), "neg": ("torch.neg", "−x"), "exp": ("torch.exp", "eˣ"),
    "exp2": ("torch.exp2", "2ˣ"), "log": ("torch.log", "ln x"), "log2": ("torch.log2", "log₂ x"),
    "log10": ("torch.log10", "log₁₀ x"), "log1p": ("torch.log1p", "ln(1 + x)"),
    "expm1": ("torch.expm1", "eˣ − 1"), "sqrt": ("torch.sqrt", "√x"),
    "rsqrt": ("torch.rsqrt", "1 / √x"), "square": ("torch.square", "x²"),
    "reciprocal": ("torch.reciprocal", "1 / x"), "sin": ("torch.sin", "sin x"),
    "cos": ("torch.cos", "cos x"), "tan": ("torch.tan", "tan x"),
    "asin": ("torch.asin", "arcsin x"), "acos": ("torch.acos", "arccos x"),
    "atan": ("torch.atan", "arctan x"), "sinh": ("torch.sinh", "sinh x"),
    "cosh": ("torch.cosh", "cosh x"), "tanh": ("torch.tanh", "tanh x"),
    "sigmoid": ("torch.sigmoid", "1 / (1 + e⁻ˣ)"), "erf": ("torch.erf", "erf x"),
    "sign": ("torch.sign", "−1, 0 or 1"), "floor": ("torch.floor", "⌊x⌋"),
    "ceil": ("torch.ceil", "⌈x⌉"), "round": ("torch.round", "x rounded (half to even)"),
    "trunc": ("torch.trunc", "x without its fraction"), "frac": ("torch.frac", "x − trunc x"),
}

# A tensor and a constant c: function -> (target, keyword the constant goes in, formula);
# "clamp" takes min and max instead; a comparison gives true/false values
SCALAR = {
    "add": ("torch.add", "other", "x + c"), "sub": ("torch.sub", "other", "x − c"),
    "rsub": ("torch.rsub", "other", "c − x"), "mul": ("torch.mul", "other", "c · x"),
    "div": ("torch.div", "other", "x / c"), "rdiv": ("ops.reflected_div", "scalar", "c / x"),
    "pow": ("torch.pow", "exponent", "xᶜ"), "rpow": ("ops.reflected_pow", "scalar", "cˣ"),
    "maximum": ("torch.clamp", "min", "max(x, c)"), "minimum": ("torch.clamp", "max", "min(x, c)"),
    "clamp": ("torch.clamp", "", "min(max(x, min), max)"),
    "remainder": ("torch.remainder", "other", "x mod c (the sign of c)"),
    "fmod": ("torch.fmod", "other", "x mod c (the sign of x)"),
    "floor_divide": ("torch.floor_divide", "other", "⌊x / c⌋"),
    "eq": ("torch.eq", "other", "x = c"), "ne": ("torch.ne", "other", "x ≠ c"),
    "lt": ("torch.lt", "other", "x < c"), "le": ("torch.le", "other", "x ≤ c"),
    "gt": ("torch.gt", "other", "x > c"), "ge": ("torch.ge", "other", "x ≥ c"),
}
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")

# Two tensors, broadcast: function -> (target, formula)
BINARY = {
    "sub": ("torch.sub", "a − b"), "div": ("torch.div", "a / b"), "pow": ("torch.pow", "aᵇ"),
    "maximum": ("torch.maximum", "max(a, b)"), "minimum": ("torch.minimum", "min(a, b)"),
    "atan2": ("torch.atan2", "the angle of (b, a)"), "hypot": ("torch.hypot", "√(a² + b²)"),
    "remainder": ("torch.remainder", "a mod b (the sign of b)"),
    "fmod": ("torch.fmod", "a mod b (the sign of a)"),
    "floor_divide": ("torch.floor_divide", "⌊a / b⌋"),
    "eq": ("torch.eq", "a = b"), "ne": ("torch.ne", "a ≠ b"), "lt": ("torch.lt", "a < b"),
    "le": ("torch.le", "a ≤ b"), "gt": ("torch.gt", "a > b"), "ge": ("torch.ge", "a ≥ b"),
}

# Reductions over dims: function -> (target, formula)
REDUCE = {
    "sum": ("torch.sum", "Σ x"), "mean": ("torch.mean", "(1/n) Σ x"),
    "amax": ("torch.amax", "max x"), "amin": ("torch.amin", "min x"),
    "prod": ("ops.prod_over", "Π x"),
    "std": ("torch.std", "√(Σ (x − x̄)² / (n − correction))"),
    "var": ("torch.var", "Σ (x − x̄)² / (n − correction)"),
    "logsumexp": ("torch.logsumexp", "ln Σ eˣ"),
    "norm": ("torch.linalg.vector_norm", "(Σ |x|^ord)^(1/ord)"),
}


def _listing(table: dict, formula=lambda row: row[-1]) -> str:
    return "\n".join(f"{name}: {formula(row)}" for name, row in table.items())


def need_real(ctx, port: str) -> TensorType:
    t = ctx.ins[port]
    if t.dtype != "float32":
        ctx.fail(f"needs real numbers (float32) but '{ctx.src(port)}' gives {t}", port)
    return t


def axis(ctx, port: str, t: TensorType, dim: int, name: str, batch_ok: bool = False,
         extra: int = 0) -> int:
    """`dim` of `t` (rank + `extra` axes) as a number from 0, refused in words when out of
    range or, unless `batch_ok`, the batch axis."""
    rank = len(t.shape) + extra
    if not -rank <= dim < rank:
        ctx.fail(f"has {name} {dim}, but '{ctx.src(port)}' gives {t}, which allows dims 0 "
                 f"to {rank - 1} (or −{rank} to −1)", port)
    d = dim % rank
    if d == 0 and not batch_ok:
        ctx.fail(f"has {name} {dim}, which is the batch axis of '{ctx.src(port)}''s {t}: the "
                 "node works within each sample (dims 1 and up)", port)
    return d


def _fn_param(table: dict, default: str, help_: str) -> Param:
    return Param("function", "choice", default, help_, choices=tuple(table))


def _node(type_, title, inputs, outputs, params, shape, build, doc, prefix):
    return NodeSpec(type=type_, title=title, category=CAT, id_prefix=prefix, inputs=inputs,
                    outputs=outputs, params=params, shape=shape, build=build, color=COLOR,
                    doc=doc)


# Tensor function ---------------------------------------------------------------------------

def _unary_shape(ctx):
    t = need_real(ctx, "x")
    return {"y": TensorType(t.shape)}


TENSOR_FUNCTION = _node(
    "TensorFunction", "Tensor function", (Port("x"),), (Port("y", doc="the same shape as x"),),
    (_fn_param(UNARY, "exp", "The function applied to every value."),),
    _unary_shape, lambda ctx: Call(UNARY[ctx.p["function"]][0], {}),
    Doc(summary="Applies one element-wise function of a fixed list to every value: the shape "
                "stays.",
        formula="y[i] = f(x[i])\n" + _listing(UNARY),
        use_case="The arithmetic a model's forward does between layers: exp of a predicted "
                 "log-variance (a VAE's σ = exp(½ log σ²)), sqrt or rsqrt in a hand-written "
                 "norm, log1p of counts, sin and cos of angles. Example: exp of [0, 1] gives "
                 "[1, 2.71828].",
        notes="torch.<function>(x): log and sqrt of negative values give NaN, as in torch."),
    "fn")


# Tensor and a constant ---------------------------------------------------------------------

def _scalar_shape(ctx):
    fn, t = ctx.p["function"], ctx.ins["x"]
    if fn == "clamp" and ctx.p["min"] is None and ctx.p["max"] is None:
        ctx.fail("clamps with neither min nor max set: give at least one")
    if fn in COMPARISONS:
        return {"y": TensorType(t.shape, "bool")}
    need_real(ctx, "x")
    return {"y": TensorType(t.shape)}


def _scalar_build(ctx):
    fn = ctx.p["function"]
    target, key, _ = SCALAR[fn]
    if fn == "clamp":
        return Call(target, {"min": ctx.p["min"], "max": ctx.p["max"]})
    return Call(target, {key: ctx.p["scalar"]})


TENSOR_SCALAR = _node(
    "TensorScalar", "Tensor and a constant", (Port("x"),),
    (Port("y", doc="the same shape as x (true/false values for a comparison)"),),
    (_fn_param(SCALAR, "mul", "What is done with x and the constant c."),
     Param("scalar", "float", 1.0, "The constant c (every function but clamp)."),
     Param("min", "float", None, "clamp: the least value (auto: none).", auto=True),
     Param("max", "float", None, "clamp: the greatest value (auto: none).", auto=True)),
    _scalar_shape, _scalar_build,
    Doc(summary="Combines every value with a constant c: arithmetic, powers, bounds or a "
                "comparison. The shape stays.",
        formula="y[i] = f(x[i], c)\n" + _listing(SCALAR),
        use_case="x / 2, 1 − x, 2 · x, x ** 2, x.clamp(0, 1) and x > 0 of a forward written in "
                 "PyTorch; scaling attention scores by 1/√d. Example: rsub with c = 1 of "
                 "[0.25, 1] gives [0.75, 0].",
        notes="A comparison gives true/false values (bool): a mask for Where. rdiv and rpow "
              "are c / x and cˣ, as torch computes 1 / x and 2 ** x."),
    "scalar")


# Tensor binary -----------------------------------------------------------------------------
_AB = (Port("a", doc="the first operand"), Port("b", doc="the second operand"))


def _binary_shape(ctx):
    a, b = ctx.ins["a"], ctx.ins["b"]
    compare = ctx.p["function"] in COMPARISONS
    if not compare:
        need_real(ctx, "a"), need_real(ctx, "b")
    shape = broadcast(a.shape, b.shape)
    if shape is None:
        ctx.fail(f"cannot broadcast '{ctx.src('a')}''s {a} with '{ctx.src('b')}''s {b}: "
                 "from the last dim back, sizes must match or be 1", "b")
    return {"y": TensorType(shape, "bool" if compare else "float32")}


TENSOR_BINARY = _node(
    "TensorBinary", "Tensor binary", _AB, (Port("y", doc="a and b broadcast"),),
    (_fn_param(BINARY, "sub", "What is done with a and b, element by element."),),
    _binary_shape, lambda ctx: Call(BINARY[ctx.p["function"]][0], {}),
    Doc(summary="An element-wise function of two tensors, broadcast as torch broadcasts "
                "them (sizes match or are 1, from the last dim back). Add and Multiply "
                "are nodes of their own.",
        formula="y[i] = f(a[i], b[i])\n" + _listing(BINARY),
        use_case="x − mean and x / std in a hand-written norm, the difference of two "
                 "branches, a ratio; a comparison a > b as a mask. Example: sub of "
                 "[[1, 2]] (1 × 2) and [[1], [2]] (2 × 1) gives [[0, 1], [−1, 0]].",
        notes="torch.<function>(a, b). A comparison gives true/false values (bool)."),
    "binary")


# Matmul ------------------------------------------------------------------------------------

def _matmul_shape(ctx):
    a, b = need_real(ctx, "a"), need_real(ctx, "b")
    sa, sb = list(a.shape), list(b.shape)
    if not sa or not sb:
        ctx.fail(f"multiplies tensors of 1 dim or more, but gets {a} and {b}",
                 "a" if not sa else "b")
    va, vb = len(sa) == 1, len(sb) == 1
    if va:
        sa = [1, *sa]
    if vb:
        sb = [*sb, 1]
    if sa[-1] != sb[-2]:
        ctx.fail(f"multiplies '{ctx.src('a')}''s {a} by '{ctx.src('b')}''s {b}: a's last size "
                 f"({sa[-1]}) must equal b's {'only' if vb else 'second-to-last'} size "
                 f"({sb[-2]})", "b")
    lead = broadcast(tuple(sa[:-2]), tuple(sb[:-2]))
    if lead is None:
        ctx.fail(f"cannot broadcast the batch dims of '{ctx.src('a')}''s {a} and "
                 f"'{ctx.src('b')}''s {b} (all but the last two): sizes must match or be 1",
                 "b")
    shape = [*lead, *([] if va else [sa[-2]]), *([] if vb else [sb[-1]])]
    return {"y": TensorType(tuple(shape))}


MATMUL = _node(
    "MatMul", "Matrix product (matmul)", _AB,
    (Port("y", doc="a @ b: the batch dims broadcast, then … × n × p"),), (),
    _matmul_shape, lambda ctx: Call("torch.matmul", {}),
    Doc(summary="The matrix product a @ b of torch.matmul: over the last two dims, the dims "
                "before them broadcast as a batch; a vector (1 dim) is a row on the left, a "
                "column on the right.",
        formula="y[…, i, j] = Σₖ a[…, i, k] · b[…, k, j]\n"
                "N × n × m @ N × m × p → N × n × p;  N × n × m @ m × p → N × n × p",
        use_case="Attention written by hand: the scores q @ kᵀ (N × T × d @ N × d × T) and "
                 "the weighted values (N × T × T @ N × T × d); a product with a learned "
                 "matrix (a Parameter m × p). Example: [[1, 2]] @ [[3], [4]] = [[11]].",
        notes="torch.matmul(a, b); torch.bmm and torch.mm are the 3-d and 2-d cases."),
    "matmul")


# Reduction ---------------------------------------------------------------------------------

def _reduce_dims(ctx, t: TensorType) -> list[int]:
    dims = [axis(ctx, "x", t, d, "dim") for d in ctx.p["dims"]]
    if len(set(dims)) != len(dims):
        ctx.fail(f"has dims {ctx.p['dims']}, which name one dim of '{ctx.src('x')}''s {t} "
                 "twice", "x")
    return dims


def _reduce_shape(ctx):
    t = need_real(ctx, "x")
    dims = _reduce_dims(ctx, t)
    keep = ctx.p["keepdim"]
    shape = [1 if i in dims else s for i, s in enumerate(t.shape) if keep or i not in dims]
    return {"y": TensorType(tuple(shape))}


def _reduce_build(ctx):
    fn = ctx.p["function"]
    kw = {"dim": list(ctx.p["dims"]), "keepdim": ctx.p["keepdim"]}
    if fn in ("std", "var"):
        kw["correction"] = ctx.p["correction"]
    if fn == "norm":
        kw = {"ord": ctx.p["ord"], **kw}
    return Call(REDUCE[fn][0], kw)


TENSOR_REDUCE = _node(
    "TensorReduce", "Reduction over dims", (Port("x"),),
    (Port("y", doc="x without the reduced dims (or with size 1 there)"),),
    (_fn_param(REDUCE, "sum", "How the values along the dims are combined."),
     Param("dims", "intlist", [-1], "The dims reduced (1 or later: never the batch, each "
           "sample is reduced on its own); negative counts from the end."),
     Param("keepdim", "bool", False, "Keep the reduced dims, with size 1 (to broadcast the "
           "result against x)."),
     Param("correction", "int", 1, "std and var: n − correction divides the squares (1: the "
           "sample's, Bessel's; 0: the population's).", min=0, max=16),
     Param("ord", "float", 2.0, "norm: the order p of the vector norm (2: Euclidean, 1: the "
           "sum of |x|).")),
    _reduce_shape, _reduce_build,
    Doc(summary="Combines each sample's values along one or more dims into one: a sum, mean, "
                "maximum, product, spread or norm. The batch is never reduced.",
        formula="y = f over the dims of x\n" + _listing(REDUCE)
                + "\ndims [-1]: N × T × D → N × T (keepdim: N × T × 1)",
        use_case="x.sum(-1, keepdim=True) normalising weights by hand, x.std(-1) in a "
                 "hand-written layer norm, amax over time (max pooling of a sequence), an "
                 "L2 norm for cosine similarity. Example: sum over dims [1] of [[1, 2, 3]] "
                 "gives [6].",
        notes="torch.sum / mean / amax / amin / std / var / logsumexp (x, dim, keepdim) and "
              "torch.linalg.vector_norm; prod over several dims is one torch.prod per dim. "
              "Reducing the batch (dim 0) is refused: the rest of the graph is per sample."),
    "reduce")


# Where -------------------------------------------------------------------------------------

def _where_shape(ctx):
    c, x, y = ctx.ins["cond"], ctx.ins["x"], ctx.ins["y"]
    if c.dtype != "bool":
        ctx.fail(f"needs true/false values (a comparison's) on 'cond', but '{ctx.src('cond')}' "
                 f"gives {c}", "cond")
    if x.dtype != y.dtype:
        ctx.fail(f"needs x and y of one kind of values, but '{ctx.src('x')}' gives {x} and "
                 f"'{ctx.src('y')}' gives {y}", "y")
    shape = broadcast(c.shape, x.shape)
    for port, t in (("x", x), ("y", y)):
        shape = broadcast(shape, t.shape) if shape is not None else None
        if shape is None:
            ctx.fail(f"cannot broadcast 'cond' ({c}), 'x' ({x}) and 'y' ({y}) together: from "
                     "the last dim back, sizes must match or be 1", port)
    return {"out": TensorType(shape, x.dtype)}


WHERE = _node(
    "Where", "Where (choose by a mask)",
    (Port("cond", doc="true/false values: a comparison's"), Port("x", doc="taken where true"),
     Port("y", doc="taken where false")),
    (Port("out", doc="cond, x and y broadcast"),), (),
    _where_shape, lambda ctx: Call("torch.where", {}),
    Doc(summary="Takes x where the mask is true and y where it is false, element by element "
                "(all three broadcast).",
        formula="out[i] = x[i] if cond[i] else y[i]",
        use_case="A masked value: scores where a mask holds, a large negative number "
                 "elsewhere; a piecewise function (Tensor and a constant gt 0 as the mask). "
                 "Example: cond [true, false], x [1, 2], y [9, 9] give [1, 9].",
        notes="torch.where(cond, x, y). x and y are tensors here: torch.where(cond, x, 0.0) "
              "with a constant imports as 'Where, else a constant'."),
    "where")

SPECS = (TENSOR_FUNCTION, TENSOR_SCALAR, TENSOR_BINARY, MATMUL, TENSOR_REDUCE, WHERE)
