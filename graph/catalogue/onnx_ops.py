"""ONNX operators -> node types, for the ONNX importer (issue 26, runtime/importer/onnx_import.py).

The catalogue is the one place that names layers, so the importer's table lives here.
map_node(op_type, attrs, args, opset) gives a Mapped (the node type and its params, which
ONNX inputs are wired into the node's input port, and which constant inputs become which
of its module's tensors), or raises Unmapped saying in words why this node has none.
`args` has one Arg per ONNX input: its constant value (an initializer or a folded Constant,
anything with .shape and .tolist()) or None where the graph computes it, and its shape
where known; an absent optional input is None. Nothing here imports torch or onnx.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


class Unmapped(Exception):
    """This ONNX node has no node type (the message says why)."""


class _Batch:
    """The batch size in a shape computed inside the model (Shape of a tensor: [N, 3, 8, 8])."""

    def __repr__(self) -> str:
        return "N"


BATCH = _Batch()

# ONNX operators the importer handles itself
SHAPE, MATMUL, ADD = "Shape", "MatMul", "Add"
# shape arithmetic the importer folds with the batch size as a symbol
PASS, GATHER, UNSQUEEZE, SQUEEZE, CONCAT, SLICE = (
    ("Identity", "Cast"), "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice")
# never folded into constants even when every input is one (they draw random numbers)
NOT_FOLDED = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
              "Bernoulli", "Multinomial"}


@dataclass
class Arg:
    value: Any = None  # a constant (numpy array), or None: the graph computes it
    shape: tuple | None = None  # its shape, where known (batch first)

    @property
    def computed(self) -> bool:
        return self.value is None


@dataclass
class Mapped:
    type: str
    params: dict
    wired: tuple[int, ...] = (0,)  # the ONNX inputs wired into the node's first port, in order
    # the node module's tensors: state key -> (ONNX input index, how: "" as is, "T"
    # transposed, "flat" to one axis, "zeros" zeros shaped like that input, "ones" likewise)
    weights: dict[str, tuple[int, str]] = field(default_factory=dict)


def _arg(args: list, i: int) -> Arg | None:
    return args[i] if i < len(args) else None


def _const(args: list, i: int, what: str):
    a = _arg(args, i)
    if a is None:
        return None
    if a.computed:
        raise Unmapped(f"its {what} is computed by the graph; only a constant (an initializer "
                       "or a Constant) has a node")
    return a.value


def _rank(args: list, i: int = 0) -> int | None:
    a = _arg(args, i)
    return len(a.shape) if a is not None and a.shape is not None else None


def _one(values, what: str, node: str):
    """Equal values for every axis -> that one value (the node has one for every axis)."""
    values = list(values)
    if values and all(v == values[0] for v in values):
        return values[0]
    raise Unmapped(f"{what} {values} differs between axes: the {node} node has one {what} "
                   "for every axis")


def _pads(attrs: dict, k: int, node: str) -> int:
    """ONNX pads (begin for every axis, then end) -> one padding for every side."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return 0
    if auto != "NOTSET":
        raise Unmapped(f"auto_pad {auto} has no node (write explicit pads)")
    pads = list(attrs.get("pads", [0] * 2 * k))
    if pads[:k] != pads[k:]:
        raise Unmapped(f"pads {pads} are not symmetric (begin {pads[:k]}, end {pads[k:]}): the "
                       f"{node} node pads every side alike")
    return _one(pads[:k], "padding", node)


def _float(v, digits: int = 7) -> float:
    return round(float(v), digits)


