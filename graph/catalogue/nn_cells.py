"""torch.nn's recurrent cells (RNNCell, LSTMCell, GRUCell), Transformer encoder and decoder
layers, and EmbeddingBag (issue 26). Each family is generated from one table.

Every entry builds the torch class itself (Make("nn.<Class>")), so the compiled module IS that
class and its state_dict keys are torch's: a model built of these nodes loads a PyTorch
checkpoint as it is. A cell computes one time step (N × input_size → N × hidden_size); the
Transformer layers are batch first (batch_first=True: N × T × E). Masks follow torch: bool
(True = masked out) or float (added to the scores), both of a pair of the same kind.
"""
from __future__ import annotations

from typing import NamedTuple

from ..spec import BATCH, Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import COLORS, INIT


def _real(ctx, port: str, ranks: tuple[int, ...], what: str) -> TensorType:
    """The float32 type on `port`, of one of `ranks` dims (batch included)."""
    t = ctx.ins[port]
    if t.dtype != "float32":
        ctx.fail(f"needs real numbers (float32) on '{port}' but '{ctx.src(port)}' gives {t}"
                 + ("" if t.dtype == "bool" else ": token ids go through an Embedding first"),
                 port)
    if len(t.shape) not in ranks:
        ctx.fail(f"needs {what} on '{port}' but '{ctx.src(port)}' gives {t}", port)
    return t


def _size(ctx, port: str, declared, got, noun: str) -> int:
    """A size the input sets (the last one), checked against the param when that is set."""
    if not isinstance(got, int):
        ctx.fail(f"needs a known number of {noun} on '{port}' but '{ctx.src(port)}' gives "
                 f"{ctx.ins[port]} (a size name): its weights are made for a number", port)
    if declared is not None and declared != got:
        ctx.fail(f"expects {declared} {noun} on '{port}' but '{ctx.src(port)}' gives {got}",
                 port)
    return got


# Recurrent cells ------------------------------------------------------------------------

class _Cell(NamedTuple):
    type: str
    prefix: str
    gates: str  # the gates' rows in weight_ih and weight_hh, torch's order
    states: tuple[str, ...]  # the outputs: h (and c)
    takes_state: bool  # whether the previous h comes in on 'hx'
    extra: tuple[Param, ...]
    summary: str
    formula: str
    use_case: str
    notes: str


_ONE_STEP = ("One time step per call: put it in a recurrent loop block with its h output "
             "fed back to its hx input, or unroll it by hand; the whole-sequence layer (RNN, "
             "GRU) runs the same step over every t in one node. h starts at zeros when 'hx' "
             "is not wired. ")

