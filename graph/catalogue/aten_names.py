"""torch.export's operation names -> the names FUNCTIONS keys (issue 26, item 3).

Where torch.fx cannot trace a model (Python control flow on its inputs' shapes or on its
config, as in Hugging Face models) the importer falls back to torch.export, whose graph
names ATen operations ("aten.add.Tensor") where fx names the Python call ("operator.add").
ATEN_NAMES translates one into the other, so that both tracers map an operation through the
same entry of graph/catalogue/torch_functions.FUNCTIONS; the importer drops trailing
arguments left at the ATen schema's defaults first, so that an ATen call reads as the torch
call it came from. Strings only: graph/ imports no torch.

RESHAPES read as x.view(...), SLICES as x[...] (slice: dim, start, end, step; select: dim,
index), IDENTITIES pass their input through unchanged (a copy, a no-op conversion), and
CHECKS are torch.export's own assertions, which compute nothing.
"""
from __future__ import annotations

ATEN_NAMES: dict[str, str] = {
    "aten.add.Tensor": "operator.add",
    "aten.mul.Tensor": "operator.mul",
    "aten.relu.default": "torch.relu",
    "aten.sigmoid.default": "torch.sigmoid",
    "aten.tanh.default": "torch.tanh",
    "aten.relu6.default": "F.relu6",
    "aten.silu.default": "F.silu",
    "aten.hardswish.default": "F.hardswish",
    "aten.hardsigmoid.default": "F.hardsigmoid",
    "aten.mish.default": "F.mish",
    "aten.log_sigmoid.default": "F.logsigmoid",
    "aten.gelu.default": "F.gelu",
    "aten.leaky_relu.default": "F.leaky_relu",
    "aten.softmax.int": "torch.softmax",
    "aten._softmax.default": "torch.softmax",
    "aten.log_softmax.int": "torch.log_softmax",
    "aten._log_softmax.default": "torch.log_softmax",
    "aten.flatten.using_ints": "torch.flatten",
    "aten.mean.dim": "torch.mean",
    "aten.transpose.int": "torch.transpose",
    "aten.swapaxes.default": "torch.transpose",
    "aten.permute.default": "Tensor.permute",
    "aten.expand.default": "Tensor.expand",
    "aten.cat.default": "torch.cat",
    "aten.concat.default": "torch.cat",
    "aten.dropout.default": "F.dropout",
    "aten.max_pool2d.default": "F.max_pool2d",
    "aten.avg_pool2d.default": "F.avg_pool2d",
}

# Element-wise and reducing operations whose ATen name is torch's (aten.exp.default is
# torch.exp; .Tensor and .Scalar overloads: a tensor or a constant as the other operand)
_SAME_AS_TORCH = """
abs acos asin atan atan2 ceil cos cosh erf exp exp2 expm1 floor frac log log10 log1p log2
neg reciprocal round rsqrt sign sin sinh sqrt square tan trunc
sub div pow remainder fmod floor_divide maximum minimum hypot eq ne gt lt ge le
clamp clamp_min clamp_max matmul mm bmm where sum amax amin prod logsumexp unsqueeze squeeze
roll flip narrow chunk
"""
for _name in _SAME_AS_TORCH.split():
    for _overload in ("default", "Tensor", "Scalar", "self", "dim", "dims", "dim_IntList",
                      "Tensor_Tensor", "Tensor_Scalar", "Scalar_Tensor", "ScalarOther",
                      "ScalarSelf"):
        ATEN_NAMES.setdefault(f"aten.{_name}.{_overload}", f"torch.{_name}")
ATEN_NAMES.update({"aten.repeat.default": "Tensor.repeat",
                   "aten.rsub.Scalar": "torch.rsub", "aten.add.Scalar": "operator.add",
                   "aten.mul.Scalar": "operator.mul"})

# aten.split.Tensor(x, size, dim) into equal parts is torch.chunk(x, parts, dim): the importer
# rewrites it so where the parts are equal
SPLIT_AS = ("aten.split.Tensor", "torch.chunk")

# aten.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale=...): the
# importer wires its mask (a tensor or None) onto the attention node's optional port itself
SDPA = "aten.scaled_dot_product_attention.default"

RESHAPES = frozenset({"aten.view.default", "aten.reshape.default", "aten._unsafe_view.default"})

SLICES = frozenset({"aten.slice.Tensor", "aten.select.int"})

IDENTITIES = frozenset({
    "aten.contiguous.default", "aten.clone.default", "aten.alias.default",
    "aten.detach.default", "aten.lift_fresh_copy.default",
    "aten.to.dtype", "aten.to.dtype_layout", "aten.to.device", "aten._to_copy.default",
    "aten.type_as.default",
})  # the conversions only where the dtype and device stay (the importer checks)

CHECKS = frozenset({
    "aten._assert_tensor_metadata.default", "aten._assert_scalar.default",
    "aten.sym_constrain_range_for_size.default", "aten.sym_constrain_range.default",
    "aten._assert_async.msg", "aten._assert_async.default",
    "aten._functional_assert_async.msg",
})