# ----------------------------------------------------------------------------------------
def _conv(op, attrs, args, opset):
    """Conv (weight C_out × C_in/groups × k...) and ConvTranspose (C_in × C_out/groups × k...),
    1-d to 3-d, one kernel size, stride, padding and dilation for every axis."""
    w, transposed = _const(args, 1, "weight"), op == "ConvTranspose"
    k = len(w.shape) - 2
    node = f"{'ConvTranspose' if transposed else 'Conv'}{k}d"
    if k not in (1, 2, 3) or (transposed and "output_shape" in attrs):
        raise Unmapped(f"{'output_shape' if k in (1, 2, 3) else f'a {k}-d convolution'} has "
                       "no node")
    kernel = list(attrs.get("kernel_shape", w.shape[2:]))
    auto, group = attrs.get("auto_pad", "NOTSET"), int(attrs.get("group", 1))
    stride = _one(attrs.get("strides", [1] * k), "stride", node)
    dilation = _one(attrs.get("dilations", [1] * k), "dilation", node)
    if not transposed and auto in ("SAME_UPPER", "SAME_LOWER") and stride == 1 and (
            auto == "SAME_UPPER" or all(dilation * (s - 1) % 2 == 0 for s in kernel)):
        padding = "same"
    else:
        padding = _pads(attrs, k, node)
    bias = _arg(args, 2) is not None
    params = {"out_channels": int(w.shape[1]) * group if transposed else int(w.shape[0]),
              "kernel_size": _one(kernel, "kernel_size", node), "stride": stride,
              "padding": padding, "dilation": dilation, "groups": group, "bias": bias}
    if transposed:
        params["output_padding"] = _one(attrs.get("output_padding", [0] * k),
                                        "output_padding", node)
    if bias:
        _const(args, 2, "bias")
    return Mapped(node, params, weights={"weight": (1, ""), **({"bias": (2, "")} if bias else {})})


def _linear(weight_index: int, transposed: bool, bias_index: int | None, args) -> Mapped:
    w = _const(args, weight_index, "weight")
    if len(w.shape) != 2:
        raise Unmapped(f"a weight of shape {list(w.shape)} (not 2-d) has no Linear node")
    out = w.shape[0] if transposed else w.shape[1]
    weights = {"weight": (weight_index, "" if transposed else "T")}
    bias = bias_index is not None and _arg(args, bias_index) is not None
    if bias:
        b = _const(args, bias_index, "bias")
        n = 1
        for s in b.shape:
            n *= s
        if n != out or any(s != 1 for s in list(b.shape)[:-1]):
            raise Unmapped(f"a bias of shape {list(b.shape)} is not one value per output "
                           f"({out})")
        weights["bias"] = (bias_index, "flat")
    return Mapped("Linear", {"out_features": int(out), "bias": bias}, weights=weights)


def _gemm(op, attrs, args, opset):
    if attrs.get("transA", 0):
        raise Unmapped("transA=1 (the input transposed) has no node")
    if _float(attrs.get("alpha", 1.0)) != 1 or _float(attrs.get("beta", 1.0)) != 1:
        raise Unmapped(f"alpha {attrs.get('alpha', 1.0)}, beta {attrs.get('beta', 1.0)}: only "
                       "alpha = beta = 1 is a Linear node")
    if not _arg(args, 0).computed:
        raise Unmapped("its input is a constant")
    return _linear(1, bool(attrs.get("transB", 0)), 2, args)


def _matmul(op, attrs, args, opset):
    """x @ W (W a constant, in × out): a Linear; a third argument is the bias of an Add that
    follows it (the importer joins MatMul + Add)."""
    if _arg(args, 1).computed:
        raise Unmapped("a product of two computed tensors has no node yet (only x @ W with W "
                       "a constant)")
    if not _arg(args, 0).computed:
        raise Unmapped("its first factor is a constant (only x @ W has a node)")
    return _linear(1, False, 2, args)


def _plain(node: str, **fixed) -> Callable:
    def make(op, attrs, args, opset):
        for name, (default, want) in fixed.items():
            if abs(_float(attrs.get(name, default)) - want) > 1e-6:
                raise Unmapped(f"{name} = {attrs.get(name, default)}: the {node} node computes "
                               f"{name} = {want:.6g} only")
        return Mapped(node, {})
    return make