_CELLS = (
    _Cell("RNNCell", "rnncell", "", ("h",), True,
          (Param("nonlinearity", "choice", "tanh", "The activation f: tanh (the classic "
                 "Elman cell) or relu.", choices=("tanh", "relu")),),
          "One step of a plain (Elman) RNN: the new hidden state from this step's input and "
          "the previous hidden state.",
          "h′ = f(W_ih x + b_ih + W_hh h + b_hh)        f = tanh or ReLU\n"
          "W_ih: H × input_size,  W_hh: H × H",
          "The step of a hand-built recurrent loop, or of a decoder that feeds its own output "
          "back. Example: input_size 1, H = 1, W_ih = 0.5, W_hh = −1, b_ih = 0.1, b_hh = 0.2, "
          "x = 2, h = 1: h′ = tanh(1 + 0.1 − 1 + 0.2) = tanh(0.3) = 0.2913.",
          _ONE_STEP + "Through many steps its gradient vanishes or explodes (|f′| ≤ 1 "
                      "for tanh): prefer the gated cells for long sequences."),
    _Cell("LSTMCell", "lstmcell", "i, f, g, o", ("h", "c"), False, (),
          "One step of an LSTM: input, forget and output gates decide what the memory cell c "
          "takes in, keeps and shows as the new hidden state h.",
          "i = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate\n"
          "f = σ(W_if x + b_if + W_hf h + b_hf)        forget gate\n"
          "g = tanh(W_ig x + b_ig + W_hg h + b_hg)     candidate cell\n"
          "o = σ(W_io x + b_io + W_ho h + b_ho)        output gate\n"
          "c′ = f ⊙ c + i ⊙ g        h′ = o ⊙ tanh(c′)",
          "The first step of an LSTM decoder, or a PyTorch model's nn.LSTMCell imported as "
          "it is. Example (H = 1, h = c = 0, biases 0): x = 1 with W_ii = 1, W_ig = 2, "
          "W_io = 1 gives c′ = σ(1)·tanh(2) = 0.7048 and h′ = σ(1)·tanh(0.7048) = 0.4440.",
          "One time step from h = c = 0: torch takes the previous state as one (h, c) pair, "
          "which a wire cannot carry yet, so this node has no state input and cannot be fed "
          "back in a loop; for a whole sequence use the LSTM node (it takes h0 and c0). The "
          "cell state c runs on with element-wise changes only, so its gradient does not "
          "vanish as a plain RNN's does. weight_ih is 4H × input_size, weight_hh 4H × H."),
    _Cell("GRUCell", "grucell", "r, z, n", ("h",), True, (),
          "One step of a GRU: a reset gate r and an update gate z mix the previous hidden "
          "state with a candidate; no separate cell state.",
          "r = σ(W_ir x + b_ir + W_hr h + b_hr)        reset gate\n"
          "z = σ(W_iz x + b_iz + W_hz h + b_hz)        update gate\n"
          "n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))  candidate\n"
          "h′ = (1 − z) ⊙ n + z ⊙ h",
          "The step of a GRU decoder that feeds back its own predictions, or a PyTorch "
          "model's nn.GRUCell imported as it is. Example (all weights and biases 0): z = 0.5 "
          "and n = 0, so h′ = h / 2: an untrained cell halves its state each step.",
          _ONE_STEP + "The reset gate multiplies W_hn h + b_hn (torch's form), not h "
                      "before the product. weight_ih is 3H × input_size, weight_hh 3H × H."),
)


def _cell_shape(ctx, row: _Cell) -> dict:
    x = _real(ctx, "x", (2,), "one step's features N × input_size")
    _size(ctx, "x", ctx.p["input_size"], x.shape[1], "input features (input_size)")
    h = TensorType((x.shape[0], ctx.p["hidden_size"]))
    hx = ctx.ins.get("hx")
    if hx is not None:
        _real(ctx, "hx", (2,), f"the previous hidden state h, {h}")
        if hx.shape != h.shape:
            ctx.fail(f"takes the previous hidden state h as {h} (hidden_size "
                     f"{ctx.p['hidden_size']}) on 'hx' but '{ctx.src('hx')}' gives {hx}", "hx")
    return {name: h for name in row.states}


def _cell(row: _Cell) -> NodeSpec:
    names = [p.name for p in row.extra]
    ins = (Port("x", doc="this step's input x: N × input_size"),)
    if row.takes_state:
        ins += (Port("hx", optional=True, doc="the previous hidden state h: N × hidden_size; "
                                              "zeros when not wired"),)
    many = len(row.states) > 1
    rows = f"; the gates' rows in torch's order {row.gates}" if row.gates else ""
    outs = tuple(Port(s, path=(i,) if many else (),
                      doc=f"the new {'hidden' if s == 'h' else 'cell'} state {s}′: "
                          "N × hidden_size") for i, s in enumerate(row.states))
    return NodeSpec(
        type=row.type, title=row.type, category="Recurrent", id_prefix=row.prefix,
        inputs=ins, outputs=outs,
        params=(Param("hidden_size", "int", 64, f"Size H of the hidden state h"
                      f"{' and of the cell state c' if many else ''}.", min=1, max=65536),
                Param("bias", "bool", True, "Learn the biases b_ih and b_hh (both, as torch "
                      "has them)."),
                *row.extra,
                Param("input_size", "int", None, "Features of x; auto takes them from the "
                      "input.", min=1, auto=True)),
        shape=lambda ctx: _cell_shape(ctx, row),
        build=lambda ctx: Make(f"nn.{row.type}", {
            "input_size": ctx.ins["x"].shape[1], "hidden_size": ctx.p["hidden_size"],
            "bias": ctx.p["bias"], **{n: ctx.p[n] for n in names}}),
        color=COLORS["Recurrent"],
        doc=Doc(summary=row.summary, formula=row.formula, use_case=row.use_case,
                notes=f"{row.notes} Weights as torch names them: weight_ih, weight_hh (and "
                      f"bias_ih, bias_hh with bias on){rows}."))


