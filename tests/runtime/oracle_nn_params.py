"""The catalogue oracle's samplers for graph/catalogue/nn_params.py: SAMPLERS[type] (spec, rnd,
params) -> (types by port, tensors by port); PARAMS[type] (spec, rnd) -> params.

Inputs mostly fit the sampled params, with a misfit now and then (an axis out of range, the
batch axis, a first size other than 1), which the shape rule must refuse."""
import torch

from graph.spec import TensorType

N = 3  # the batch the oracle runs


def _value(shape):
    real = [N if d == "N" else d for d in shape]
    return TensorType(tuple(shape)), torch.randn(real)


def _batch(rnd):
    return ("N", *(rnd.randint(1, 4) for _ in range(rnd.randint(1, 4))))


def _dim(rnd):
    return rnd.choice([1, 2, 3, -1, -2, -3, 0, 4, -5])


def sample_one(spec, rnd, params):
    t, v = _value(_batch(rnd))
    return {"x": t}, {"x": v}


def sample_expand(spec, rnd, params):
    """x 1 × … (now and then another first size) and a batch N × … to read N from."""
    first = 1 if rnd.random() < 0.85 else rnd.randint(2, 3)
    (tx, vx), (tl, vl) = _value((first, *_batch(rnd)[1:])), _value(_batch(rnd))
    return {"x": tx, "like": tl}, {"x": vx, "like": vl}


def parameter_params(spec, rnd):
    return {"shape": [rnd.randint(1, 5) for _ in range(rnd.randint(0, 4))],
            "init": rnd.choice(["zeros", "ones", "normal", "uniform"]),
            "std": rnd.choice([0.02, 1.0]), "learn": rnd.random() < 0.7}


def flatten_params(spec, rnd):
    return {"start_dim": _dim(rnd), "end_dim": rnd.choice([-1, -1, 2, 3, -2, 1])}


def transpose_params(spec, rnd):
    return {"dim0": _dim(rnd), "dim1": _dim(rnd)}


def mean_params(spec, rnd):
    return {"dim": _dim(rnd), "keepdim": rnd.random() < 0.4}


SAMPLERS = {"ExpandToBatch": sample_expand, "FlattenDims": sample_one, "Transpose": sample_one,
            "Mean": sample_one}
PARAMS = {"Parameter": parameter_params, "FlattenDims": flatten_params,
          "Transpose": transpose_params, "Mean": mean_params}
