"""The catalogue oracle's samplers for the generic tensor operations
(graph/catalogue/tensor_ops.py, tensor_shape_ops.py): SAMPLERS[type] (spec, rnd, params) ->
(types by port, tensors by port); PARAMS[type] (spec, rnd) -> params.

Inputs mostly fit the sampled params, with a misfit now and then (shapes that do not
broadcast, an axis out of range or the batch), which the shape rule must refuse."""
import torch

from graph.spec import TensorType

N = 3  # the batch the oracle runs


def _value(shape, dtype="float32"):
    real = [N if d == "N" else d for d in shape]
    if dtype == "bool":
        return TensorType(tuple(shape), dtype), torch.rand(real) < 0.5
    return TensorType(tuple(shape), dtype), torch.randn(real)


def _batch(rnd, rank=None):
    rank = rank or rnd.randint(2, 5)
    return ("N", *(rnd.randint(1, 4) for _ in range(rank - 1)))


def _dim(rnd):
    return rnd.choice([1, 2, 3, -1, -2, -3, 0, 4, -5])


def _like(rnd, shape):
    """A shape that broadcasts with `shape` (sizes set to 1, leading dims dropped), or now
    and then one that does not."""
    s = list(shape)
    for i in range(1, len(s)):
        r = rnd.random()
        s[i] = 1 if r < 0.3 else rnd.randint(2, 5) if r < 0.36 else s[i]
    if rnd.random() < 0.3:
        s = s[rnd.randint(1, len(s) - 1):] if len(s) > 1 else s
    return tuple(s)


def sample_one(spec, rnd, params):
    t, v = _value(_batch(rnd))
    return {"x": t}, {"x": v}


def sample_binary(spec, rnd, params):
    a = _batch(rnd)
    b = _like(rnd, a)
    if rnd.random() < 0.5:
        a, b = b, a
    (ta, va), (tb, vb) = _value(a), _value(b)
    return {"a": ta, "b": tb}, {"a": va, "b": vb}


def sample_matmul(spec, rnd, params):
    n, m, p = rnd.randint(1, 4), rnd.randint(1, 4), rnd.randint(1, 4)
    m2 = m if rnd.random() < 0.85 else rnd.randint(1, 5)
    a, b = rnd.choice([(("N", n, m), (m2, p)), (("N", n, m), ("N", m2, p)),
                       (("N", 2, n, m), ("N", 1, m2, p)), (("N", m), (m2, p)),
                       (("N", n, m), (m2,)), ((m,), ("N", m2, p)), (("N", n, m), (2, m2, p))])
    (ta, va), (tb, vb) = _value(a), _value(b)
    return {"a": ta, "b": tb}, {"a": va, "b": vb}


def sample_where(spec, rnd, params):
    x = _batch(rnd)
    shapes = {"cond": _like(rnd, x), "x": x, "y": _like(rnd, x)}
    rnd_order = list(shapes.items())
    types, tensors = {}, {}
    for port, s in rnd_order:
        dtype = "bool" if port == "cond" and rnd.random() < 0.9 else "float32"
        types[port], tensors[port] = _value(s, dtype)
    return types, tensors


def scalar_params(spec, rnd):
    return {"function": rnd.choice(spec.param("function").choices),
            "scalar": rnd.choice([2, 0.5, -1.5, 3.0]),
            "min": rnd.choice([None, -0.5, 0]), "max": rnd.choice([None, 1.0, 2])}


def reduce_params(spec, rnd):
    dims = rnd.choice([[-1], [1], [1, 2], [-1, -2], [2, -1], [0], [1, 1], [3, 1], [5]])
    return {"function": rnd.choice(spec.param("function").choices), "dims": dims,
            "keepdim": rnd.random() < 0.4, "correction": rnd.choice([0, 1]),
            "ord": rnd.choice([2.0, 1.0, 3.0])}


def dim_params(spec, rnd):
    return {"dim": _dim(rnd)}


def repeat_params(spec, rnd):
    return {"repeats": [rnd.randint(1, 3) for _ in range(rnd.randint(1, 4))]}


def dims_params(spec, rnd):
    return {"dims": rnd.choice([[-1], [1], [1, 2], [-1, -2], [0], [2, 2], [5]])}


def roll_params(spec, rnd):
    dims = rnd.choice([[-1], [1], [1, 2], [-1, -2], [0], [5]])
    shifts = [rnd.randint(-3, 3) for _ in dims]
    return {"dims": dims, "shifts": shifts if rnd.random() < 0.9 else shifts + [1]}


def slice_params(spec, rnd):
    return {"dim": _dim(rnd), "start": rnd.choice([0, 1, 2, -1, -2, 5]),
            "end": rnd.choice([None, 1, 3, -1, 10]), "step": rnd.choice([1, 1, 2, 3])}


SAMPLERS = {"TensorFunction": sample_one, "TensorScalar": sample_one,
            "TensorBinary": sample_binary, "MatMul": sample_matmul, "TensorReduce": sample_one,
            "Where": sample_where, "Unsqueeze": sample_one, "Squeeze": sample_one,
            "Repeat": sample_one, "Flip": sample_one, "Roll": sample_one, "Slice": sample_one,
            "Chunk2": sample_one, "Chunk3": sample_one, "Chunk4": sample_one}
PARAMS = {"TensorScalar": scalar_params, "TensorReduce": reduce_params,
          "Unsqueeze": dim_params, "Squeeze": dim_params, "Repeat": repeat_params,
          "Flip": dims_params, "Roll": roll_params, "Slice": slice_params,
          "Chunk2": dim_params, "Chunk3": dim_params, "Chunk4": dim_params}
