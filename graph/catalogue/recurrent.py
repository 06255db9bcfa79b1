"""Recurrent layers and what sequences need around them: Embedding, RNN, LSTM, GRU, and the
nodes that take a time step, slice the time axis or permute axes.

Sequences are batch first: N × T × F (T may be a size name such as "T", set by the data).
States are batch first too: h and c are N × (num_layers · directions) × H, so a state can be
bound to data or wired from one recurrent node into another (an encoder's final h into a
decoder's h0) without a transpose. The formulas are the seed notes'.
"""
from __future__ import annotations

from ..spec import BATCH, Call, Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import COLORS, check_features, need_float, need_rank

RECURRENT_COLOR = COLORS["Recurrent"]

CAT = "Recurrent"
SEQ = "Sequence"

_HIDDEN = Param("hidden_size", "int", 64, "Size H of the hidden state h_t (and of the cell "
                "state c_t of an LSTM).", min=1, max=65536)
_LAYERS = Param("num_layers", "int", 1, "Recurrent layers stacked: each one reads the hidden "
                "states of the one below as its input sequence.", min=1, max=32)
_BIDIR = Param("bidirectional", "bool", False, "Also read the sequence backwards and "
               "concatenate both directions' hidden states (y gets 2·H features).")
_DROPOUT = Param("dropout", "float", 0.0, "Dropout between stacked layers (on the outputs of "
                 "each layer but the last); needs num_layers ≥ 2.", min=0.0, max=0.99)
_INPUT = Param("input_size", "int", None, "Features per time step. Leave on auto to take it "
               "from the incoming sequence.", min=1, auto=True)

_STATE_DOC = "N × (num_layers · directions) × H"


def _recurrent_shape(ctx, cell: bool) -> dict:
    x = need_float(ctx, "x")
    need_rank(ctx, "x", (3,), "a sequence N × T × F (batch, time steps, features)")
    check_features(ctx, "x", ctx.p["input_size"], x.shape[-1], "features per time step")
    p = ctx.p
    d = 2 if p["bidirectional"] else 1
    state = TensorType((BATCH, p["num_layers"] * d, p["hidden_size"]))
    for port in ("h0", "c0") if cell else ("h0",):
        t = ctx.ins.get(port)
        if t is not None and (t.shape[1:] != state.shape[1:] or len(t.shape) != 3):
            ctx.fail(f"takes an initial state {state} on '{port}' but '{ctx.src(port)}' gives "
                     f"{t}", port)
    if p["dropout"] and p["num_layers"] < 2:
        ctx.fail("has dropout between layers but only one layer: set num_layers ≥ 2 or "
                 "dropout 0")
    out = {"y": TensorType((BATCH, x.shape[1], d * p["hidden_size"])), "h": state}
    if cell:
        out["c"] = state
    return out


def _recurrent_kwargs(ctx) -> dict:
    p = ctx.p
    return {"input_size": ctx.ins["x"].shape[-1], "hidden_size": p["hidden_size"],
            "num_layers": p["num_layers"], "bidirectional": p["bidirectional"],
            "dropout": p["dropout"]}


def _ports(cell: bool):
    ins = (Port("x", doc="the input sequence x_1 … x_T (N × T × F)"),
           Port("h0", optional=True, doc=f"initial hidden state h_0 ({_STATE_DOC}); zeros "
                                         "when not wired"))
    outs = [Port("y", path=(0,), doc="the hidden state at every step, h_1 … h_T (N × T × H)"),
            Port("h", path=(1, 0) if cell else (1,), doc=f"the final hidden state h_T "
                                                         f"({_STATE_DOC})")]
    if cell:
        ins += (Port("c0", optional=True, doc=f"initial cell state C_0 ({_STATE_DOC}); zeros "
                                              "when not wired"),)
        outs.append(Port("c", path=(1, 1), doc=f"the final cell state C_T ({_STATE_DOC})"))
    return ins, tuple(outs)


_RNN_IN, _RNN_OUT = _ports(cell=False)
_LSTM_IN, _LSTM_OUT = _ports(cell=True)

