"""Dense layers and the perceptron, plus the structural layers that reshape data."""
from __future__ import annotations

from ..spec import Call, Doc, Make, NodeSpec, Param, Port, TensorType, numel
from ._common import BIAS, COLORS, INIT, check_features, need_float, need_rank, same_as_input

_X, _Y = (Port("x"),), (Port("y"),)


def _dense_shape(ctx):
    t = need_float(ctx, "x")
    if len(t.shape) > 3:
        ctx.fail(f"needs features N × F but '{ctx.src('x')}' gives {t}: put a Flatten before "
                 "it", "x")
    need_rank(ctx, "x", (2, 3), "features N × F (or a sequence N × T × F)")
    check_features(ctx, "x", ctx.p["in_features"], t.shape[-1], "input features")
    return {"y": TensorType((*t.shape[:-1], ctx.p["out_features"]))}


def _dense_kwargs(ctx):
    return {"in_features": ctx.ins["x"].shape[-1], "out_features": ctx.p["out_features"],
            "bias": ctx.p["bias"]}


_IN_FEATURES = Param(
    "in_features", "int", None,
    "Number of inputs per sample. Leave on auto to take it from the incoming edge; set it to "
    "have the layer check what it receives.", min=1, auto=True)

LINEAR = NodeSpec(
    type="Linear", title="Linear", category="Core", id_prefix="fc",
    inputs=_X, outputs=_Y,
    params=(Param("out_features", "int", 10, "Number of neurons (outputs per sample).", min=1),
            _IN_FEATURES, BIAS, INIT),
    shape=_dense_shape,
    build=lambda ctx: Make("nn.Linear", _dense_kwargs(ctx), init=ctx.p["init"]),
    color=COLORS["Core"],
    doc=Doc(
        summary="Fully connected (dense) layer: each neuron takes a weighted sum of all its "
                "inputs and adds a bias.",
        formula="z⁽ˡ⁾ = W⁽ˡ⁾ a⁽ˡ⁻¹⁾ + b⁽ˡ⁾      (neuron j:  zⱼ = Σᵢ wⱼᵢ xᵢ + bⱼ)",
        use_case="Hidden and output layers of an ANN / MLP; the fully connected layers that do "
                 "the high-level reasoning after a CNN's convolution and pooling layers.",
        notes="Follow it with an activation (ReLU in hidden layers, Softmax or Sigmoid at the "
              "output): without one, stacked Linear layers are still one linear map. Init 'he' "
              "suits ReLU, 'xavier' suits tanh and sigmoid.",
    ),
    channels_last="safe",
)

PERCEPTRON = NodeSpec(
    type="Perceptron", title="Perceptron", category="Core", id_prefix="perceptron",
    inputs=(Port("x", role="features"),), outputs=_Y,
    params=(Param("out_features", "int", 1, "Number of perceptron units.", min=1),
            _IN_FEATURES, INIT),
    shape=_dense_shape,
    build=lambda ctx: Make("ops.Perceptron", {"in_features": ctx.ins["x"].shape[-1],
                                               "out_features": ctx.p["out_features"]},
                           init=ctx.p["init"]),
    rule="perceptron", differentiable=False, color=COLORS["Core"],
    doc=Doc(
        summary="Rosenblatt's perceptron (1957), the simplest neural network: a weighted sum of "
                "the inputs plus a bias, passed through the step function. A linear binary "
                "classifier whose decision boundary is the hyperplane wᵀx + b = 0.",
        formula="z = Σᵢ wᵢ xᵢ + b = wᵀx + b        y = 1 if z ≥ 0, else 0\n"
                "learning rule:  wᵢ ← wᵢ + η (y − ŷ) xᵢ,   b ← b + η (y − ŷ)",
        use_case="Binary classification of linearly separable data. Example: w = (0.5, −0.6), "
                 "b = 0.2, x = (1, 2) gives z = 0.5 − 1.2 + 0.2 = −0.5 < 0, so y = 0.",
        notes="The step function has no gradient, so train it with the perceptron learning rule "
              "(training recipe 'perceptron'), which changes the weights only on mistakes. It "
              "cannot separate XOR or spirals: that needs hidden layers (an MLP).",
    ),
)

