"""Attention and the Transformer's parts (issue 11): encoder-decoder attention with a choice of
score, scaled dot-product and multi-head attention, positional encoding, LayerNorm, and the
nodes that make the masks.

Sequences are batch first, N × T × D. Masks are bool tensors with their own shapes on the
wires, True where a position is masked out (a padded key, a future step), as in
torch.nn.MultiheadAttention: a key padding mask is N × T_k (a Padding mask node makes one
from token ids), an attention mask T_q × T_k for the whole batch (a Causal mask node makes
one) or N × T_q × T_k. A query whose every key is masked attends to nothing: weights 0,
context 0 (never NaN). The formulas are the seed notes'.
"""
from __future__ import annotations

from ..spec import BATCH, Call, Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import COLORS, check_features

CAT = "Attention"
COLOR = COLORS[CAT]


def _dims(shape) -> str:
    return " × ".join(str(d) for d in shape)


def _real(ctx, port: str, ranks: tuple[int, ...], what: str) -> TensorType:
    """The float32 type on `port`, of one of `ranks` dims, with a known last size."""
    t = ctx.ins[port]
    if t.dtype == "bool":
        ctx.fail(f"needs real numbers on '{port}' but '{ctx.src(port)}' gives a mask ({t}): "
                 "masks go to a mask port (key_padding_mask, attn_mask)", port)
    if t.dtype != "float32":
        ctx.fail(f"needs real numbers (float32) on '{port}' but '{ctx.src(port)}' gives {t}: "
                 "token ids go through an Embedding first", port)
    if len(t.shape) not in ranks:
        ctx.fail(f"needs {what} on '{port}' but '{ctx.src(port)}' gives {t}", port)
    if not isinstance(t.shape[-1], int):
        ctx.fail(f"needs a known number of features on '{port}' but '{ctx.src(port)}' gives "
                 f"{t}", port)
    return t


def _key_padding(ctx, t_k) -> None:
    m = ctx.ins.get("key_padding_mask")
    if m is None:
        return
    if m.dtype != "bool":
        ctx.fail(f"takes a bool mask on 'key_padding_mask' (N × T_k, True = padding) but "
                 f"'{ctx.src('key_padding_mask')}' gives {m}: make it from the token ids with "
                 "a Padding mask node", "key_padding_mask")
    if tuple(m.shape) != (BATCH, t_k):
        ctx.fail(f"takes a key padding mask {_dims((BATCH, t_k))} (one flag per step of "
                 f"'{ctx.src('key')}') but '{ctx.src('key_padding_mask')}' gives {m}",
                 "key_padding_mask")


def _attn_mask(ctx, t_q, t_k) -> None:
    m = ctx.ins.get("attn_mask")
    if m is None:
        return
    if m.dtype != "bool":
        ctx.fail(f"takes a bool mask on 'attn_mask' (T_q × T_k, True = masked out) but "
                 f"'{ctx.src('attn_mask')}' gives {m}: make one with a Causal mask node",
                 "attn_mask")
    if tuple(m.shape) not in ((t_q, t_k), (BATCH, t_q, t_k)):
        ctx.fail(f"takes an attention mask {_dims((t_q, t_k))} (or {_dims((BATCH, t_q, t_k))}: "
                 f"one row per query of '{ctx.src('query')}', one column per key of "
                 f"'{ctx.src('key')}') but '{ctx.src('attn_mask')}' gives {m}", "attn_mask")


def _values(ctx, v: TensorType, t_k) -> None:
    if v.shape[-2] != t_k:
        ctx.fail(f"needs a value for each of the {t_k} keys from '{ctx.src('key')}' but "
                 f"'{ctx.src('value')}' gives {v}", "value")


_KEY_PADDING = Port("key_padding_mask", optional=True,
                    doc="bool N × T_k, True at padded keys (their weight is 0); from a Padding "
                        "mask node")
_ATTN_MASK = Port("attn_mask", optional=True,
                  doc="bool T_q × T_k (or N × T_q × T_k), True where query t may not see "
                      "key j; from a Causal mask node")