# Transformer layers ---------------------------------------------------------------------

class _Layer(NamedTuple):
    type: str
    title: str
    prefix: str
    main: str  # the sequence port: 'src' or 'tgt'
    memory: bool  # the decoder: cross-attention to the encoder's output on 'memory'
    summary: str
    formula: str
    use_case: str
    notes: str


def _mask(ctx, port: str, want: tuple, nhead: int, what: str) -> None:
    """An optional mask on `port` of the shape `want`. An attention mask (T_q × T_k) may also
    be one per sample, N × T_q × T_k, where torch takes it: with one head only (torch wants
    (N·nhead) × T_q × T_k, which a graph cannot give)."""
    m = ctx.ins.get(port)
    if m is None:
        return
    if m.dtype not in ("bool", "float32"):
        ctx.fail(f"takes a bool mask (True = masked out) or a float one (added to the "
                 f"scores) on '{port}' but '{ctx.src(port)}' gives {m}", port)
    got, attention = tuple(m.shape), want[0] != BATCH
    if attention and got == (BATCH, *want):
        if nhead == 1:
            return
        ctx.fail(f"takes an attention mask {TensorType(want)} on '{port}' but "
                 f"'{ctx.src(port)}' gives one per sample ({m}): torch wants those as "
                 f"(N·nhead) × {TensorType(want)}, which works with nhead = 1 only", port)
    if got != want:
        ctx.fail(f"takes {what} {TensorType(want)} on '{port}' but '{ctx.src(port)}' gives "
                 f"{m}", port)


def _pair(ctx, attn: str, padding: str) -> None:
    a, k = ctx.ins.get(attn), ctx.ins.get(padding)
    if a is not None and k is not None and a.dtype != k.dtype:
        ctx.fail(f"needs '{attn}' and '{padding}' of the same kind (torch no longer mixes a "
                 f"{a.dtype} mask with a {k.dtype} one) but '{ctx.src(attn)}' gives {a} and "
                 f"'{ctx.src(padding)}' gives {k}", padding)


def _layer_shape(ctx, row: _Layer) -> dict:
    main, p = row.main, ctx.p
    x = _real(ctx, main, (3,), "a sequence N × T × E (batch first)")
    e = _size(ctx, main, p["d_model"], x.shape[2], "features (d_model)")
    h = p["nhead"]
    if e % h:
        some = ", ".join(str(d) for d in range(1, min(e, 64) + 1) if e % d == 0)
        ctx.fail(f"splits the {e} features of '{ctx.src(main)}' on '{main}' into {h} heads "
                 f"(d_model / nhead), but {e} is not a multiple of {h}: choose nhead among "
                 f"{some}{', …' if e > 64 else ''}", main)
    t = x.shape[1]
    _mask(ctx, f"{main}_mask", (t, t), h, "an attention mask T × T (one row and column per "
                                          "step)")
    _mask(ctx, f"{main}_key_padding_mask", (BATCH, t), h, "a key padding mask N × T")
    _pair(ctx, f"{main}_mask", f"{main}_key_padding_mask")
    if row.memory:
        m = _real(ctx, "memory", (3,), "the encoder's output N × S × E")
        if m.shape[0] != x.shape[0] or m.shape[2] != e:
            ctx.fail(f"attends from '{main}' ({x}) to 'memory' with the same d_model = {e} "
                     f"and batch, but '{ctx.src('memory')}' gives {m}", "memory")
        s = m.shape[1]
        _mask(ctx, "memory_mask", (t, s), h, "a cross-attention mask T × S")
        _mask(ctx, "memory_key_padding_mask", (BATCH, s), h, "a key padding mask N × S")
        _pair(ctx, "memory_mask", "memory_key_padding_mask")
    return {"y": TensorType((x.shape[0], t, e))}


