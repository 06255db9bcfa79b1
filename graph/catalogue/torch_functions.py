"""torch functions and tensor methods -> node types, for the importer (issue 26, item 3).

The catalogue is the one place that names layers, so the importer's table lives here.
FUNCTIONS is keyed by the qualified names runtime/importer/trace.py gives fx targets:
"torch.relu", "F.relu" (torch.nn.functional), "Tensor.relu" (a tensor method),
"operator.add". Each entry is (type id, params(args, kwargs) -> dict or None when these
arguments have no node, wiring): wiring "first" (the first argument is the input),
"list" (the first argument is a list of inputs into a multi port), "binary" (two tensors
into a multi port), "tensors" (each tensor argument, in order, into the node's ports, the
last a multi port taking the rest; the constants are params: torch_functions_generic.py),
"batch" (x.expand(y.shape[0], -1, ...): the first argument, then the
tensor whose batch size the second one is). Arguments other than the wired ones must be
constants. A params function may answer (type id, params) where the arguments pick another
node than the entry's (x.flatten(2) is not a Flatten, x.mean(1) not a global pooling).

MODULE_READS, CALL_KEYWORDS and CHAINS say the rest the importer needs of torch.nn's
modules: where a node's param is found on a module that stores it elsewhere, the keyword
arguments a layer's call may take without changing what a node computes, and the torch
containers whose forward is their children in a row.
Strings and plain Python only: graph/ imports no torch.
"""
from __future__ import annotations

from typing import Any, Callable

from .torch_functions_generic import GENERIC, mean_over, slice_node

Params = Callable[[list, dict], "dict | None"]


def _arg(args: list, kwargs: dict, name: str, pos: int, default: Any = None) -> Any:
    return kwargs.get(name, args[pos] if len(args) > pos else default)


def _none(args, kwargs):
    return {}


def _dim_of(args, kwargs):
    dim = _arg(args, kwargs, "dim", 1)
    return None if dim is None or kwargs.get("dtype") is not None else {"dim": dim}


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _flatten(args, kwargs):
    """flatten(x, 1): Flatten; any other range of dims: Flatten dims."""
    start, end = _arg(args, kwargs, "start_dim", 1, 0), _arg(args, kwargs, "end_dim", 2, -1)
    if not (_int(start) and _int(end)):
        return None
    if start == 1 and end == -1:
        return {}
    return "FlattenDims", {"start_dim": start, "end_dim": end}


def _mean(args, kwargs):
    """x.mean((2, 3)) / x.mean([-2, -1]): global average pooling of N × C × H × W;
    x.mean(1), x.mean(-1, keepdim=True): a Mean over that dim."""
    dim, keep = _arg(args, kwargs, "dim", 1), _arg(args, kwargs, "keepdim", 2, False)
    if dim is None or kwargs.get("dtype") is not None or not isinstance(keep, bool):
        return None
    if isinstance(dim, (list, tuple)) and len(dim) == 1:
        dim = dim[0]
    if _int(dim):
        return "Mean", {"dim": dim, "keepdim": keep}
    dims = set(dim) if isinstance(dim, (list, tuple)) else {dim}
    if not keep and dims in ({2, 3}, {-1, -2}):
        return {}
    return mean_over(list(dim), keep) if all(_int(d) for d in dims) and dims else None


def _transpose(args, kwargs):
    a, b = _arg(args, kwargs, "dim0", 1), _arg(args, kwargs, "dim1", 2)
    return {"dim0": a, "dim1": b} if _int(a) and _int(b) else None


def _expand(args, kwargs):
    """x.expand(y.shape[0], -1, …): every size but the batch kept (the batch size is wired,
    so it is None here)."""
    sizes = args[1:]
    if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
        sizes = list(sizes[0])
    if kwargs or len(sizes) < 1 or sizes[0] is not None or any(s != -1 for s in sizes[1:]):
        return None
    return {}


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
    return {"dims": [int(d) for d in dims]} if dims and dims[0] == 0 else None


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
    FUNCTIONS[_n] = ("GlobalAvgPool2d", _mean, "first")
