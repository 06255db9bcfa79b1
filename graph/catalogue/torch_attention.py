"""Two nodes that models written against torch's functional API need, as torch computes them
(issue 26, the Hugging Face import): torch's own scaled-dot-product attention
(F.scaled_dot_product_attention: a bool mask True = may attend, or a float mask added to the
scores, `scale` and `is_causal` as torch takes them), where the catalogue's Scaled
dot-product attention (attention.py) takes masks True = masked out and gives the weights too;
and a Where with a constant in place of its 'false' tensor (torch.where(mask, x, -1e9)).
The importer maps F.scaled_dot_product_attention, aten.scaled_dot_product_attention and
torch.where(cond, x, number) here (torch_functions_generic.py)."""
from __future__ import annotations

import math

from ..spec import Call, Doc, NodeSpec, Param, Port, TensorType
from .merge import broadcast

CAT = "Attention"
COLOR = "#8f5b8a"


def _float(ctx, port: str, what: str) -> TensorType:
    t = ctx.ins[port]
    if t.dtype != "float32":
        ctx.fail(f"needs real numbers (float32) on '{port}' but '{ctx.src(port)}' gives {t}",
                 port)
    if len(t.shape) < 3:
        ctx.fail(f"needs {what} on '{port}' (a batch, any heads axes, then positions and "
                 f"features) but '{ctx.src(port)}' gives {t}", port)
    return t


def _sdpa_shape(ctx):
    q = _float(ctx, "query", "queries N × … × L × E")
    k = _float(ctx, "key", "keys N × … × S × E")
    v = _float(ctx, "value", "values N × … × S × Ev")
    for port, t in (("key", k), ("value", v)):
        if t.shape[:-2] != q.shape[:-2]:
            ctx.fail(f"needs the same leading axes (batch, heads) on '{port}' as on 'query' "
                     f"({list(q.shape[:-2])}) but '{ctx.src(port)}' gives {t}", port)
    if k.shape[-1] != q.shape[-1]:
        ctx.fail(f"takes dot products of queries and keys, which need the same features E, "
                 f"but '{ctx.src('query')}' gives {q.shape[-1]} and '{ctx.src('key')}' "
                 f"gives {k.shape[-1]}", "key")
    if k.shape[-2] != v.shape[-2]:
        ctx.fail(f"needs one value per key: '{ctx.src('key')}' gives {k.shape[-2]} keys and "
                 f"'{ctx.src('value')}' {v.shape[-2]} values", "value")
    scores = (*q.shape[:-1], k.shape[-2])
    m = ctx.ins.get("attn_mask")
    if m is not None:
        if ctx.p["is_causal"]:
            ctx.fail("has is_causal on and a mask on 'attn_mask': torch takes one or the "
                     "other (put the causal part into the mask)", "attn_mask")
        if m.dtype not in ("bool", "float32"):
            ctx.fail(f"takes a bool mask (True = may attend) or a float one (added to the "
                     f"scores) on 'attn_mask' but '{ctx.src('attn_mask')}' gives {m}",
                     "attn_mask")
        if broadcast(scores, m.shape) != tuple(scores):
            ctx.fail(f"needs a mask that broadcasts to the scores {list(scores)} (N × … × L "
                     f"× S) on 'attn_mask' but '{ctx.src('attn_mask')}' gives {m}",
                     "attn_mask")
    return {"out": TensorType((*q.shape[:-1], v.shape[-1]))}


def _sdpa_args(p: dict) -> dict:
    args = {}
    if p["dropout_p"]:
        args["dropout_p"] = p["dropout_p"]
    if p["is_causal"]:
        args["is_causal"] = True
    if p["scale"] is not None:
        args["scale"] = p["scale"]
    return args