_CAUSAL = Param("causal", "bool", False,
                "Mask every key after the query's own position (j > t), so position t sees "
                "only positions ≤ t: a decoder that must not read the future. Adds to the "
                "masks wired in.")

_SEED_ATTENTION = ("The seed notes: a single context vector c = h_T 'can suffer from "
                   "limitations when handling long sequences'; attention lets the decoder "
                   "focus on different parts of the input sequence at each step of the "
                   "output. ")


# Encoder-decoder attention ---------------------------------------------------------------

def _attention_shape(ctx):
    q = _real(ctx, "query", (2, 3), "decoder states s: N × T_q × D_q (or one step, N × D_q)")
    k = _real(ctx, "key", (3,), "encoder states h: N × T_k × D_k")
    t_k, d_q, d_k = k.shape[1], q.shape[-1], k.shape[-1]
    d_v = d_k
    if ctx.ins.get("value") is not None:
        v = _real(ctx, "value", (3,), "values N × T_k × D_v, one per encoder state")
        _values(ctx, v, t_k)
        d_v = v.shape[-1]
    if ctx.p["score"] == "dot" and d_q != d_k:
        ctx.fail(f"scores by the dot product s_tᵀ h_j, which needs as many features on 'query' "
                 f"as on 'key', but '{ctx.src('query')}' gives {d_q} and '{ctx.src('key')}' "
                 f"gives {d_k}: choose score 'general' or 'additive', or put a Linear before "
                 "one of them", "key")
    _key_padding(ctx, t_k)
    steps = q.shape[1:-1]  # (T_q,), or () for a single decoder step
    return {"context": TensorType((q.shape[0], *steps, d_v)),
            "weights": TensorType((q.shape[0], *steps, t_k))}


def _attention_build(ctx):
    p = ctx.p
    kwargs = {"score": p["score"], "query_size": ctx.ins["query"].shape[-1],
              "key_size": ctx.ins["key"].shape[-1]}
    if p["score"] == "additive":
        kwargs["attention_dim"] = p["attention_dim"] or ctx.ins["key"].shape[-1]
    return Make("ops.Attention", kwargs)


ATTENTION = NodeSpec(
    type="Attention", title="Attention (dot / general / additive)", category=CAT,
    id_prefix="attn",
    inputs=(Port("query", doc="the decoder states s_t: N × T_q × D_q, or one step N × D_q"),
            Port("key", role="keys", doc="the encoder states h_j: N × T_k × D_k (an RNN's y)"),
            Port("value", optional=True, doc="what the context sums, N × T_k × D_v; the "
                                             "encoder states h_j themselves when not wired"),
            _KEY_PADDING),
    outputs=(Port("context", path=(0,), doc="c_t = Σ_j α_tj h_j: N × T_q × D_v"),
             Port("weights", path=(1,), role="attention",
                  doc="α_tj, a distribution over the keys for each query: N × T_q × T_k")),
    params=(Param("score", "choice", "dot",
                  "How e_tj = score(s_t, h_j) is computed: 'dot' s_tᵀ h_j (no weights; needs "
                  "D_q = D_k), 'general' s_tᵀ W h_j (multiplicative, Luong), 'additive' "
                  "vᵀ tanh(W_1 s_t + W_2 h_j) (Bahdanau).",
                  choices=("dot", "general", "additive")),
            Param("attention_dim", "int", None,
                  "Score 'additive' only: the size of W_1 s_t + W_2 h_j (rows of W_1, W_2 and "
                  "v). Auto: the key's features D_k.", min=1, max=65536, auto=True)),
    shape=_attention_shape, build=_attention_build, color=COLOR,
    doc=Doc(
        summary="Attention for an encoder-decoder: at each decoder step t it scores every "
                "encoder state h_j against the decoder state s_t, turns the scores into "
                "weights α_tj with a softmax, and returns the dynamic context vector c_t, the "
                "weighted sum of the encoder states, in place of one fixed context c.",
        formula="e_tj = score(s_t, h_j)\n"
                "    dot:       score(s_t, h_j) = s_tᵀ h_j\n"
                "    general:   score(s_t, h_j) = s_tᵀ W h_j                (multiplicative)\n"
                "    additive:  score(s_t, h_j) = vᵀ tanh(W_1 s_t + W_2 h_j)  (Bahdanau)\n"
                "α_tj = exp(e_tj) / Σ_k exp(e_tk)        (softmax over j)\n"
                "c_t = Σ_j α_tj h_j",
        use_case="Sequence-to-sequence models (translation, summarisation): wire the encoder's "
                 "states (an RNN's y, N × T × H) to 'key' and the decoder's states to "
                 "'query', join [s_t, c_t] with a Concat and predict y_t = softmax(W [s_t, "
                 "c_t] + b). The weights α are the alignment between output and input "
                 "positions: the attention heatmap.",
        notes=_SEED_ATTENTION + "The seed's score function 'can be dot product, "
              "multiplicative, or additive': 'dot' has no weights, 'general' learns W "
              "(D_q × D_k), 'additive' learns W_1, W_2 and v. Padded encoder steps (True in "
              "key_padding_mask) get weight 0.",
    ),
)