_GRADIENTS = ("Backpropagation through time multiplies the gradient by ∂h_t/∂h_(t−1) once per "
              "step: with tanh (|f′| ≤ 1) it shrinks exponentially over long sequences (the "
              "vanishing gradient: early inputs stop teaching the network), or grows "
              "exponentially (exploding). Remedies from the seed notes: LSTM or GRU gates, "
              "gradient clipping (on by default in the recurrent templates), ReLU, "
              "Xavier / He initialisation, L2 weight decay, batch normalization. "
              "How to see it: while training, the plot 'gradient per time step' shows the "
              "size of ∂L/∂x_t for every step t of this layer's input, on a log axis. A line "
              "that falls towards zero on the left (early steps many decades below the last "
              "ones) is the vanishing gradient: those steps no longer change the weights. On "
              "the adding problem a plain RNN's line drops by about six decades from t = 49 "
              "to t = 0 and its loss stays at the baseline; a trained LSTM's stays level.")

RNN = NodeSpec(
    type="RNN", title="RNN (Elman)", category=CAT, id_prefix="rnn",
    inputs=_RNN_IN, outputs=_RNN_OUT,
    params=(_HIDDEN, Param("nonlinearity", "choice", "tanh", "The activation f of the "
                           "recurrence: tanh (the classic), or relu.", choices=("tanh", "relu")),
            _LAYERS, _BIDIR, _DROPOUT, _INPUT),
    shape=lambda ctx: _recurrent_shape(ctx, cell=False),
    build=lambda ctx: Make("ops.RNN", {**_recurrent_kwargs(ctx),
                                       "nonlinearity": ctx.p["nonlinearity"]}),
    sequence_input="x",
    color=RECURRENT_COLOR,
    doc=Doc(
        summary="A simple recurrent network: a hidden state that is updated at every time step "
                "from the current input and the previous hidden state, so information from "
                "earlier in the sequence persists.",
        formula="h_t = f(W_x x_t + W_h h_(t−1) + b_h)        (f: tanh or ReLU)\n"
                "y_t = g(W_y h_t + b_y)   (a Linear after it, softmax or linear)",
        use_case="Sequences with short dependencies: time series, text, speech. Trained with "
                 "backpropagation through time (BPTT): the gradients of W_x and W_h sum the "
                 "contributions of every time step.",
        notes=_GRADIENTS,
    ),
)

LSTM = NodeSpec(
    type="LSTM", title="LSTM", category=CAT, id_prefix="lstm",
    inputs=_LSTM_IN, outputs=_LSTM_OUT,
    params=(_HIDDEN, _LAYERS, _BIDIR, _DROPOUT, _INPUT),
    shape=lambda ctx: _recurrent_shape(ctx, cell=True),
    build=lambda ctx: Make("ops.LSTM", _recurrent_kwargs(ctx)), sequence_input="x",
    color=RECURRENT_COLOR,
    doc=Doc(
        summary="Long Short-Term Memory: a recurrent layer with a memory cell C_t and three "
                "gates (forget, input, output) that control what the cell keeps, takes in and "
                "shows, so gradients flow over long sequences without vanishing.",
        formula="f_t = σ(W_f [h_(t−1), x_t] + b_f)          forget gate\n"
                "i_t = σ(W_i [h_(t−1), x_t] + b_i)          input gate\n"
                "C̃_t = tanh(W_C [h_(t−1), x_t] + b_C)       candidate cell\n"
                "C_t = f_t ⊙ C_(t−1) + i_t ⊙ C̃_t             cell state\n"
                "o_t = σ(W_o [h_(t−1), x_t] + b_o)          output gate\n"
                "h_t = o_t ⊙ tanh(C_t)                       hidden state",
        use_case="Long-term dependencies: language models, translation, speech, long time "
                 "series. On the adding problem (T = 50) an LSTM learns the sum of two marked "
                 "values far apart where a plain RNN stays at the baseline.",
        notes="The cell state runs through the sequence with only element-wise changes "
              "(f_t ⊙ C_(t−1)), so the gradient along it is not squashed at every step: the "
              "seed notes' remedy for the vanishing gradient in RNNs. " + _GRADIENTS,
    ),
)

