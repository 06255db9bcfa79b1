"""The catalogue oracle's samplers for graph/catalogue/nn_shape.py: SAMPLERS[type] (spec, rnd,
params) -> (types by port, tensors by port); PARAMS[type] (spec, rnd) -> params.

Each sampler makes inputs that mostly fit the sampled params, and now and then a misfit (which
the shape rule must refuse, or else give torch's shape)."""
import torch

from graph.spec import TensorType

N = 3  # the batch the oracle runs


def _value(shape, dtype="float32"):
    real = [N if d == "N" else d for d in shape]
    return TensorType(tuple(shape), dtype), torch.randn(real)


def _pair(rnd, shape1, shape2):
    (t1, v1), (t2, v2) = _value(shape1), _value(shape2)
    return {"x1": t1, "x2": t2}, {"x1": v1, "x2": v2}


def _lead(rnd):
    return ("N", *(rnd.randint(1, 4) for _ in range(rnd.choice([0, 0, 1, 2]))))


def sample_bilinear(spec, rnd, params):
    """x1 N × … × F1 and x2 N × … × F2 with the same leading dims (now and then not)."""
    lead = _lead(rnd)
    other = lead if rnd.random() < 0.85 else _lead(rnd)
    return _pair(rnd, (*lead, rnd.randint(1, 6)), (*other, rnd.randint(1, 6)))


def sample_broadcast(spec, rnd, params):
    """Two inputs that broadcast: one shape, some of its sizes 1 in one input, now and then a
    leading dim dropped from x2 or a misfit."""
    shape = [*_lead(rnd), rnd.randint(1, 5)]
    a, b = list(shape), list(shape)
    for i in range(1, len(shape)):
        r = rnd.random()
        if r < 0.2:
            a[i] = 1
        elif r < 0.4:
            b[i] = 1
        elif r < 0.45:
            b[i] = rnd.randint(1, 6)
    if rnd.random() < 0.15:
        b = b[rnd.randint(1, len(b) - 1):]  # fewer dims: broadcast from the right
    return _pair(rnd, a, b)


def sample_rms(spec, rnd, params):
    """An input whose last dims match normalized_shape most of the time."""
    dims = params["normalized_shape"]
    shape = ["N", *(rnd.randint(1, 5) for _ in range(rnd.randint(1, 3)))]
    if dims is not None and rnd.random() < 0.8:
        shape = ["N", *shape[1:rnd.randint(1, len(shape))], *dims]
    t, v = _value(shape)
    return {"x": t}, {"x": v}


def _blocks(size, k, d, p, s):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _pairs(params, names):
    return [params[n] * 2 if len(params[n]) == 1 else params[n] for n in names]


def block_params(spec, rnd):
    """Small kernels, dilations, paddings and strides, one number or two (now and then a 0)."""
    def ints(lo, hi):
        return [rnd.randint(lo, hi) for _ in range(rnd.choice([1, 1, 2]))]
    params = {"kernel_size": ints(1, 3), "dilation": ints(1, 2), "padding": ints(0, 1),
              "stride": ints(1, 2) if rnd.random() < 0.95 else [0]}
    if spec.type == "Fold":
        params["output_size"] = [rnd.randint(1, 8) for _ in range(rnd.choice([1, 2]))]
    return params


def sample_unfold(spec, rnd, params):
    shape = ("N", rnd.randint(1, 3), rnd.randint(1, 9), rnd.randint(1, 9))
    if rnd.random() < 0.1:
        shape = shape[:3]
    t, v = _value(shape)
    return {"x": t}, {"x": v}


def sample_fold(spec, rnd, params):
    """Columns N × (C·kH·kW) × L with L the number of blocks that fit in output_size (now and
    then one more, or a channel count that does not divide)."""
    k, d, p, s = _pairs(params, ("kernel_size", "dilation", "padding", "stride"))
    out = _pairs(params, ("output_size",))[0]
    if 0 in s:
        s = [1, 1]
    blocks = [max(1, _blocks(out[a], k[a], d[a], p[a], s[a])) for a in (0, 1)]
    c = rnd.randint(1, 3) * k[0] * k[1] + (1 if rnd.random() < 0.05 else 0)
    n_blocks = blocks[0] * blocks[1] + (1 if rnd.random() < 0.1 else 0)
    t, v = _value(("N", c, n_blocks))
    return {"x": t}, {"x": v}


def unflatten_params(spec, rnd):
    return {"dim": rnd.choice([1, 1, 2, -1, -2, 0, 3]),
            "unflattened_size": rnd.choice([[2, 3], [3, -1], [-1], [2, 2, 2], [6], [1, -1],
                                            [4, 5]])}


def sample_unflatten(spec, rnd, params):
    """An input whose unflattened dim holds the sizes' product (or a multiple, for a -1)."""
    shape = ["N", *(rnd.randint(1, 4) for _ in range(rnd.randint(1, 3)))]
    dim = params["dim"]
    ax = dim + len(shape) if dim < 0 else dim
    if 1 <= ax < len(shape) and rnd.random() < 0.9:
        sizes = params["unflattened_size"]
        prod = 1
        for s in sizes:
            prod *= s if s != -1 else rnd.randint(1, 3)
        shape[ax] = prod
    t, v = _value(shape)
    return {"x": t}, {"x": v}


def cosine_params(spec, rnd):
    return {"dim": rnd.choice([1, 1, 2, -1, -2, 0, 3]), "eps": rnd.choice([1e-8, 0.0, 0.5])}


SAMPLERS = {"Bilinear": sample_bilinear, "CosineSimilarity": sample_broadcast,
            "PairwiseDistance": sample_broadcast, "RMSNorm": sample_rms,
            "Unfold": sample_unfold, "Fold": sample_fold, "Unflatten": sample_unflatten}
PARAMS = {"Unfold": block_params, "Fold": block_params, "Unflatten": unflatten_params,
          "CosineSimilarity": cosine_params}