# Scaled dot-product attention -------------------------------------------------------------

def _sdpa_shape(ctx):
    q = _real(ctx, "query", (3, 4), "queries Q: N × T_q × d_k (or N × H × T_q × d_k, a "
                                    "heads axis)")
    r = len(q.shape)
    k = _real(ctx, "key", (r,), "keys K: N × T_k × d_k" if r == 3 else
              "keys K: N × H × T_k × d_k, like the queries")
    v = _real(ctx, "value", (r,), "values V: N × T_k × d_v" if r == 3 else
              "values V: N × H × T_k × d_v, like the queries")
    for port, t in (("key", k), ("value", v)):
        if t.shape[1:-2] != q.shape[1:-2]:
            ctx.fail(f"needs as many heads on '{port}' as on 'query' ({q.shape[1]}) but "
                     f"'{ctx.src(port)}' gives {t}", port)
    if k.shape[-1] != q.shape[-1]:
        ctx.fail(f"compares queries and keys by their dot product, so they need the same d_k, "
                 f"but '{ctx.src('query')}' gives {q.shape[-1]} features and "
                 f"'{ctx.src('key')}' gives {k.shape[-1]}", "key")
    t_q, t_k = q.shape[-2], k.shape[-2]
    _values(ctx, v, t_k)
    _key_padding(ctx, t_k)
    _attn_mask(ctx, t_q, t_k)
    lead = q.shape[:-2]
    return {"out": TensorType((*lead, t_q, v.shape[-1])),
            "weights": TensorType((*lead, t_q, t_k))}


SCALED_DOT_PRODUCT = NodeSpec(
    type="ScaledDotProductAttention", title="Scaled dot-product attention", category=CAT,
    id_prefix="sdpa",
    inputs=(Port("query", doc="Q: N × T_q × d_k (or N × H × T_q × d_k)"),
            Port("key", doc="K: N × T_k × d_k"),
            Port("value", doc="V: N × T_k × d_v"),
            _KEY_PADDING, _ATTN_MASK),
    outputs=(Port("out", path=(0,), doc="softmax(Q Kᵀ / √d_k) V: N × T_q × d_v"),
             Port("weights", path=(1,), doc="softmax(Q Kᵀ / √d_k): N × T_q × T_k")),
    params=(_CAUSAL,),
    shape=_sdpa_shape,
    build=lambda ctx: Call("ops.scaled_dot_product_attention",
                           {"causal": True} if ctx.p["causal"] else {}),
    color=COLOR,
    doc=Doc(
        summary="The Transformer's attention: each query is compared with every key by a dot "
                "product scaled by √d_k, the scores go through a softmax, and the result is "
                "the weighted sum of the values. No weights of its own: Q, K and V come from "
                "Linear layers (Q = W_Q x, K = W_K x, V = W_V x).",
        formula="Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V\n"
                "masked (True): the score is −∞ before the softmax, so the weight is 0",
        use_case="Self-attention (Q, K and V from the same sequence) and cross-attention (Q "
                 "from the decoder, K and V from the encoder) in a Transformer built from "
                 "its parts; with causal on, a decoder position sees only the positions "
                 "before it.",
        notes="Dividing by √d_k keeps the dot products from growing with the feature size, "
              "which would push the softmax into regions with tiny gradients. The values are "
              "computed by torch's scaled_dot_product_attention (a fused kernel where the "
              "device has one); the weights by the formula. Inputs may carry a heads axis "
              "(N × H × T × d) for a hand-built multi-head layer.",
    ),
)