GRU = NodeSpec(
    type="GRU", title="GRU", category=CAT, id_prefix="gru",
    inputs=_RNN_IN, outputs=_RNN_OUT,
    params=(_HIDDEN, _LAYERS, _BIDIR, _DROPOUT, _INPUT),
    shape=lambda ctx: _recurrent_shape(ctx, cell=False),
    build=lambda ctx: Make("ops.GRU", _recurrent_kwargs(ctx)), sequence_input="x",
    color=RECURRENT_COLOR,
    doc=Doc(
        summary="Gated Recurrent Unit: a simplified LSTM with fewer parameters. An update gate "
                "z_t and a reset gate r_t replace the three gates, and there is no separate "
                "cell state.",
        formula="z_t = σ(W_z [h_(t−1), x_t] + b_z)          update gate\n"
                "r_t = σ(W_r [h_(t−1), x_t] + b_r)          reset gate\n"
                "h̃_t = tanh(W_h [r_t ⊙ h_(t−1), x_t] + b_h)  candidate\n"
                "h_t = (1 − z_t) ⊙ h_(t−1) + z_t ⊙ h̃_t",
        use_case="The same tasks as an LSTM, with three weight blocks instead of four (about "
                 "25% fewer parameters) and often as accurate.",
        notes=_GRADIENTS,
    ),
)


def _embedding_shape(ctx):
    t = ctx.ins["x"]
    if t.dtype != "int64":
        ctx.fail(f"takes token ids (int64), but '{ctx.src('x')}' gives {t}: set the Input's "
                 "dtype to int64", "x")
    if len(t.shape) > 3:
        ctx.fail(f"takes token ids N or N × T, but '{ctx.src('x')}' gives {t}", "x")
    pad, n = ctx.p.get("padding_idx"), ctx.p["num_embeddings"]
    if pad is not None and not -n <= pad < n:
        ctx.fail(f"has padding_idx {pad}, outside the vocabulary's ids 0 to {n - 1} (or "
                 f"−{n} to −1)")
    return {"y": TensorType((*t.shape, ctx.p["embedding_dim"]))}


def _embedding_args(p: dict) -> dict:
    args = {"num_embeddings": p["num_embeddings"], "embedding_dim": p["embedding_dim"]}
    if p.get("padding_idx") is not None:  # unset: the module exactly as before
        args["padding_idx"] = p["padding_idx"]
    return args


EMBEDDING = NodeSpec(
    type="Embedding", title="Embedding", category=CAT, id_prefix="embed",
    inputs=(Port("x", role="token_ids", doc="token ids (int64), N × T"),), outputs=(Port("y"),),
    params=(Param("num_embeddings", "int", 128, "How many different tokens there are (the "
                  "vocabulary size): ids run from 0 to num_embeddings − 1.", min=1,
                  max=10_000_000, role="vocabulary"),
            Param("embedding_dim", "int", 32, "Size of each token's vector.", min=1,
                  max=65536),
            Param("padding_idx", "int", None, "A padding token id: its vector starts at 0 "
                  "and gets no gradient (the forward is unchanged); auto: none. Negative "
                  "counts from the end.", min=-10_000_000, max=10_000_000, auto=True)),
    shape=_embedding_shape,
    build=lambda ctx: Make("nn.Embedding", _embedding_args(ctx.p)),
    color=RECURRENT_COLOR,
    doc=Doc(
        summary="A lookup table that turns each token id (a character, a word) into a learned "
                "vector, so a recurrent layer or a Transformer can read text.",
        formula="y[n, t] = E[x[n, t]]        E ∈ ℝ^(num_embeddings × embedding_dim)",
        use_case="The first layer of a character or word language model: ids N × T become "
                 "vectors N × T × D for an LSTM.",
        notes="Equivalent to a one-hot vector times a weight matrix, without building the "
              "one-hot vector.",
    ),
)


def _time_axis(ctx):
    t = ctx.ins["x"]
    if len(t.shape) < 3:
        ctx.fail(f"needs a sequence N × T × F but '{ctx.src('x')}' gives {t}", "x")
    return t


def _step_shape(ctx):
    t = _time_axis(ctx)
    i, steps = ctx.p["index"], t.shape[1]
    if isinstance(steps, int) and not -steps <= i < steps:
        ctx.fail(f"takes step {i}, but the sequence from '{ctx.src('x')}' has {steps} steps", "x")
    return {"y": TensorType((t.shape[0], *t.shape[2:]), t.dtype)}


