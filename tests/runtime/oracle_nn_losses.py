"""The catalogue oracle's samplers for graph/catalogue/losses.py (the new losses): SAMPLERS[type] (spec, rnd,
params) -> (types by port, tensors by port); PARAMS[type] (spec, rnd) -> params.

Each gives inputs that mostly fit together, with a misfit now and then (a wrong rank, size or
dtype) that the shape rule must refuse. Torch sees batch size 3 where a type says "N"."""
import torch

from graph.spec import TensorType

N = 3


def _value(shape, dtype="float32", low=0, high=4):
    t = TensorType(shape, dtype)
    real = [N if d == "N" else d for d in shape]
    if dtype == "int64":
        return t, torch.randint(low, high, real)
    if dtype == "bool":
        return t, torch.rand(real) < 0.5
    return t, torch.rand(real) + 0.05  # positive: variances, distances and counts alike


def _shape(rnd, rank=None):
    rank = rank or rnd.choice([2, 2, 3, 4])
    return ("N", *(rnd.randint(1, 5) for _ in range(rank - 1)))


def _misfit(rnd, shape):
    """Now and then another rank or a size changed."""
    r = rnd.random()
    if r < 0.1:
        return _shape(rnd)
    if r < 0.2 and len(shape) > 1:
        i = rnd.randrange(1, len(shape))
        return (*shape[:i], shape[i] + rnd.randint(1, 3), *shape[i + 1:])
    return shape


def _dtype(rnd, usual):
    return usual if rnd.random() < 0.93 else rnd.choice(["float32", "int64", "bool"])


def _fill(specs):
    """specs: port -> (shape, dtype, low, high) -> (types, tensors)."""
    types, tensors = {}, {}
    for port, (shape, dtype, low, high) in specs.items():
        types[port], tensors[port] = _value(shape, dtype, low, high)
    return types, tensors


def rows(spec, rnd, params):
    """Scores N × C against class indices N (MultiMarginLoss) or N × C with −1 after each
    row's labels (MultiLabelMarginLoss)."""
    pred = ("N", rnd.randint(1, 6)) if rnd.random() < 0.85 else _shape(rnd)
    c = pred[1]  # indices fit the scores: a misfit is one of shape, not of the data
    per_class = spec.type == "MultiLabelMarginLoss"
    target = _misfit(rnd, ("N", c) if per_class else ("N",))
    return _fill({"pred": (pred, _dtype(rnd, "float32"), 0, 1),
                  "target": (target, _dtype(rnd, "int64"), -1 if per_class else 0, c)})


def gaussian(spec, rnd, params):
    s = _shape(rnd)
    var = rnd.choice([s, s[:-1], (*s[:-1], 1), _misfit(rnd, s)])
    return _fill({"pred": (s, _dtype(rnd, "float32"), 0, 1),
                  "target": (_misfit(rnd, s), _dtype(rnd, "float32"), 0, 3),
                  "var": (var, _dtype(rnd, "float32"), 1, 3)})


def pairs(spec, rnd, params):
    """x1, x2 and labels ±1: N × D and N (CosineEmbeddingLoss), any equal shapes
    (MarginRankingLoss)."""
    cosine = spec.type == "CosineEmbeddingLoss"
    s = ("N", rnd.randint(1, 6)) if cosine and rnd.random() < 0.85 else _shape(rnd)
    target = _misfit(rnd, s[:1] if cosine else s)
    types, tensors = _fill({"x1": (s, _dtype(rnd, "float32"), 0, 1),
                            "x2": (_misfit(rnd, s), _dtype(rnd, "float32"), 0, 1),
                            "target": (target, _dtype(rnd, "float32"), 0, 2)})
    if tensors["target"].dtype != torch.bool:
        tensors["target"] = tensors["target"].round() * 2 - 1 if \
            tensors["target"].is_floating_point() else tensors["target"] * 2 - 1
    return types, tensors


def triplet(spec, rnd, params):
    s = _shape(rnd)
    return _fill({p: (_misfit(rnd, s) if p != "anchor" else s, _dtype(rnd, "float32"), 0, 1)
                  for p in ("anchor", "positive", "negative")})


SAMPLERS = {"MultiMarginLoss": rows, "MultiLabelMarginLoss": rows,
            "GaussianNLLLoss": gaussian, "CosineEmbeddingLoss": pairs,
            "MarginRankingLoss": pairs, "TripletMarginLoss": triplet}
PARAMS = {}
