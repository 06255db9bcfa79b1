"""torch functions and tensor methods -> node types, for the importer (issue 26, item 3).

The catalogue is the one place that names layers, so the importer's table lives here.
FUNCTIONS is keyed by the qualified names runtime/importer/trace.py gives fx targets:
"torch.relu", "F.relu" (torch.nn.functional), "Tensor.relu" (a tensor method),
"operator.add". Each entry is (type id, params(args, kwargs) -> dict or None when these
arguments have no node, wiring): wiring "first" (the first argument is the input),
"list" (the first argument is a list of inputs into a multi port), "binary" (two tensors
into a multi port). Arguments other than the wired ones must be constants.
Strings and plain Python only: graph/ imports no torch.
"""
from __future__ import annotations

from typing import Any, Callable

Params = Callable[[list, dict], "dict | None"]


def _arg(args: list, kwargs: dict, name: str, pos: int, default: Any = None) -> Any:
    return kwargs.get(name, args[pos] if len(args) > pos else default)


def _none(args, kwargs):
    return {}


def _dim_of(args, kwargs):
    dim = _arg(args, kwargs, "dim", 1)
    return None if dim is None or kwargs.get("dtype") is not None else {"dim": dim}


def _flatten(args, kwargs):
    start, end = _arg(args, kwargs, "start_dim", 1, 0), _arg(args, kwargs, "end_dim", 2, -1)
    return {} if start == 1 and end == -1 else None


def _mean_hw(args, kwargs):
    """x.mean((2, 3)) / x.mean([-2, -1]): global average pooling of N × C × H × W."""
    dim, keep = _arg(args, kwargs, "dim", 1), _arg(args, kwargs, "keepdim", 2, False)
    if keep or dim is None:
        return None
    dims = set(dim) if isinstance(dim, (list, tuple)) else {dim}
    return {} if dims in ({2, 3}, {-1, -2}) else None


def _gelu(args, kwargs):
    return {"approximate": kwargs.get("approximate", "none")}


def _leaky(args, kwargs):
    return {"negative_slope": _arg(args, kwargs, "negative_slope", 1, 0.01)}


def _dropout(args, kwargs):
    return {"p": _arg(args, kwargs, "p", 1, 0.5)}


def _cat(args, kwargs):
    return {"dim": _arg(args, kwargs, "dim", 1, 0)}


def _permute(args, kwargs):
    dims = args[1:]
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = dims[0]
    dims = list(kwargs.get("dims", dims))
    return {"axes": [int(d) for d in dims]} if dims and dims[0] == 0 else None


def _pool2d(args, kwargs):
    """F.max_pool2d / F.avg_pool2d with one size for both axes."""
    k = _arg(args, kwargs, "kernel_size", 1)
    s = _arg(args, kwargs, "stride", 2)
    p = _arg(args, kwargs, "padding", 3, 0)

    def one(v):
        if isinstance(v, (list, tuple)):
            return v[0] if v and all(x == v[0] for x in v) else "mixed"
        return v
    k, s, p = one(k), one(s), one(p)
    if "mixed" in (k, s, p) or k is None or (isinstance(s, (list, tuple)) and not s):
        return None
    rest = {n: kwargs[n] for n in kwargs if n not in ("kernel_size", "stride", "padding")}
    if len(args) > 4 or any(v not in (False, 1, None) for v in rest.values()):
        return None  # dilation, ceil_mode and friends: not at torch's defaults
    return {"kernel_size": k, "stride": s if s not in (None, []) else None, "padding": p}


FUNCTIONS: dict[str, tuple[str, Params, str]] = {}
for _type, _names in {
    "ReLU": ("torch.relu", "F.relu", "Tensor.relu"),
    "Sigmoid": ("torch.sigmoid", "F.sigmoid", "Tensor.sigmoid"),
    "Tanh": ("torch.tanh", "F.tanh", "Tensor.tanh"),
    "ReLU6": ("F.relu6",), "SiLU": ("F.silu",), "Hardswish": ("F.hardswish",),
    "Hardsigmoid": ("F.hardsigmoid",), "Mish": ("F.mish",), "Softsign": ("F.softsign",),
    "LogSigmoid": ("F.logsigmoid",), "Tanhshrink": ("F.tanhshrink",),
}.items():
    for _n in _names:
        FUNCTIONS[_n] = (_type, _none, "first")
for _n in ("F.gelu",):
    FUNCTIONS[_n] = ("GELU", _gelu, "first")
FUNCTIONS["F.leaky_relu"] = ("LeakyReLU", _leaky, "first")
for _n in ("torch.softmax", "F.softmax", "Tensor.softmax"):
    FUNCTIONS[_n] = ("Softmax", _dim_of, "first")
for _n in ("torch.log_softmax", "F.log_softmax", "Tensor.log_softmax"):
    FUNCTIONS[_n] = ("LogSoftmax", _dim_of, "first")
for _n in ("torch.flatten", "Tensor.flatten"):
    FUNCTIONS[_n] = ("Flatten", _flatten, "first")
for _n in ("torch.mean", "Tensor.mean"):
    FUNCTIONS[_n] = ("GlobalAvgPool2d", _mean_hw, "first")
FUNCTIONS["F.dropout"] = ("Dropout", _dropout, "first")
for _n in ("torch.cat", "torch.concat"):
    FUNCTIONS[_n] = ("Concat", _cat, "list")
FUNCTIONS["Tensor.permute"] = ("Permute", _permute, "first")
FUNCTIONS["F.max_pool2d"] = ("MaxPool2d", _pool2d, "first")
FUNCTIONS["F.avg_pool2d"] = ("AvgPool2d", _pool2d, "first")
for _n in ("operator.add", "torch.add", "Tensor.add", "operator.iadd"):
    FUNCTIONS[_n] = ("Add", _none, "binary")
for _n in ("operator.mul", "torch.mul", "Tensor.mul", "operator.imul"):
    FUNCTIONS[_n] = ("Multiply", _none, "binary")

# The nodes an import makes besides layers
INPUT, OUTPUT, BLOCK_INPUT, BLOCK_OUTPUT = "Input", "Output", "BlockInput", "BlockOutput"


def input_params(sample_shape: list[int], dtype: str) -> dict:
    """An Input node's params for samples of `sample_shape` (no batch) and `dtype`."""
    return {"shape": list(sample_shape), "dtype": dtype}


def reshape_node(sample_shape: list[int]) -> tuple[str, dict]:
    """x.view(x.size(0), *sample_shape): a Flatten for (-1), else a Reshape."""
    if list(sample_shape) == [-1]:
        return "Flatten", {}
    return "Reshape", {"shape": list(sample_shape)}


def getitem_node(index, state: bool = False) -> tuple[str, dict] | None:
    """x[:, i] -> a Time step, x[:, a:b] -> a Time slice; on a recurrent layer's final state
    h (torch: layers × N × H; the node's: N × layers × H), h[i] -> the Time step i of the
    node's. None: no node for this index."""
    if state:
        return ("TimeStep", {"index": index}) if isinstance(index, int) else None
    if not (isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None)):
        return None
    i = index[1]
    if isinstance(i, int) and not isinstance(i, bool):
        return "TimeStep", {"index": i}
    if isinstance(i, slice) and i.step in (None, 1) and all(
            v is None or isinstance(v, int) for v in (i.start, i.stop)):
        return "TimeSlice", {"start": i.start or 0, "stop": i.stop}
    return None