TIME_STEP = NodeSpec(
    type="TimeStep", title="Time step", category=SEQ, id_prefix="step",
    inputs=(Port("x"),), outputs=(Port("y"),),
    params=(Param("index", "int", -1, "Which step: 0 is the first, −1 the last.",
                  min=-1_000_000, max=1_000_000),),
    shape=_step_shape,
    build=lambda ctx: Call("ops.time_step", {"index": ctx.p["index"]}),
    color=COLORS["Sequence"],
    doc=Doc(
        summary="Takes one time step out of a sequence: by default the last one, which after "
                "an RNN holds what it has read of the whole sequence.",
        formula="y = x[:, t]        N × T × F  →  N × F",
        use_case="Sequence classification and regression read the last hidden state h_T: "
                 "LSTM → Time step (−1) → Linear.",
    ),
)


def _slice_shape(ctx):
    t = _time_axis(ctx)
    a, b = ctx.p["start"], ctx.p["stop"]
    steps = t.shape[1]
    if isinstance(steps, int):
        length = len(range(*slice(a, b).indices(steps)))
        if length == 0:
            ctx.fail(f"keeps no step of the {steps} from '{ctx.src('x')}' (start {a}, stop "
                     f"{b})", "x")
    else:
        length = steps if (a, b) == (0, None) else f"{steps}[{a}:{'' if b is None else b}]"
    return {"y": TensorType((t.shape[0], length, *t.shape[2:]), t.dtype)}


TIME_SLICE = NodeSpec(
    type="TimeSlice", title="Time slice", category=SEQ, id_prefix="slice",
    inputs=(Port("x"),), outputs=(Port("y"),),
    params=(Param("start", "int", 0, "First step kept (negative: counted from the end).",
                  min=-1_000_000, max=1_000_000),
            Param("stop", "int", None, "Step after the last one kept; auto: to the end.",
                  min=-1_000_000, max=1_000_000, auto=True)),
    shape=_slice_shape,
    build=lambda ctx: Call("ops.time_slice", {"start": ctx.p["start"], "stop": ctx.p["stop"]}),
    color=COLORS["Sequence"],
    doc=Doc(
        summary="Keeps a range of time steps of a sequence.",
        formula="y = x[:, start:stop]",
        use_case="Drop a warm-up, keep the last k steps, or align a prediction with a target "
                 "shifted by one step.",
    ),
)


def _permute_shape(ctx):
    t = ctx.ins["x"]
    dims = ctx.p["dims"]
    if sorted(dims) != list(range(len(t.shape))):
        ctx.fail(f"needs an order of all {len(t.shape)} axes of {t} (from '{ctx.src('x')}'), "
                 f"such as {list(range(len(t.shape)))[:1] + list(range(len(t.shape)))[:0:-1]}, "
                 f"but has {dims}", "x")
    if dims[0] != 0:
        ctx.fail("must keep the batch axis first (dims starting with 0)")
    return {"y": TensorType(tuple(t.shape[d] for d in dims), t.dtype)}


PERMUTE = NodeSpec(
    type="Permute", title="Permute axes", category=SEQ, id_prefix="permute",
    inputs=(Port("x"),), outputs=(Port("y"),),
    params=(Param("dims", "axes", [0, 2, 1], "The new order of the axes, batch first: "
                  "[0, 2, 1] swaps the last two (N × T × F → N × F × T)."),),
    shape=_permute_shape,
    build=lambda ctx: Call("torch.permute", {"dims": list(ctx.p["dims"])}),
    color=COLORS["Sequence"],
    doc=Doc(
        summary="Reorders the axes of each batch: time and features swapped, or channels "
                "moved.",
        formula="y = x.permute(dims)        e.g. N × T × F → N × F × T",
        use_case="Feed a sequence N × T × F to a layer that wants N × F × T (a 1-D "
                 "convolution), or turn an image's rows into a sequence.",
    ),
)

SPECS = (EMBEDDING, RNN, LSTM, GRU, TIME_STEP, TIME_SLICE, PERMUTE)