def _layer_ports(row: _Layer) -> tuple[Port, ...]:
    m = row.main
    ins = [Port(m, doc="the sequence N × T × E (" + ("the target, shifted right"
                                                     if row.memory else "the source") + ")")]
    if row.memory:
        ins.append(Port("memory", doc="the encoder's output N × S × E"))
    ins += [Port(f"{m}_mask", optional=True, doc="T × T, bool (True = may not attend) or "
                                                 "float (added); a Causal mask node makes one"),
            Port(f"{m}_key_padding_mask", optional=True, doc="N × T, True at padded steps; "
                                                             "a Padding mask node makes one")]
    if row.memory:
        ins += [Port("memory_mask", optional=True, doc="T × S, as tgt_mask"),
                Port("memory_key_padding_mask", optional=True,
                     doc="N × S, True at the encoder's padded steps")]
    return tuple(ins)


_SUBLAYERS = ("Each sub-layer is x + Dropout(Sublayer(x)) then LayerNorm (post-norm, the "
              "paper's); norm_first puts the LayerNorm before the sub-layer instead "
              "(pre-norm: x + Sublayer(LayerNorm(x)), steadier for deep stacks). The module is "
              "torch's nn.{type} with batch_first=True, so its state_dict keys (self_attn."
              "in_proj_weight, linear1, linear2, norm1, …) are torch's. ")

_LAYERS = (
    _Layer("TransformerEncoderLayer", "Transformer encoder layer", "encoder", "src", False,
           "One layer of the Transformer's encoder: multi-head self-attention (every step "
           "looks at every step) then a two-layer feed-forward network, each with a residual "
           "connection and LayerNorm.",
           "a = x + Dropout(MultiHead(x, x, x))        z = LayerNorm₁(a)\n"
           "y = LayerNorm₂(z + Dropout(W₂ Dropout(act(W₁ z + b₁)) + b₂))\n"
           "head = softmax(Q Kᵀ / √(E / nhead) + M) V, the heads concatenated · W_O\n"
           "M = −∞ where a bool mask is True (0 elsewhere), or the float mask itself",
           "Stacked 6 times in the original Transformer's encoder (d_model 512, nhead 8, "
           "dim_feedforward 2048) and 12 in BERT-base (768, 12, 3072, GELU). Example: token "
           "ids N × 20 → Embedding (64) → Positional encoding → this layer (nhead 4) gives "
           "N × 20 × 64; a Padding mask of the ids on src_key_padding_mask keeps padded steps "
           "out of the attention.",
           _SUBLAYERS.format(type="TransformerEncoderLayer") +
           "Dropout is active in training only. Weights (bias on): 4·E² + 4·E in the attention, "
           "2·E·dim_feedforward + dim_feedforward + E in the feed-forward, 4·E in the norms."),
    _Layer("TransformerDecoderLayer", "Transformer decoder layer", "decoder", "tgt", True,
           "One layer of the Transformer's decoder: masked self-attention over the target, "
           "cross-attention to the encoder's output (memory), then the feed-forward network, "
           "each with a residual connection and LayerNorm.",
           "a = LayerNorm₁(x + Dropout(MultiHead(x, x, x; tgt_mask)))\n"
           "b = LayerNorm₂(a + Dropout(MultiHead(a, m, m; memory_mask)))        m = memory\n"
           "y = LayerNorm₃(b + Dropout(W₂ Dropout(act(W₁ b + b₁)) + b₂))",
           "Stacked 6 times in the original Transformer's decoder for translation: the target "
           "tokens so far (N × T × E) attend to themselves through a Causal mask on tgt_mask, "
           "so step t sees steps ≤ t only, and to the encoder's N × S × E output. T and S may "
           "differ (a 12-word sentence translated into 15).",
           _SUBLAYERS.format(type="TransformerDecoderLayer") +
           "Without a mask on tgt_mask every target step sees the whole target, including the "
           "token it must predict: wrong for a generator trained with teacher forcing."),
)

