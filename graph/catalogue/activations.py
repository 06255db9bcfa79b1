"""Activation functions: the non-linearities, with the formulas and uses the seed notes give."""
from __future__ import annotations

from ..spec import Call, Doc, NodeSpec, Param, Port
from ._common import COLORS, need_float, same_as_input

CAT = "Activation"


def _act(type_, title, target, doc, params=(), kwargs=lambda p: {}, prefix=None, **kw):
    def shape(ctx):
        t = need_float(ctx, "x")
        dim = ctx.p.get("dim")
        r = len(t.shape)
        if dim is not None and not -r <= dim < r:
            ctx.fail(f"has dim = {dim} but '{ctx.src('x')}' gives {t}, which has dims {-r} to "
                     f"{r - 1}", "x")
        return same_as_input(ctx)
    return NodeSpec(
        type=type_, title=title, category=CAT, id_prefix=prefix or type_.lower(),
        inputs=(Port("x"),), outputs=(Port("y"),), params=params, shape=shape,
        build=lambda ctx: Call(target, kwargs(ctx.p)), color=COLORS[CAT], doc=doc, **kw)


SIGMOID = _act("Sigmoid", "Sigmoid", "torch.sigmoid", Doc(
    summary="Squashes any number into (0, 1), read as a probability.",
    formula="σ(x) = 1 / (1 + e⁻ˣ)",
    use_case="The output layer for binary classification (with binary cross-entropy).",
    notes="Its slope is at most 0.25, so deep stacks of sigmoids suffer vanishing gradients: "
          "prefer ReLU in hidden layers."), channels_last="safe")

TANH = _act("Tanh", "Tanh", "torch.tanh", Doc(
    summary="Squashes any number into (−1, 1), centred on zero.",
    formula="tanh(x) = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)",
    use_case="Hidden layers, and the hidden state of RNNs and LSTMs.",
    notes="Like the sigmoid it saturates, and its gradient vanishes for large |x|; pair it with "
          "Xavier initialisation."), channels_last="safe")

RELU = _act("ReLU", "ReLU", "torch.relu", Doc(
    summary="Rectified linear unit: passes positive values, zeroes negative ones.",
    formula="ReLU(x) = max(0, x)        ReLU′(x) = 1 if x > 0, else 0",
    use_case="Hidden layers of deep networks and CNNs: simple, fast and, with slope 1 for "
             "positive inputs, the standard remedy for vanishing gradients. Example: "
             "[[5, −10], [−3, 7]] becomes [[5, 0], [0, 7]].",
    notes="Pair it with He initialisation. Neurons stuck at negative inputs stop learning "
          "(dying ReLU): Leaky ReLU avoids that."), channels_last="safe")

LEAKY_RELU = _act(
    "LeakyReLU", "Leaky ReLU", "F.leaky_relu",
    Doc(summary="Like ReLU, but negative inputs keep a small slope instead of zero.",
        formula="LeakyReLU(x) = max(αx, x),   α = 0.01 by default",
        use_case="Hidden layers, to mitigate the dying ReLU problem where neurons get stuck in "
                 "the negative region; GAN discriminators."),
    params=(Param("negative_slope", "float", 0.01, "Slope α for negative inputs.", min=0.0,
                  max=1.0),),
    kwargs=lambda p: {"negative_slope": p["negative_slope"]}, prefix="lrelu", channels_last="safe")

GELU = _act(
    "GELU", "GELU", "F.gelu",
    Doc(summary="Gaussian error linear unit: weights each input by how likely a standard "
                "normal value is to be below it, a smooth ReLU.",
        formula="GELU(x) = x·Φ(x),   Φ the standard normal CDF: Φ(x) = ½ (1 + erf(x / √2))\n"
                "tanh approximation: GELU(x) ≈ ½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))",
        use_case="Transformers: the feed-forward blocks of BERT and GPT use it between their "
                 "two linear layers.",
        notes="Smooth, and not monotonic near 0: it dips to about −0.17 at x ≈ −0.75 before "
              "rising to 0 for large negative x. Compared with ReLU it passes a little of the "
              "negative inputs and has a gradient everywhere, so no unit dies; it costs more "
              "to compute. GELU(1) ≈ 0.8413."),
    params=(Param("approximate", "choice", "none", "'none': the exact x·Φ(x); 'tanh': the "
                  "tanh approximation (as in the original BERT and GPT-2).",
                  choices=("none", "tanh")),),
    kwargs=lambda p: {"approximate": p["approximate"]}, channels_last="safe")

SOFTMAX = _act(
    "Softmax", "Softmax", "torch.softmax",
    Doc(summary="Turns a vector of scores into probabilities that sum to 1.",
        formula="Softmax(zᵢ) = e^(zᵢ) / Σⱼ e^(zⱼ),   j = 1 … C",
        use_case="The output layer for multi-class classification, followed by categorical "
                 "cross-entropy."),
    params=(Param("dim", "int", 1, "The dimension holding the classes: 1 = the first after "
                                   "the batch, negative counts from the end (−1 = the last).",
                  min=-16, max=15),),
    kwargs=lambda p: {"dim": p["dim"]}, channels_last="safe", gives="probabilities")

STEP = _act("Step", "Step (Heaviside)", "ops.step", Doc(
    summary="The perceptron's activation: 1 when the input is at least 0, else 0.",
    formula="y = 1 if z ≥ 0, else 0",
    use_case="Binary decisions, as in the original perceptron.",
    notes="Its gradient is zero everywhere, so layers before it cannot learn by "
          "backpropagation; use Sigmoid for a trainable version."), differentiable=False)


SPECS = (SIGMOID, TANH, RELU, LEAKY_RELU, GELU, SOFTMAX, STEP)
