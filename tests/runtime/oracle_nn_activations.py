"""The catalogue oracle's samplers for graph/catalogue/nn_activations.py: SAMPLERS[type] (spec, rnd,
params) -> (types by port, tensors by port); PARAMS[type] (spec, rnd) -> params.

The generic sampler draws an int param from its bounds (here −16 to −8 for `dim`, which no
rank-2 to 4 input has), so the dim-taking types draw dim over the ranks the oracle's inputs
have, now and then out of range; GLU's inputs get even sizes more often than not, and PReLU's
num_parameters is 1, auto, the channel count or (now and then) a misfit."""
import torch

from graph.spec import TensorType

N = 3  # the oracle's batch size


def _dim(spec, rnd):
    return {"dim": rnd.choice([-4, -3, -2, -1, 1, 1, 2, 3, 0, 5])}


def _glu_inputs(spec, rnd, params):
    rank = rnd.choice([2, 3, 4])
    sizes = [rnd.choice([2, 4, 6]) if rnd.random() < 0.8 else rnd.randint(1, 7)
             for _ in range(rank - 1)]
    shape = ("N", *sizes)
    return {"x": TensorType(shape)}, {"x": torch.randn(N, *sizes)}


def _prelu_params(spec, rnd):
    return {"num_parameters": rnd.choice([1, 1, None, None, 2, 3, 4]),
            "init_value": round(rnd.uniform(-0.5, 0.5), 3)}


SAMPLERS = {"GLU": _glu_inputs}
PARAMS = {"GLU": _dim, "LogSoftmax": _dim, "Softmin": _dim, "Softmax": _dim,
          "PReLU": _prelu_params}