def _elu(op, attrs, args, opset):
    return Mapped("ELU", {"alpha": _float(attrs.get("alpha", 1.0))})


def _leaky(op, attrs, args, opset):
    return Mapped("LeakyReLU", {"negative_slope": _float(attrs.get("alpha", 0.01))})


def _gelu(op, attrs, args, opset):
    return Mapped("GELU", {"approximate": attrs.get("approximate", "none")})


def _softmax(node: str) -> Callable:
    def make(op, attrs, args, opset):
        rank = _rank(args)
        axis = int(attrs.get("axis", -1 if opset >= 13 else 1))
        if rank is not None and axis < 0:
            axis += rank
        if opset < 13 and rank is not None and axis != rank - 1:
            raise Unmapped(f"axis {axis} before opset 13 flattens the trailing axes together: "
                           f"the {node} node takes one axis")
        if axis == 0:
            raise Unmapped(f"axis 0 (across the batch) has no {node} node")
        return Mapped(node, {"dim": axis})
    return make


def _pool(kind: str) -> Callable:
    def make(op, attrs, args, opset):
        rank = _rank(args)
        kernel = list(attrs.get("kernel_shape", []))
        k = len(kernel)
        if k not in (1, 2, 3) or (rank is not None and rank != k + 2):
            raise Unmapped(f"a {k}-d pooling of a rank {rank} tensor has no node")
        node = f"{kind}Pool{k}d"
        params = {"kernel_size": _one(kernel, "kernel_size", node),
                  "stride": _one(attrs.get("strides", [1] * k), "stride", node),
                  "padding": _pads(attrs, k, node),
                  "ceil_mode": bool(attrs.get("ceil_mode", 0))}
        dilation = _one(attrs.get("dilations", [1] * k), "dilation", node)
        if kind == "Max":
            params["dilation"] = dilation
            if attrs.get("storage_order", 0):
                raise Unmapped("storage_order 1 has no node")
        else:
            if dilation != 1:
                raise Unmapped(f"dilation {dilation} has no {node} node")
            params["count_include_pad"] = bool(attrs.get("count_include_pad", 0))
        return Mapped(node, params)
    return make


def _global_pool(kind: str) -> Callable:
    """N × C × ... -> N × C × 1 × ...: the adaptive pooling to size 1 gives that shape."""
    def make(op, attrs, args, opset):
        rank = _rank(args)
        if rank not in (3, 4, 5):
            raise Unmapped(f"global pooling of a rank {rank} tensor has no node")
        return Mapped(f"Adaptive{kind}Pool{rank - 2}d", {"output_size": [1]})
    return make


def _reduce_mean(op, attrs, args, opset):
    rank = _rank(args)
    axes = attrs.get("axes")
    if axes is None and _arg(args, 1) is not None:
        axes = _const(args, 1, "axes").tolist()
    if axes is None or rank is None:
        raise Unmapped("a mean over every axis (or of unknown rank) has no node")
    axes = sorted(a + rank if a < 0 else a for a in axes)
    keep = bool(attrs.get("keepdims", 1))
    if axes != list(range(2, rank)) or rank not in (3, 4, 5):
        raise Unmapped(f"a mean over axes {axes} of a rank {rank} tensor has no node (only "
                       "over every axis after N × C: global average pooling)")
    if keep:
        return Mapped(f"AdaptiveAvgPool{rank - 2}d", {"output_size": [1]})
    if rank == 4:
        return Mapped("GlobalAvgPool2d", {})
    raise Unmapped(f"a mean over axes {axes} of a rank {rank} tensor without keepdims has no "
                   "node")


def _flatten(op, attrs, args, opset):
    axis, rank = int(attrs.get("axis", 1)), _rank(args)
    if rank is not None and axis < 0:
        axis += rank
    if axis != 1:
        raise Unmapped(f"Flatten at axis {axis} has no node (only axis 1: the batch stays)")
    return Mapped("Flatten", {})