DROPOUT = NodeSpec(
    type="Dropout", title="Dropout", category="Normalization", id_prefix="dropout",
    inputs=_X, outputs=_Y,
    params=(Param("p", "float", 0.5, "Probability of zeroing each element while training.",
                  min=0.0, max=0.99),),
    shape=same_as_input,
    build=lambda ctx: Make("nn.Dropout", {"p": ctx.p["p"]}),
    color=COLORS["Normalization"],
    doc=Doc(
        summary="Randomly zeroes a fraction p of the activations during training and scales the "
                "rest by 1/(1 − p); does nothing at inference.",
        formula="y = m ⊙ x / (1 − p),   mᵢ ~ Bernoulli(1 − p)",
        use_case="Regularisation: keeps a large network from overfitting a small dataset.",
    ),
    channels_last="flat",
)


def _flatten_shape(ctx):
    t = need_rank(ctx, "x", (2, 3, 4, 5, 6), "a batch N × …")
    n = numel(t.shape[1:])
    return {"y": TensorType((t.shape[0], n if n is not None else "?"), t.dtype)}


FLATTEN = NodeSpec(
    type="Flatten", title="Flatten", category="Structure", id_prefix="flatten",
    inputs=_X, outputs=_Y, params=(), shape=_flatten_shape,
    build=lambda ctx: Call("torch.flatten", {"start_dim": 1}),
    color=COLORS["Structure"],
    doc=Doc(
        summary="Turns each sample's feature maps into one long vector, keeping the batch.",
        formula="N × C × H × W  →  N × (C·H·W)",
        use_case="Between a CNN's last pooling layer and its fully connected layers. A 4 × 4 "
                 "feature map [[1,0,2,3],[4,6,5,2],[0,1,3,1],[5,2,2,0]] becomes the 16-vector "
                 "[1,0,2,3,4,6,5,2,0,1,3,1,5,2,2,0].",
    ),
    channels_last="safe",
)


def _reshape_shape(ctx):
    t = ctx.ins["x"]
    dims = list(ctx.p["shape"])
    have = numel(t.shape[1:])
    if have is None:
        ctx.fail(f"needs a known size per sample but '{ctx.src('x')}' gives {t}", "x")
    known = numel([d for d in dims if d != -1])
    if -1 in dims:
        if have % known:
            ctx.fail(f"cannot reshape {have} values per sample (from '{ctx.src('x')}') "
                     f"into {dims}", "x")
        dims[dims.index(-1)] = have // known
    elif known != have:
        ctx.fail(f"cannot reshape {have} values per sample (from '{ctx.src('x')}') into "
                 f"{dims}, which holds {known}", "x")
    return {"y": TensorType((t.shape[0], *dims), t.dtype)}


RESHAPE = NodeSpec(
    type="Reshape", title="Reshape", category="Structure", id_prefix="reshape",
    inputs=_X, outputs=_Y,
    params=(Param("shape", "dims", [1, 8, 8],
                  "New shape of one sample, without the batch; one size may be -1 (inferred)."),),
    shape=_reshape_shape,
    build=lambda ctx: Call("ops.reshape", {"shape": list(ctx.outs["y"].shape[1:])}),
    color=COLORS["Structure"],
    doc=Doc(
        summary="Gives each sample a new shape with the same number of values.",
        formula="N × d₁ × … × dₖ  →  N × s₁ × … × sₘ,   Π dᵢ = Π sⱼ",
        use_case="Turn a flat vector of 64 pixels into a 1 × 8 × 8 image for a CNN, or a "
                 "generator's dense output into feature maps.",
    ),
)

SPECS = (LINEAR, PERCEPTRON, DROPOUT, FLATTEN, RESHAPE)