_LAYER_PARAMS = (
    Param("nhead", "int", 8, "Attention heads; d_model must be a multiple of nhead (each "
          "head gets d_model / nhead features).", min=1, max=1024),
    Param("dim_feedforward", "int", 2048, "Hidden units of the feed-forward network (W₁: "
          "E → dim_feedforward, W₂ back to E).", min=1, max=1_000_000),
    Param("dropout", "float", 0.1, "Dropout on the attention weights, inside the "
          "feed-forward network and on each sub-layer's output (training only).", min=0.0,
          max=1.0),
    Param("activation", "choice", "relu", "The feed-forward network's activation: relu (the "
          "paper's) or gelu (BERT, GPT).", choices=("relu", "gelu")),
    Param("layer_norm_eps", "float", 1e-5, "ε added to the variance in each LayerNorm.",
          min=0.0),
    Param("norm_first", "bool", False, "Pre-norm: LayerNorm before each sub-layer rather "
          "than after the residual sum."),
    Param("bias", "bool", True, "Learn biases in the attention's projections, the "
          "feed-forward layers and the LayerNorms."),
    Param("d_model", "int", None, "Features E of every step; auto takes them from the input.",
          min=1, auto=True),
)


def _layer(row: _Layer) -> NodeSpec:
    names = [p.name for p in _LAYER_PARAMS if p.name != "d_model"]
    return NodeSpec(
        type=row.type, title=row.title, category="Attention", id_prefix=row.prefix,
        inputs=_layer_ports(row), outputs=(Port("y", doc="N × T × E, as the input"),),
        params=_LAYER_PARAMS, shape=lambda ctx: _layer_shape(ctx, row),
        build=lambda ctx: Make(f"nn.{row.type}", {
            "d_model": ctx.ins[row.main].shape[2], **{n: ctx.p[n] for n in names},
            "batch_first": True}),
        color=COLORS["Attention"],
        doc=Doc(summary=row.summary, formula=row.formula, use_case=row.use_case,
                notes=row.notes))


# EmbeddingBag ---------------------------------------------------------------------------

def _bag_shape(ctx) -> dict:
    p, x = ctx.p, ctx.ins["x"]
    if x.dtype != "int64" or len(x.shape) != 2:
        ctx.fail(f"takes bags of token ids N × L (int64) on 'x' but '{ctx.src('x')}' gives "
                 f"{x}" + (": set the Input's dtype to int64" if x.dtype != "int64" else ""),
                 "x")
    n, pad = p["num_embeddings"], p["padding_idx"]
    if pad is not None and not -n <= pad < n:
        ctx.fail(f"has padding_idx {pad} outside its {n} embeddings (−{n} to {n - 1})")
    if p["mode"] == "max" and p["scale_grad_by_freq"]:
        ctx.fail("cannot scale the gradient by the frequency in mode 'max' (torch refuses): "
                 "turn scale_grad_by_freq off or choose 'mean' or 'sum'")
    w = ctx.ins.get("per_sample_weights")
    if w is not None:
        if p["mode"] != "sum":
            ctx.fail(f"weights each id only in mode 'sum' (torch refuses per_sample_weights "
                     f"with mode '{p['mode']}'): choose mode 'sum' or unwire "
                     f"'{ctx.src('per_sample_weights')}'", "per_sample_weights")
        _real(ctx, "per_sample_weights", (2,), f"one weight per id, {x}")
        if w.shape != x.shape:
            ctx.fail(f"takes one weight per id of '{ctx.src('x')}' ({TensorType(x.shape)}) "
                     f"on 'per_sample_weights' but '{ctx.src('per_sample_weights')}' gives "
                     f"{w}", "per_sample_weights")
    return {"y": TensorType((x.shape[0], p["embedding_dim"]))}


