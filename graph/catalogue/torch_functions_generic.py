"""torch functions, tensor methods and operators -> the generic tensor-operation nodes
(graph/catalogue/tensor_ops.py, tensor_shape_ops.py), for the importer; merged into
torch_functions.FUNCTIONS (an entry there for a specific node, torch.sigmoid's Sigmoid, wins).

Every entry here is wired "tensors": each tensor argument, in order, goes into the node's
ports (the rest into a multi port), and the constants become params. So `x - y` is a Tensor
binary, `x - 2` a Tensor and a constant 'sub', `1 - x` its reflected 'rsub': the params
function sees the constants (None where a tensor is) and answers (type id, params), or None
when these arguments have no node. Strings and plain Python only."""
from __future__ import annotations

import math

FUNCTION, SCALAR, BINARY = "TensorFunction", "TensorScalar", "TensorBinary"
MATMUL, REDUCE, WHERE = "MatMul", "TensorReduce", "Where"
WHERE_SCALAR, SDPA = "WhereScalar", "TorchScaledDotProductAttention"
ADD, MULTIPLY = "Add", "Multiply"
TENSORS = "tensors"


def _arg(args: list, kwargs: dict, name: str, pos: int, default=None):
    return kwargs.get(name, args[pos] if len(args) > pos else default)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    """A finite number (a bool is not one here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ints(v) -> list[int] | None:
    """An int or a sequence of ints as a list; None for anything else."""
    if _int(v):
        return [v]
    if isinstance(v, (list, tuple)) and v and all(_int(d) for d in v):
        return list(v)
    return None


# A comparison with its operands swapped: 2 > x is x < 2
_SWAPPED = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge", "eq": "eq", "ne": "ne"}
_COMMUTES = ("add", "mul")


def arith(fn: str, binary: str | None = None, reflected: str | None = None):
    """Params for `fn` of two operands: two tensors -> the binary node (Add and Multiply for
    add, mul); a tensor and a number -> Tensor and a constant `fn` (a number first: the
    reflected function, `1 - x` rsub)."""
    binary = binary or fn
    reflected = reflected or (fn if fn in _COMMUTES else _SWAPPED.get(fn))

    def params(args, kwargs):
        other = kwargs.get("other", args[1] if len(args) > 1 else "missing")
        if len(args) > 2 or any(k not in ("other", "alpha") for k in kwargs) or \
                kwargs.get("alpha", 1) != 1 or other == "missing":
            return None
        a, b = args[0], other
        if a is None and b is None:
            if fn in _COMMUTES:
                return (ADD if fn == "add" else MULTIPLY), {}
            return BINARY, {"function": binary}
        if a is None and _num(b):
            return SCALAR, {"function": fn, "scalar": b}
        if b is None and _num(a) and reflected:
            return SCALAR, {"function": reflected, "scalar": a}
        return None
    return params


def unary(fn: str):
    def params(args, kwargs):
        return (FUNCTION, {"function": fn}) if len(args) == 1 and not kwargs else None
    return params


def _clamp(args, kwargs):
    lo, hi = _arg(args, kwargs, "min", 1), _arg(args, kwargs, "max", 2)
    if len(args) > 3 or any(k not in ("min", "max") for k in kwargs) or \
            (lo is None and hi is None) or not all(v is None or _num(v) for v in (lo, hi)):
        return None
    return SCALAR, {"function": "clamp", "min": lo, "max": hi}


def _clamp_one(fn: str, key: str):
    def params(args, kwargs):
        c = _arg(args, kwargs, key, 1)
        return (SCALAR, {"function": fn, "scalar": c}) if _num(c) and len(args) <= 2 else None
    return params


def _two_tensors(fn: str):
    """torch.max(a, b) and friends: only with two tensors (torch.max(x, 1) is a reduction
    that gives indices too)."""
    def params(args, kwargs):
        ok = len(args) == 2 and args[0] is None and args[1] is None and not kwargs
        return (BINARY, {"function": fn}) if ok else None
    return params


def _matmul(args, kwargs):
    return (MATMUL, {}) if len(args) == 2 and not kwargs else None


def _where(args, kwargs):
    """torch.where(cond, x, y) of three tensors; torch.where(cond, x, number): Where with a
    constant (a number as x: no node)."""
    if len(args) != 3 or kwargs or args[0] is not None or args[1] is not None:
        return None
    if args[2] is None:
        return WHERE, {}
    return (WHERE_SCALAR, {"other": float(args[2])}) if _num(args[2]) else None


def sdpa(args, kwargs):
    """F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0,
    is_causal=False, scale=None, enable_gqa=False), the constants (None where a tensor is):
    torch's attention node; a mask, if a tensor, goes on its attn_mask port."""
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal")
    if len(args) > len(names) or set(kwargs) - {*names[3:], "scale", "enable_gqa"} or \
            any(a is not None for a in args[:3]) or kwargs.get("enable_gqa", False):
        return None
    given = {**dict(zip(names, args)), **kwargs}
    drop, causal = given.get("dropout_p", 0.0), given.get("is_causal", False)
    scale = given.get("scale")
    if not (_num(drop) and 0 <= drop <= 1 and isinstance(causal, bool)
            and (scale is None or _num(scale) and scale > 0)):
        return None
    return SDPA, {"is_causal": causal, "scale": None if scale is None else float(scale),
                  "dropout_p": float(drop)}