def _reshape(op, attrs, args, opset):
    target = _const(args, 1, "shape")
    a = _arg(args, 0)
    if a.shape is None:
        raise Unmapped("its input's shape is not known")
    src = list(a.shape)
    shape = list(target.tolist())
    if attrs.get("allowzero", 0) and 0 in shape:
        raise Unmapped("allowzero with a 0 in the shape has no node")
    shape = [src[i] if (d == 0 and i < len(src)) else d for i, d in enumerate(shape)]
    rest_size = 1
    for d in src[1:]:
        rest_size *= d
    first, rest = (shape[0] if shape else None), shape[1:]
    if first is BATCH or first == src[0]:
        pass
    elif first == -1 and rest and -1 not in rest and all(isinstance(d, int) for d in rest):
        n = 1
        for d in rest:
            n *= d
        if n != rest_size:
            raise Unmapped(f"the shape {shape} moves values into or out of the batch")
    else:
        raise Unmapped(f"the shape {shape} does not keep the batch first")
    if not rest or any(not isinstance(d, int) for d in rest):
        raise Unmapped(f"the shape {shape} is not constant after the batch")
    if len(rest) == 1 and rest[0] in (-1, rest_size):
        return Mapped("Flatten", {})
    return Mapped("Reshape", {"shape": [int(d) for d in rest]})


def _binary(node: str) -> Callable:
    def make(op, attrs, args, opset):
        if len(args) != 2 or not all(a is not None and a.computed for a in args):
            raise Unmapped(f"only two computed tensors have a node ({node}); a constant "
                           "operand has none yet")
        return Mapped(node, {}, wired=(0, 1))
    return make


def _concat(op, attrs, args, opset):
    if not all(a is not None and a.computed for a in args):
        raise Unmapped("a constant among its inputs has no node (only computed tensors)")
    axis, rank = int(attrs["axis"]), _rank(args)
    if rank is not None and axis < 0:
        axis += rank
    if axis == 0:
        raise Unmapped("concatenation along the batch has no node")
    return Mapped("Concat", {"dim": axis}, wired=tuple(range(len(args))))


def _batch_norm(op, attrs, args, opset):
    rank = _rank(args)
    node = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}.get(rank)
    if node is None:
        raise Unmapped(f"batch normalisation of a rank {rank} tensor has no node")
    if attrs.get("training_mode", 0):
        raise Unmapped("training_mode 1 (batch statistics) has no node: export in eval mode")
    for i, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")):
        _const(args, i, what)
    return Mapped(node, {"eps": _float(attrs.get("epsilon", 1e-5), 10),
                         "momentum": _float(1 - attrs.get("momentum", 0.9))},
                  weights={"weight": (1, ""), "bias": (2, ""), "running_mean": (3, ""),
                           "running_var": (4, "")})


def _layer_norm(op, attrs, args, opset):
    rank, axis = _rank(args), int(attrs.get("axis", -1))
    if rank is not None and axis < 0:
        axis += rank
    scale = _const(args, 1, "scale")
    if rank is None or axis != rank - 1 or len(scale.shape) != 1:
        raise Unmapped(f"normalising from axis {axis} (not only the last) has no node")
    weights = {"weight": (1, "flat")}
    weights["bias"] = (2, "flat") if _arg(args, 2) is not None else (1, "zeros")
    return Mapped("LayerNorm", {"eps": _float(attrs.get("epsilon", 1e-5), 10),
                                "elementwise_affine": True}, weights=weights)


def _dropout(op, attrs, args, opset):
    ratio = attrs.get("ratio", 0.5)
    if _arg(args, 1) is not None:
        ratio = float(_const(args, 1, "ratio").tolist())
    if _arg(args, 2) is not None and bool(_const(args, 2, "training_mode").tolist()):
        raise Unmapped("training_mode true has no node: export in eval mode")
    return Mapped("Dropout", {"p": _float(ratio)})