EMBEDDING_BAG = NodeSpec(
    type="EmbeddingBag", title="EmbeddingBag", category="Recurrent", id_prefix="embbag",
    inputs=(Port("x", role="token_ids", doc="a bag of token ids per sample (int64), N × L"),
            Port("per_sample_weights", optional=True,
                 doc="a weight per id, N × L (mode 'sum' only); 1 when not wired")),
    outputs=(Port("y", doc="one vector per bag, N × embedding_dim"),),
    params=(Param("num_embeddings", "int", 128, "How many different tokens there are (the "
                  "vocabulary size): ids run from 0 to num_embeddings − 1.", min=1,
                  max=10_000_000, role="vocabulary"),
            Param("embedding_dim", "int", 32, "Size D of each token's vector (and of the "
                  "bag's).", min=1, max=65536),
            Param("mode", "choice", "mean", "How a bag's vectors combine: their mean, sum or "
                  "element-wise max.", choices=("mean", "sum", "max")),
            Param("padding_idx", "int", None, "A token id left out of every bag (its vector "
                  "stays 0 and gets no gradient); auto: none. Negative counts from the end.",
                  min=-10_000_000, max=10_000_000, auto=True),
            Param("max_norm", "float", None, "Rescale each looked-up vector whose norm "
                  "exceeds this to this norm (changes the table in place); auto: never.",
                  min=0.0, auto=True),
            Param("norm_type", "float", 2.0, "The p of the p-norm max_norm measures.",
                  min=0.1, max=100.0),
            Param("scale_grad_by_freq", "bool", False, "Divide each id's gradient by how "
                  "often it occurs in the batch (not in mode 'max')."),
            INIT),
    shape=_bag_shape,
    build=lambda ctx: Make("nn.EmbeddingBag", {
        k: ctx.p[k] for k in ("num_embeddings", "embedding_dim", "mode", "padding_idx",
                              "max_norm", "norm_type", "scale_grad_by_freq")},
        init=ctx.p["init"]),
    color=COLORS["Recurrent"],
    doc=Doc(
        summary="Looks up each token id of a bag in a learned table and combines the bag's "
                "vectors into one (mean, sum or max), without making the N × L × D "
                "intermediate an Embedding would.",
        formula="y[n] = mean_l E[x[n, l]]   (sum: Σ_l w[n, l] · E[x[n, l]];  max: "
                "max_l E[x[n, l]] per feature)\n"
                "E ∈ ℝ^(num_embeddings × embedding_dim); ids equal to padding_idx are left "
                "out",
        use_case="Bag-of-words text classification (fastText): a sentence's word ids → "
                 "EmbeddingBag (mean) → Linear → class scores; recommender features with "
                 "several values per sample. Example: rows E[0] = [1, 2], E[2] = [3, 0]; the "
                 "bag [0, 2] gives [2, 1] in mode 'mean', [4, 2] in 'sum', [3, 2] in 'max'.",
        notes="The same as Embedding followed by a mean (or sum, max) over the ids' axis, in "
              "one faster step. Bags here are the rows of an N × L tensor, all of length L: "
              "pad shorter ones with padding_idx. Weights: one table 'weight', torch's key.",
    ),
)

SPECS = (*(_cell(r) for r in _CELLS), *(_layer(r) for r in _LAYERS), EMBEDDING_BAG)