def reduction(fn: str):
    """x.sum(-1), x.amax((1, 2), keepdim=True), x.std(-1, unbiased=False), torch.norm(x, 2,
    -1): over the dims given (never none given: that would reduce the batch too)."""
    def params(args, kwargs):
        if kwargs.get("dtype") is not None or kwargs.get("out") is not None:
            return None
        a, kw = list(args), dict(kwargs)
        p = {"function": fn}
        if fn == "norm":  # torch.norm(x, p, dim, keepdim); vector_norm(x, ord, dim, keepdim)
            if "p" in kw or "ord" in kw:
                order = kw.pop("p", None) if "p" in kw else kw.pop("ord")
            else:
                order = a.pop(1) if len(a) > 1 else 2
            order = 2 if order == "fro" else order
            if not _num(order):
                return None
            p["ord"] = float(order)
        dims = _ints(_arg(a, kw, "dim", 1))
        if dims is None:
            return None
        correction = 1
        if fn in ("std", "var"):
            unbiased = kw.pop("unbiased", a.pop(2) if len(a) > 2 and isinstance(a[2], bool)
                              else True)
            correction = kw.pop("correction", 1 if unbiased else 0)
            if not _int(correction) or not 0 <= correction <= 16:
                return None
            p["correction"] = correction
        keep = _arg(a, kw, "keepdim", 2, False)
        if not isinstance(keep, bool) or len(a) > 3 or set(kw) - {"dim", "keepdim"}:
            return None
        if fn == "prod" and len(dims) != 1:
            return None
        return REDUCE, {**p, "dims": dims, "keepdim": keep}
    return params


def mean_over(dims: list[int], keep: bool) -> tuple[str, dict]:
    """x.mean over several dims (other than global pooling's): a Reduction."""
    return REDUCE, {"function": "mean", "dims": list(dims), "keepdim": keep}


def _unsqueeze(args, kwargs):
    d = _arg(args, kwargs, "dim", 1)
    return ("Unsqueeze", {"dim": d}) if _int(d) and len(args) <= 2 else None


def _squeeze(args, kwargs):
    d = _ints(_arg(args, kwargs, "dim", 1))
    return ("Squeeze", {"dim": d[0]}) if d and len(d) == 1 and len(args) <= 2 else None


def _sizes(args, kwargs, name):
    rest = args[1:]
    if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
        rest = list(rest[0])
    return _ints(kwargs.get(name, list(rest)))


def _repeat(args, kwargs):
    sizes = _sizes(args, kwargs, "repeats")
    if not sizes or len(sizes) < 2 or sizes[0] != 1 or any(s < 0 for s in sizes):
        return None  # the batch repeated, or new leading dims: no node
    return "Repeat", {"repeats": sizes[1:]}


def _flip(args, kwargs):
    dims = _sizes(args, kwargs, "dims")
    return ("Flip", {"dims": dims}) if dims else None


def _roll(args, kwargs):
    shifts = _ints(_arg(args, kwargs, "shifts", 1))
    dims = _ints(_arg(args, kwargs, "dims", 2))
    if not shifts or not dims or len(args) > 3:
        return None
    return "Roll", {"shifts": shifts, "dims": dims}


def _narrow(args, kwargs):
    d, start, length = (_arg(args, kwargs, n, i) for i, n in
                        enumerate(("dim", "start", "length"), 1))
    if not all(_int(v) for v in (d, start, length)) or length < 0:
        return None
    end = start + length
    return "Slice", {"dim": d, "start": start, "end": None if start < 0 <= end else end,
                     "step": 1}


def _chunk(args, kwargs):
    k, d = _arg(args, kwargs, "chunks", 1), _arg(args, kwargs, "dim", 2, 0)
    if not (_int(k) and _int(d)) or not 2 <= k <= 4:
        return None
    return f"Chunk{k}", {"dim": d}