TORCH_SDPA = NodeSpec(
    type="TorchScaledDotProductAttention", title="Scaled dot-product attention (torch's)",
    category=CAT, id_prefix="sdpa",
    inputs=(Port("query", doc="Q: N × … × L × E (… : heads axes, if any)"),
            Port("key", doc="K: N × … × S × E"),
            Port("value", doc="V: N × … × S × Ev"),
            Port("attn_mask", optional=True,
                 doc="bool (True = may attend) or float (added to the scores), broadcast to "
                     "N × … × L × S")),
    outputs=(Port("out", doc="N × … × L × Ev"),),
    params=(Param("is_causal", "bool", False, "Query i sees keys 0 … i only (a decoder); "
                  "not with a mask on attn_mask."),
            Param("scale", "float", None, "What the scores are multiplied by; auto: 1/√E.",
                  min=0.0, max=1e6, auto=True),
            Param("dropout_p", "float", 0.0, "Dropout on the attention weights. As in torch's "
                  "function it applies whenever set, in evaluation too: keep 0 for a model "
                  "that is used after training.", min=0.0, max=1.0)),
    shape=_sdpa_shape,
    build=lambda ctx: Call("F.scaled_dot_product_attention", _sdpa_args(ctx.p)),
    color=COLOR,
    doc=Doc(
        summary="torch.nn.functional.scaled_dot_product_attention, as torch computes it: "
                "each query is compared with every key, the scaled scores go through a "
                "softmax, and the result is the weighted sum of the values.",
        formula="out = softmax(Q Kᵀ · scale + M) V,   scale = 1/√E unless set\n"
                "M = 0 where attn_mask is True (bool) and −∞ where False; a float mask is M "
                "itself; is_causal: −∞ above the diagonal",
        use_case="The attention inside models written with torch's functional API (Hugging "
                 "Face BERT and GPT-2 with attn_implementation 'sdpa'), Q, K and V split "
                 "into heads N × H × T × d. Example: one query and two keys with equal "
                 "scores give the mean of the two values.",
        notes="The catalogue's 'Scaled dot-product attention' takes masks the other way "
              "round (True = masked out) and gives the weights as well; this one gives "
              "torch's result only (a fused kernel where the device has one). A query "
              "whose keys are all masked gives NaN, as in torch."),
)


def _where_shape(ctx):
    c, x = ctx.ins["cond"], ctx.ins["x"]
    if c.dtype != "bool":
        ctx.fail(f"needs true/false values (a comparison's) on 'cond', but "
                 f"'{ctx.src('cond')}' gives {c}", "cond")
    if x.dtype != "float32":
        ctx.fail(f"takes real numbers (float32) on 'x' but '{ctx.src('x')}' gives {x}", "x")
    shape = broadcast(c.shape, x.shape)
    if shape is None:
        ctx.fail(f"cannot broadcast 'cond' ({c}) and 'x' ({x}) together: from the last dim "
                 "back, sizes must match or be 1", "x")
    if not math.isfinite(ctx.p["other"]):
        ctx.fail(f"has other {ctx.p['other']}: a finite number is needed")
    return {"out": TensorType(shape, x.dtype)}


WHERE_SCALAR = NodeSpec(
    type="WhereScalar", title="Where, else a constant", category="Tensor operations",
    id_prefix="where",
    inputs=(Port("cond", doc="true/false values: a comparison's"),
            Port("x", doc="taken where cond is true")),
    outputs=(Port("out", doc="cond and x broadcast"),),
    params=(Param("other", "float", 0.0, "The constant taken where cond is false (a large "
                  "negative number masks scores before a softmax).", min=-3.5e38, max=3.5e38),),
    shape=_where_shape,
    build=lambda ctx: Call("torch.where", {"other": ctx.p["other"]}),
    color="#5b6c8f",
    doc=Doc(
        summary="Takes x where the mask is true and a constant where it is false, element by "
                "element (cond and x broadcast).",
        formula="out[i] = x[i] if cond[i] else other",
        use_case="Masking attention scores before a softmax (torch.where(mask, scores, "
                 "torch.finfo(dtype).min), as Hugging Face models write it); zeroing padded "
                 "positions. Example: cond [true, false], x [1, 2], other 0 give [1, 0].",
        notes="torch.where(cond, x, other) with a number as other. The gradient reaches x "
              "where cond is true only."),
)

SPECS = (TORCH_SDPA, WHERE_SCALAR)