def _transpose(op, attrs, args, opset):
    perm = list(attrs.get("perm", []))
    if not perm or perm[0] != 0:
        raise Unmapped(f"the permutation {perm or 'reversing every axis'} moves the batch: "
                       "only one that keeps it first has a node (Permute)")
    return Mapped("Permute", {"dims": [int(p) for p in perm]})


def _clip(op, attrs, args, opset):
    lo, hi = attrs.get("min"), attrs.get("max")
    if _arg(args, 1) is not None:
        lo = float(_const(args, 1, "min").tolist())
    if _arg(args, 2) is not None:
        hi = float(_const(args, 2, "max").tolist())
    if lo == 0 and hi == 6:
        return Mapped("ReLU6", {})
    if lo == 0 and (hi is None or hi == float("inf")):
        return Mapped("ReLU", {})
    if lo is not None and hi is not None:
        return Mapped("Hardtanh", {"min_val": _float(lo), "max_val": _float(hi)})
    raise Unmapped(f"Clip({lo}, {hi}) has no node")


_PAD_NODES = {"constant": ("ZeroPad", "ConstantPad"), "reflect": ("ReflectionPad",) * 2,
              "edge": ("ReplicationPad",) * 2}


def _pad(op, attrs, args, opset):
    mode = attrs.get("mode", "constant")
    if mode not in _PAD_NODES:
        raise Unmapped(f"mode {mode!r} has no node")
    pads = attrs.get("pads")
    if pads is None:
        pads = _const(args, 1, "pads").tolist()
    value = attrs.get("value", 0.0)
    if _arg(args, 2) is not None:
        value = float(_const(args, 2, "constant value").reshape(-1).tolist()[0])
    rank = _rank(args)
    if _arg(args, 3) is not None:
        axes = [a + rank if a < 0 else a for a in _const(args, 3, "axes").tolist()]
        full = [0] * (2 * rank)
        for i, a in enumerate(axes):
            full[a], full[rank + a] = pads[i], pads[len(axes) + i]
        pads = full
    pads = [int(p) for p in pads]
    k = len(pads) // 2 - 2
    if k not in (1, 2, 3) or any(pads[i] or pads[i + k + 2] for i in (0, 1)):
        raise Unmapped(f"pads {pads} pad the batch or the channels (or a rank with no node)")
    if any(p < 0 for p in pads):
        raise Unmapped(f"pads {pads}: negative padding (cropping) has no node")
    begin, end = pads[2:k + 2], pads[k + 4:]
    torch_order = [v for i in reversed(range(k)) for v in (begin[i], end[i])]
    if all(v == torch_order[0] for v in torch_order):
        torch_order = torch_order[:1]
    zero, other = _PAD_NODES[mode]
    if mode == "constant" and float(value) != 0:
        return Mapped(f"{other}{k}d", {"padding": torch_order, "value": _float(value)})
    return Mapped(f"{zero}{k}d", {"padding": torch_order})


_LINEAR = {3: "linear", 4: "bilinear", 5: "trilinear"}