# Multi-head attention ---------------------------------------------------------------------

def _mha_shape(ctx):
    q = _real(ctx, "query", (3,), "queries N × T_q × E")
    k = _real(ctx, "key", (3,), "keys N × T_k × kdim")
    v = _real(ctx, "value", (3,), "values N × T_k × vdim")
    e = check_features(ctx, "query", ctx.p["embed_dim"], q.shape[-1], "features (embed_dim)")
    h = ctx.p["num_heads"]
    if e % h:
        some = ", ".join(str(d) for d in range(1, min(e, 64) + 1) if e % d == 0)
        ctx.fail(f"splits the {e} features of '{ctx.src('query')}' (embed_dim) into "
                 f"{h} heads, but {e} is not a multiple of {h}: choose num_heads among "
                 f"{some}{', …' if e > 64 else ''}", "query")
    t_q, t_k = q.shape[1], k.shape[1]
    _values(ctx, v, t_k)
    _key_padding(ctx, t_k)
    _attn_mask(ctx, t_q, t_k)
    return {"out": TensorType((q.shape[0], t_q, e)),
            "weights": TensorType((q.shape[0], h, t_q, t_k))}


def _mha_build(ctx):
    p = ctx.p
    return Make("ops.MultiHeadAttention", {
        "embed_dim": ctx.ins["query"].shape[-1], "num_heads": p["num_heads"],
        "kdim": ctx.ins["key"].shape[-1], "vdim": ctx.ins["value"].shape[-1],
        "bias": p["bias"], "dropout": p["dropout"], "causal": p["causal"]})


MULTI_HEAD = NodeSpec(
    type="MultiHeadAttention", title="Multi-head attention", category=CAT, id_prefix="mha",
    inputs=(Port("query", doc="N × T_q × E (the sequence itself for self-attention)"),
            Port("key", role="keys", doc="N × T_k × kdim"),
            Port("value", doc="N × T_k × vdim"),
            _KEY_PADDING, _ATTN_MASK),
    outputs=(Port("out", path=(0,), doc="[head_1, …, head_h] W^O: N × T_q × E"),
             Port("weights", path=(1,), role="attention",
                  doc="each head's attention weights: N × H × T_q × T_k")),
    params=(Param("num_heads", "int", 4, "Heads h: attention run h times in parallel, each "
                  "on E / h features with its own W^Q, W^K, W^V. E must be a multiple of h.",
                  min=1, max=1024),
            Param("embed_dim", "int", None, "Features E of the query (and of the output). "
                  "Auto takes them from the input; set it to have the layer check.",
                  min=1, auto=True),
            Param("bias", "bool", True, "Learn biases in the projections of Q, K, V and of "
                  "the output."),
            Param("dropout", "float", 0.0, "Dropout on the attention weights while training "
                  "(the Transformer paper used 0.1).", min=0.0, max=0.99),
            _CAUSAL),
    shape=_mha_shape, build=_mha_build, color=COLOR,
    doc=Doc(
        summary="The Transformer's multi-head attention: Q, K and V are projected h times "
                "with different learned matrices, scaled dot-product attention runs on each "
                "projection in parallel, and the heads' results are concatenated and "
                "projected back to E features.",
        formula="head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),   d_k = E / h\n"
                "Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V\n"
                "MultiHead(Q, K, V) = [head_1, …, head_h] W^O",
        use_case="Transformer encoder layers (self-attention: the same sequence on query, key "
                 "and value, with a key padding mask) and decoder layers (causal "
                 "self-attention, then cross-attention with the encoder's output as key and "
                 "value). Each head can attend to a different relation between positions.",
        notes="The seed notes: 'the attention mechanism is run multiple times in parallel "
              "(with different sets of weight matrices) and the results are concatenated'. "
              "The weights have torch.nn.MultiheadAttention's names and layout "
              "(in_proj_weight, in_proj_bias, out_proj), so they load into it and back. The "
              "weights output is each head's (average over the heads for torch's "
              "average_attn_weights); it is not dropped out.",
    ),
)