def slice_node(index) -> tuple[str, dict] | None:
    """x[..., a:b:s], x[:, :, a:b], x[:, None], x[..., None]: one dim sliced (a Slice) or one
    added (an Unsqueeze), every other index ':'; None for anything else."""
    items = index if isinstance(index, tuple) else (index,)
    full = slice(None)
    if any(i is Ellipsis for i in items):
        if items[0] is not Ellipsis or sum(i is Ellipsis for i in items) != 1:
            return None
        items, offset = items[1:], -len(items[1:])
    else:
        offset = 0
    picked = [(i, s) for i, s in enumerate(items) if not (isinstance(s, slice) and s == full)]
    if len(picked) != 1:
        return None
    i, s = picked[0]
    dim = i + offset
    if s is None:
        return "Unsqueeze", {"dim": dim}
    if isinstance(s, slice) and all(v is None or _int(v) for v in (s.start, s.stop, s.step)) \
            and (s.step is None or s.step >= 1):
        return "Slice", {"dim": dim, "start": s.start or 0, "end": s.stop, "step": s.step or 1}
    return None


UNARY_NAMES = ("abs", "neg", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sqrt",
               "rsqrt", "square", "reciprocal", "sin", "cos", "tan", "asin", "acos", "atan",
               "sinh", "cosh", "tanh", "sigmoid", "erf", "sign", "floor", "ceil", "round",
               "trunc", "frac")

GENERIC: dict[str, tuple[str, object, str]] = {}


def _add(names, type_id, params):
    for n in names:
        GENERIC[n] = (type_id, params, TENSORS)


for _f in UNARY_NAMES:
    _add((f"torch.{_f}", f"Tensor.{_f}"), FUNCTION, unary(_f))
_add(("operator.neg",), FUNCTION, unary("neg"))
_add(("operator.abs",), FUNCTION, unary("abs"))
for _f, _ops in {"add": ("add", "iadd"), "mul": ("mul", "imul"), "sub": ("sub", "isub"),
                 "div": ("truediv", "itruediv"), "pow": ("pow", "ipow"),
                 "floor_divide": ("floordiv",), "remainder": ("mod",),
                 "gt": ("gt",), "lt": ("lt",), "ge": ("ge",), "le": ("le",), "eq": ("eq",),
                 "ne": ("ne",)}.items():
    _reflect = {"sub": "rsub", "div": "rdiv", "pow": "rpow"}.get(_f)
    _names = [f"operator.{o}" for o in _ops]
    _names += [f"torch.{_f}", f"Tensor.{_f}"]
    if _f in ("sub", "div", "mul", "floor_divide", "remainder"):
        _names += {"sub": ["torch.subtract", "Tensor.subtract"],
                   "div": ["torch.divide", "Tensor.divide", "torch.true_divide",
                           "Tensor.true_divide"],
                   "mul": ["torch.multiply", "Tensor.multiply"]}.get(_f, [])
    _add(_names, {"add": ADD, "mul": MULTIPLY}.get(_f, BINARY), arith(_f, reflected=_reflect))
_add(("torch.fmod", "Tensor.fmod"), BINARY, arith("fmod", reflected=""))
for _f in ("atan2", "hypot"):
    _add((f"torch.{_f}", f"Tensor.{_f}"), BINARY, _two_tensors(_f))
for _f, _names in {"maximum": ("torch.maximum", "Tensor.maximum", "torch.max", "Tensor.max"),
                   "minimum": ("torch.minimum", "Tensor.minimum", "torch.min",
                               "Tensor.min")}.items():
    _add(_names, BINARY, _two_tensors(_f))
_add(("torch.clamp", "Tensor.clamp", "torch.clip", "Tensor.clip"), SCALAR, _clamp)
_add(("torch.clamp_min", "Tensor.clamp_min"), SCALAR, _clamp_one("maximum", "min"))
_add(("torch.clamp_max", "Tensor.clamp_max"), SCALAR, _clamp_one("minimum", "max"))
_add(("operator.matmul", "torch.matmul", "Tensor.matmul", "torch.bmm", "Tensor.bmm",
      "torch.mm", "Tensor.mm"), MATMUL, _matmul)
for _f in ("sum", "amax", "amin", "prod", "std", "var", "logsumexp", "norm"):
    _add((f"torch.{_f}", f"Tensor.{_f}"), REDUCE, reduction(_f))
_add(("torch.linalg_vector_norm",), REDUCE, reduction("norm"))
_add(("torch.where", "Tensor.where"), WHERE, _where)
_add(("F.scaled_dot_product_attention", "torch.scaled_dot_product_attention"), SDPA, sdpa)
_add(("torch.unsqueeze", "Tensor.unsqueeze"), "Unsqueeze", _unsqueeze)
_add(("torch.squeeze", "Tensor.squeeze"), "Squeeze", _squeeze)
_add(("Tensor.repeat",), "Repeat", _repeat)
_add(("torch.flip", "Tensor.flip"), "Flip", _flip)
_add(("torch.roll", "Tensor.roll"), "Roll", _roll)
_add(("torch.narrow", "Tensor.narrow"), "Slice", _narrow)
_add(("torch.chunk", "Tensor.chunk"), "Chunk2", _chunk)