for _n in ("torch.transpose", "Tensor.transpose", "torch.swapaxes", "Tensor.swapaxes"):
    FUNCTIONS[_n] = ("Transpose", _transpose, "first")
FUNCTIONS["Tensor.expand"] = ("ExpandToBatch", _expand, "batch")
FUNCTIONS["F.dropout"] = ("Dropout", _dropout, "first")
for _n in ("torch.cat", "torch.concat"):
    FUNCTIONS[_n] = ("Concat", _cat, "list")
FUNCTIONS["Tensor.permute"] = ("Permute", _permute, "first")
FUNCTIONS["F.max_pool2d"] = ("MaxPool2d", _pool2d, "first")
FUNCTIONS["F.avg_pool2d"] = ("AvgPool2d", _pool2d, "first")
# The generic tensor operations (x - y, x / 2, 1 - x, torch.matmul, x.sum(-1), x.unsqueeze(1),
# ...; a + b and a * b, with a constant too): torch_functions_generic.py. A specific node's
# entry above (torch.sigmoid's Sigmoid) wins.
for _n, _entry in GENERIC.items():
    FUNCTIONS.setdefault(_n, _entry)

# The nodes an import makes besides layers; PARAMETER holds a tensor the model reads
# directly (an nn.Parameter or a buffer used outside a layer: a ViT's class token)
INPUT, OUTPUT, BLOCK_INPUT, BLOCK_OUTPUT = "Input", "Output", "BlockInput", "BlockOutput"
PARAMETER = "Parameter"


def parameter_params(shape: list[int], learned: bool) -> dict:
    """A Parameter node's params for a tensor of `shape` (its values are copied in)."""
    return {"shape": list(shape), "init": "zeros", "learn": learned}


# Where a node's param is on a torch module that keeps it elsewhere than an attribute of the
# param's name: type id -> {param or constructor argument: dotted attribute path, or (path,
# {stored value: param value})}. A path to a tensor or None reads as whether it is there
# (a bias); None: set by the inputs, not read (MultiheadAttention's kdim, vdim).
MODULE_READS: dict[str, dict[str, object]] = {
    "MultiHeadAttention": {"bias": "in_proj_bias", "add_bias_kv": "bias_k",
                           "kdim": None, "vdim": None},
    **{t: {"nhead": "self_attn.num_heads", "dim_feedforward": "linear1.out_features",
           "dropout": "dropout.p", "layer_norm_eps": "norm1.eps", "bias": "linear1.bias",
           "batch_first": "self_attn.batch_first",
           "activation": ("activation_relu_or_gelu", {1: "relu", 2: "gelu"})}
       for t in ("TransformerEncoderLayer", "TransformerDecoderLayer")},
}

# The keyword arguments a layer's call may take besides its input ports (which are wired
# by name) and its forward's defaults (ignored): type id -> {keyword: (the value at which
# the node's outputs equal torch's, the output ports that differ at any other value)}. An
# import refuses to read such a port. nn.MultiheadAttention(need_weights=False)[0] is the
# node's 'out'; its weights are the node's (one per head) only with need_weights=True and
# average_attn_weights=False.
CALL_KEYWORDS: dict[str, dict[str, tuple[object, tuple[str, ...]]]] = {
    "MultiHeadAttention": {"need_weights": (True, ("weights",)),
                           "average_attn_weights": (False, ("weights",))},
}

# torch containers (by class name) whose forward, called with the input alone, is their
# children (these attributes, in order; a ModuleList's members one after the other, a None
# left out) in a row: nn.TransformerEncoder without masks is its layers, then its norm.
CHAINS: dict[str, tuple[str, ...]] = {"TransformerEncoder": ("layers", "norm")}


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
        return slice_node(index)
    i = index[1]
    if isinstance(i, int) and not isinstance(i, bool):
        return "TimeStep", {"index": i}
    if isinstance(i, slice) and i.step in (None, 1) and all(
            v is None or isinstance(v, int) for v in (i.start, i.stop)):
        return "TimeSlice", {"start": i.start or 0, "stop": i.stop}
    return slice_node(index)