# Positional encoding ----------------------------------------------------------------------

def _pe_shape(ctx):
    x = _real(ctx, "x", (3,), "a sequence N × T × D (token embeddings)")
    t = x.shape[1]
    if isinstance(t, int) and t > ctx.p["max_len"]:
        ctx.fail(f"holds {ctx.p['max_len']} positions (max_len) but the sequence from "
                 f"'{ctx.src('x')}' has {t} steps: raise max_len", "x")
    return {"y": x}


POSITIONAL_ENCODING = NodeSpec(
    type="PositionalEncoding", title="Positional encoding", category=CAT, id_prefix="posenc",
    inputs=(Port("x", doc="a sequence N × T × D, T ≤ max_len"),),
    outputs=(Port("y", doc="x + PE[:T], N × T × D"),),
    params=(Param("kind", "choice", "sinusoidal",
                  "'sinusoidal': the Transformer paper's fixed sines and cosines of the "
                  "position (no weights). 'learned': a trained vector per position.",
                  choices=("sinusoidal", "learned")),
            Param("max_len", "int", 512, "The most positions a sequence may have: the size "
                  "of the table.", min=1, max=1_000_000, role="max_positions")),
    shape=_pe_shape,
    build=lambda ctx: Make("ops.PositionalEncoding", {"d_model": ctx.ins["x"].shape[-1],
                                                      "max_len": ctx.p["max_len"],
                                                      "kind": ctx.p["kind"]}),
    color=COLOR,
    doc=Doc(
        summary="Adds to each step of a sequence a vector that says where it is, so a "
                "Transformer, which has no recurrence, can tell the order of its inputs.",
        formula="PE(pos, 2i)   = sin(pos / 10000^(2i / D))\n"
                "PE(pos, 2i+1) = cos(pos / 10000^(2i / D))\n"
                "y[n, t] = x[n, t] + PE(t)        (learned: PE is a trained max_len × D table)",
        use_case="Right after the Embedding of a Transformer's encoder and decoder inputs. "
                 "Self-attention treats its inputs as a set: without a position signal, "
                 "'the dog bit the man' and 'the man bit the dog' look the same.",
        notes="Sinusoidal encodings need no training and give each position a unique code "
              "whose nearby positions are similar; learned ones can fit the data better but "
              "know nothing past the lengths seen in training. The Transformer paper also "
              "multiplies the embeddings by √D before adding.",
    ),
)


# LayerNorm --------------------------------------------------------------------------------

def _layernorm_shape(ctx):
    x = _real(ctx, "x", (2, 3, 4, 5, 6), "features N × D (or N × T × D)")
    check_features(ctx, "x", ctx.p["num_features"], x.shape[-1], "features (the last dim)")
    return {"y": x}