def _resize(op, attrs, args, opset):
    """Resize (and the old Upsample) by constant scales or sizes: torch's nearest (asymmetric
    coordinates, floor) or its linear modes (half-pixel coordinates, or align_corners)."""
    mode, rank = attrs.get("mode", "nearest"), _rank(args)
    coords = attrs.get("coordinate_transformation_mode", "asymmetric" if op == "Upsample"
                       else "half_pixel")
    given = [(i, _const(args, i, what)) for i, what in ((1 if op == "Upsample" else 2, "scales"),
                                                        (3, "sizes")) if _arg(args, i)]
    given = [(i, v.reshape(-1).tolist()) for i, v in given if v.size] or [(1, attrs.get("scales"))]
    i, values = given[0]
    if values is None or list(values[:2]) != [1, 1] and i != 3:
        raise Unmapped(f"scales {values} scale the batch or the channels (or are not given)")
    params = ({"size": [int(v) for v in values[2:]]} if i == 3 else
              {"scale_factor": _one([float(v) for v in values[2:]], "scale", "Upsample")})
    nearest = attrs.get("nearest_mode", "round_prefer_floor" if op != "Upsample" else "floor")
    if mode == "nearest" and (coords, nearest) == ("asymmetric", "floor"):
        params["mode"] = "nearest"
    elif mode == "linear" and rank in _LINEAR and coords in (
            "pytorch_half_pixel", "half_pixel", "align_corners"):
        params.update(mode=_LINEAR[rank], align_corners=coords == "align_corners")
    else:
        raise Unmapped(f"mode {mode!r} with {coords} coordinates"
                       f"{f' and {nearest} rounding' if mode == 'nearest' else ''} has no node "
                       "(torch's nearest is asymmetric and floor; its linear modes half-pixel "
                       "or align_corners)")
    return Mapped("Upsample", params)


def _gather(op, attrs, args, opset):
    """Rows of a constant table picked by computed ids: an Embedding."""
    if int(attrs.get("axis", 0)) != 0 or _arg(args, 0).computed or not _arg(args, 1).computed:
        raise Unmapped("only rows of a constant table picked by computed ids (an Embedding) "
                       "have a node")
    table = _const(args, 0, "table")
    if len(table.shape) != 2:
        raise Unmapped(f"a table of shape {list(table.shape)} (not 2-d) has no Embedding node")
    return Mapped("Embedding", {"num_embeddings": int(table.shape[0]),
                                "embedding_dim": int(table.shape[1])}, wired=(1,),
                  weights={"weight": (0, "")})


MAPPERS: dict[str, Callable] = {
    "Conv": _conv, "ConvTranspose": _conv, "Gemm": _gemm, MATMUL: _matmul,
    "Relu": _plain("ReLU"), "Sigmoid": _plain("Sigmoid"), "Tanh": _plain("Tanh"),
    "LeakyRelu": _leaky, "Elu": _elu, "Gelu": _gelu,
    "Selu": _plain("SELU", alpha=(1.67326319217681884765625, 1.6732632),
                   gamma=(1.05070102214813232421875, 1.0507010)),
    "HardSigmoid": _plain("Hardsigmoid", alpha=(0.2, 1 / 6), beta=(0.5, 0.5)),
    "HardSwish": _plain("Hardswish"), "Softplus": _plain("Softplus"),
    "Softsign": _plain("Softsign"), "Mish": _plain("Mish"),
    "Softmax": _softmax("Softmax"), "LogSoftmax": _softmax("LogSoftmax"),
    "MaxPool": _pool("Max"), "AveragePool": _pool("Avg"),
    "GlobalAveragePool": _global_pool("Avg"), "GlobalMaxPool": _global_pool("Max"),
    "ReduceMean": _reduce_mean, "Flatten": _flatten, "Reshape": _reshape,
    ADD: _binary("Add"), "Mul": _binary("Multiply"), "Concat": _concat,
    "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm,
    "Dropout": _dropout, "Identity": _plain("Identity"), "Transpose": _transpose,
    "Clip": _clip, "Pad": _pad, "Resize": _resize, "Upsample": _resize, "Gather": _gather,
}


def map_node(op_type: str, attrs: dict, args: list, opset: int, domain: str = "") -> Mapped:
    if domain not in ("", "ai.onnx") or op_type not in MAPPERS:
        raise Unmapped(f"{op_type} has no node")
    if op_type not in ("Gather", MATMUL, CONCAT) and _arg(args, 0) is not None and \
            not _arg(args, 0).computed:
        raise Unmapped("its input is a constant, not a tensor the graph computes")
    return MAPPERS[op_type](op_type, attrs, args, opset)