LAYER_NORM = NodeSpec(
    type="LayerNorm", title="LayerNorm", category="Normalization", id_prefix="ln",
    inputs=(Port("x", doc="N × … × D: normalised over the last dim D"),),
    outputs=(Port("y"),),
    params=(Param("num_features", "int", None, "Features D of the last dim; auto takes them "
                  "from the input.", min=1, auto=True),
            Param("eps", "float", 1e-5, "ε added to the variance for stability.", min=0.0),
            Param("elementwise_affine", "bool", True, "Learn a scale γ and a shift β per "
                  "feature.")),
    shape=_layernorm_shape,
    build=lambda ctx: Make("nn.LayerNorm", {"normalized_shape": ctx.ins["x"].shape[-1],
                                            "eps": ctx.p["eps"],
                                            "elementwise_affine": ctx.p["elementwise_affine"]}),
    color=COLORS["Normalization"],
    doc=Doc(
        summary="Normalises each position's feature vector to zero mean and unit variance "
                "over its D features, then scales and shifts it with learned γ and β.",
        formula="μ = (1/D) Σ_i x_i        σ² = (1/D) Σ_i (x_i − μ)²\n"
                "y = γ ⊙ (x − μ) / √(σ² + ε) + β",
        use_case="Inside every Transformer layer, around each sub-layer: "
                 "y = LayerNorm(x + Sublayer(x)) (with an Add for the residual connection).",
        notes="Unlike BatchNorm it uses no batch statistics: each position is normalised on "
              "its own, the same in training and at inference, with any batch size or "
              "sequence length.",
    ),
)


# Masks ------------------------------------------------------------------------------------

def _causal_shape(ctx):
    x = ctx.ins["x"]
    if len(x.shape) not in (2, 3):
        ctx.fail(f"needs a sequence N × T (token ids) or N × T × D but '{ctx.src('x')}' gives "
                 f"{x}", "x")
    t = x.shape[1]
    return {"mask": TensorType((t, t), "bool")}


CAUSAL_MASK = NodeSpec(
    type="CausalMask", title="Causal mask", category=CAT, id_prefix="causal",
    inputs=(Port("x", doc="the sequence whose length T the mask takes: N × T or N × T × D"),),
    outputs=(Port("mask", doc="bool T × T, True above the diagonal (the future)"),),
    params=(),
    shape=_causal_shape, build=lambda ctx: Call("ops.causal_mask", {}), color=COLOR,
    doc=Doc(
        summary="The mask that keeps a decoder from reading ahead: position t may attend to "
                "positions 0 … t only. Wire it to an attention node's attn_mask.",
        formula="mask[t, j] = (j > t)        bool T × T, True = masked out",
        use_case="The decoder's self-attention in a Transformer trained with teacher "
                 "forcing: every position is predicted at once, and the mask makes each one "
                 "see only the tokens before it, as at inference.",
        notes="The same as the attention nodes' causal param, shown on the canvas.",
    ),
)


def _padding_shape(ctx):
    x = ctx.ins["x"]
    if x.dtype != "int64" or len(x.shape) != 2:
        ctx.fail(f"takes token ids N × T (int64) but '{ctx.src('x')}' gives {x}", "x")
    return {"mask": TensorType(x.shape, "bool")}


PADDING_MASK = NodeSpec(
    type="PaddingMask", title="Padding mask", category=CAT, id_prefix="padmask",
    inputs=(Port("x", doc="token ids N × T (int64)"),),
    outputs=(Port("mask", doc="bool N × T, True at padding"),),
    params=(Param("pad_id", "int", 0, "The token id that fills sequences up to the batch's "
                  "length.", min=0, max=10_000_000),),
    shape=_padding_shape,
    build=lambda ctx: Call("ops.padding_mask", {"pad_id": ctx.p["pad_id"]}), color=COLOR,
    doc=Doc(
        summary="Marks the padding in a batch of token sequences, so attention gives the "
                "padded steps no weight. Wire it to an attention node's key_padding_mask.",
        formula="mask[n, t] = (x[n, t] = pad_id)        bool N × T, True = padding",
        use_case="Sequences of different lengths (dates written in different ways) padded to "
                 "one length: the encoder's padded steps must not take part in attention.",
    ),
)

SPECS = (ATTENTION, SCALED_DOT_PRODUCT, MULTI_HEAD, POSITIONAL_ENCODING, LAYER_NORM,
         CAUSAL_MASK, PADDING_MASK)
