"""torch.nn's other activations and its dropout variants (issue 26), generated from one table.

Each row is one torch.nn class: the type id is the class name and the build is
Make("nn.<Class>", kwargs), so the compiled module is torch's own (its state_dict keys are
torch's). `_spec` turns a row into a NodeSpec; a row's `check` adds what torch refuses beyond
the input's dtype and rank (a dim out of range, min_val >= max_val, an odd size to halve).
ReLU, Sigmoid, Tanh, LeakyReLU, GELU and Softmax stay in activations.py, Dropout in core.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..spec import Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import COLORS, need_float, need_rank

ACT, DROP = "Activation", "Normalization"


@dataclass(frozen=True)
class _Row:
    type: str  # = the torch.nn class name
    title: str
    prefix: str
    doc: Doc
    params: tuple[Param, ...] = ()
    ranks: tuple[int, ...] = ()  # the ranks (batch included) torch takes without a warning
    rank_words: str = ""
    check: Callable | None = None  # (ctx, t) -> the output type, or None: the input's shape
    kwargs: Callable | None = None  # (ctx) -> torch's kwargs; by default each param by name
    category: str = ACT


def _spec(row: _Row) -> NodeSpec:
    def shape(ctx):
        t = need_float(ctx, "x")
        if row.ranks:
            need_rank(ctx, "x", row.ranks, row.rank_words)
        out = row.check(ctx, t) if row.check else None
        return {"y": out or TensorType(t.shape)}

    def build(ctx):
        kw = row.kwargs(ctx) if row.kwargs else {p.name: ctx.p[p.name] for p in row.params}
        return Make(f"nn.{row.type}", kw)

    return NodeSpec(type=row.type, title=row.title, category=row.category,
                    id_prefix=row.prefix, inputs=(Port("x"),), outputs=(Port("y"),),
                    params=row.params, shape=shape, build=build,
                    color=COLORS[row.category], doc=row.doc)


# Params and checks shared by rows -------------------------------------------------------------
def _float(name, default, help_, **kw):
    return Param(name, "float", default, help_, **kw)


def _dim_param(default, what):
    return Param("dim", "int", default, f"The dimension {what}: 1 = the first after the batch "
                 "(0), negative counts from the end (−1 = the last).", min=-16, max=15)


def _dim(ctx, t) -> int:
    """The param `dim`, checked against the input's rank, as an index from 0."""
    d, r = ctx.p["dim"], len(t.shape)
    if not -r <= d < r:
        ctx.fail(f"has dim = {d} but '{ctx.src('x')}' gives {t}, which has dims {-r} to "
                 f"{r - 1}", "x")
    return d % r


def _nonzero(name, formula):
    def check(ctx, t):
        if ctx.p[name] == 0:
            ctx.fail(f"cannot divide by {name} = 0 in {formula}: give it a value other than 0")
    return check


def _ordered(low, high, formula, strict):
    """Torch's order of two bounds: low < high (strict) or low ≤ high."""
    def check(ctx, t):
        a, b = ctx.p[low], ctx.p[high]
        if a > b or (strict and a == b):
            ctx.fail(f"needs {low} {'<' if strict else '≤'} {high} ({formula}) but has "
                     f"{low} = {a}, {high} = {b}")
    return check


def _dim_only(ctx, t):
    _dim(ctx, t)


def _glu(ctx, t):
    d = _dim(ctx, t)
    s = t.shape[d]
    if not isinstance(s, int):
        what = "the batch, whose size the data sets" if d == 0 else f"{s}, set by the data"
        ctx.fail(f"halves dim {ctx.p['dim']}, so it needs a known, even size there, but "
                 f"'{ctx.src('x')}' gives {t}, whose size on that dim is {what}", "x")
    if s % 2:
        ctx.fail(f"splits dim {ctx.p['dim']} into halves a, b (GLU = a ⊗ σ(b)), so its size "
                 f"must be even, but '{ctx.src('x')}' gives {t}: {s} on dim {ctx.p['dim']}", "x")
    return TensorType((*t.shape[:d], s // 2, *t.shape[d + 1:]))


def _prelu(ctx, t):
    n = ctx.p["num_parameters"]
    if n == 1:
        return None
    want = "one slope per channel (auto)" if n is None else f"num_parameters = {n}"
    if len(t.shape) < 2:
        ctx.fail(f"has {want}, read on dim 1, but '{ctx.src('x')}' gives {t}, which has no "
                 "dim 1: use num_parameters = 1", "x")
    c = t.shape[1]
    if not isinstance(c, int):
        ctx.fail(f"has {want}, so it needs a known number of channels on dim 1, but "
                 f"'{ctx.src('x')}' gives {t}", "x")
    if n is not None and n != c:
        ctx.fail(f"has num_parameters = {n} (one slope per channel on dim 1) but "
                 f"'{ctx.src('x')}' gives {t}, with {c} channel{'s' * (c != 1)} there: set it "
                 f"to {'1' if c == 1 else f'1 or {c}'}", "x")
    return None


# Activations ----------------------------------------------------------------------------------
_ALPHA = _float("alpha", 1.0, "α: the value ELU tends to for large negative x is −α.")
_LAMBD = _float("lambd", 0.5, "λ: the half-width of the band around 0 that is set to 0.",
                min=0.0)
_P = Param("p", "float", 0.5, "Probability of dropping each element (or channel) while "
           "training.", min=0.0, max=1.0)

_ACTIVATIONS = (
    _Row("ELU", "ELU", "elu", Doc(
        summary="Exponential linear unit: the identity for positive inputs, a smooth curve "
                "saturating at −α for negative ones.",
        formula="ELU(x) = x if x > 0, else α (eˣ − 1),   α = 1 by default",
        use_case="Hidden layers of deep MLPs and CNNs (Clevert et al., 2015): its negative "
                 "outputs push mean activations towards 0, which speeds learning. "
                 "ELU(−1) = e⁻¹ − 1 ≈ −0.632 (α = 1).",
        notes="Unlike ReLU, negative units keep a gradient α eˣ, so they do not die. Smooth "
              "at 0 only when α = 1 (CELU is smooth for every α)."),
        params=(_ALPHA,)),
    _Row("SELU", "SELU", "selu", Doc(
        summary="Scaled ELU with constants chosen so that activations keep zero mean and unit "
                "variance through many layers (self-normalising networks).",
        formula="SELU(x) = λ · (x if x > 0, else α (eˣ − 1))\n"
                "λ ≈ 1.0507,  α ≈ 1.6733",
        use_case="Deep fully connected networks without batch norm (Klambauer et al., 2017). "
                 "SELU(1) ≈ 1.0507, SELU(−1) ≈ −1.1113.",
        notes="Self-normalisation holds with weights drawn N(0, 1/n_in) (LeCun normal) and "
              "AlphaDropout instead of Dropout.")),
    _Row("CELU", "CELU", "celu", Doc(
        summary="Continuously differentiable ELU: the negative branch is scaled so that its "
                "slope at 0 is 1 for every α.",
        formula="CELU(x) = max(0, x) + min(0, α (e^(x/α) − 1)),   α ≠ 0",
        use_case="Where ELU's kink at 0 (for α ≠ 1) hurts, e.g. second-order optimisation. "
                 "With α = 2: CELU(−1) = 2 (e^(−½) − 1) ≈ −0.787.",
        notes="With α = 1 it equals ELU."),
        params=(_float("alpha", 1.0, "α: the value it tends to for large negative x is −α; "
                       "not 0."),),
        check=_nonzero("alpha", "CELU(x) = max(0, x) + min(0, α (e^(x/α) − 1))")),
    _Row("Softplus", "Softplus", "softplus", Doc(
        summary="A smooth ReLU that is always positive.",
        formula="Softplus(x) = (1/β) · log(1 + e^(βx));   x where βx > threshold",
        use_case="Making a value positive: a predicted standard deviation or rate "
                 "(σ = Softplus(z) in a variational or mixture-density head). "
                 "Softplus(0) = ln 2 ≈ 0.693 (β = 1).",
        notes="Its derivative is the sigmoid σ(βx). Above the threshold torch returns x "
              "itself, which avoids overflow in e^(βx)."),
        params=(_float("beta", 1.0, "β: the larger, the closer to ReLU; not 0."),
                _float("threshold", 20.0, "Above βx = threshold the output is x itself.")),
        check=_nonzero("beta", "Softplus(x) = (1/β) · log(1 + e^(βx))")),
    _Row("Softsign", "Softsign", "softsign", Doc(
        summary="Squashes into (−1, 1) like tanh, but approaches ±1 polynomially, not "
                "exponentially.",
        formula="Softsign(x) = x / (1 + |x|)",
        use_case="A tanh alternative that saturates more slowly, so large inputs keep some "
                 "gradient: Softsign(1) = 0.5, Softsign(−3) = −0.75.")),
    _Row("Hardtanh", "Hardtanh", "hardtanh", Doc(
        summary="Clips its input to [min_val, max_val]: a piecewise linear tanh.",
        formula="Hardtanh(x) = min_val if x < min_val; max_val if x > max_val; x otherwise",
        use_case="A cheap, bounded activation (binarised and quantised networks, speech "
                 "models such as DeepSpeech 2 with [0, 20]). min_val = 0, max_val = 6 is "
                 "ReLU6. Example: [−2, 0.5, 3] → [−1, 0.5, 1]."),
        params=(_float("min_val", -1.0, "The lower bound."),
                _float("max_val", 1.0, "The upper bound; must be above min_val.")),
        check=_ordered("min_val", "max_val", "it clips x to [min_val, max_val]", True)),
    _Row("ReLU6", "ReLU6", "relu6", Doc(
        summary="ReLU capped at 6.",
        formula="ReLU6(x) = min(max(0, x), 6)",
        use_case="MobileNet v1 and v2: the bound keeps activations in a range that 8-bit "
                 "arithmetic represents well. Example: [−2, 3, 8] → [0, 3, 6].")),
    _Row("Hardsigmoid", "Hardsigmoid", "hsigmoid", Doc(
        summary="A piecewise linear sigmoid: cheap to compute on mobile hardware.",
        formula="Hardsigmoid(x) = 0 if x ≤ −3; 1 if x ≥ 3; x/6 + ½ otherwise\n"
                "             = ReLU6(x + 3) / 6",
        use_case="The squeeze-and-excitation gates of MobileNetV3. Hardsigmoid(0) = 0.5, "
                 "Hardsigmoid(1.5) = 0.75.")),
    _Row("Hardswish", "Hardswish", "hswish", Doc(
        summary="A piecewise approximation of SiLU (swish), x times Hardsigmoid(x).",
        formula="Hardswish(x) = 0 if x ≤ −3; x if x ≥ 3; x (x + 3) / 6 otherwise",
        use_case="MobileNetV3's deeper layers, where SiLU's sigmoid is too slow. "
                 "Hardswish(1) = 4/6 ≈ 0.667, Hardswish(3) = 3.",
        notes="Like SiLU it dips below 0: its minimum is −0.375 at x = −1.5.")),
    _Row("SiLU", "SiLU (swish)", "silu", Doc(
        summary="Sigmoid linear unit (swish): the input weighted by its own sigmoid.",
        formula="SiLU(x) = x · σ(x) = x / (1 + e⁻ˣ)",
        use_case="EfficientNet, the YOLOv5-and-later detectors, and LLaMA-style transformers "
                 "(the SwiGLU feed-forward: SiLU(x W₁) ⊗ x W₃). SiLU(1) ≈ 0.731.",
        notes="Smooth and not monotonic: its minimum is ≈ −0.278 at x ≈ −1.278.")),
    _Row("Mish", "Mish", "mish", Doc(
        summary="A smooth, self-gated activation: x times tanh of its softplus.",
        formula="Mish(x) = x · tanh(Softplus(x)) = x · tanh(ln(1 + eˣ))",
        use_case="YOLOv4's backbone (CSPDarknet53). Mish(1) ≈ 0.865, Mish(−1) ≈ −0.303.",
        notes="Like SiLU, unbounded above and bounded below: its minimum is ≈ −0.309 at "
              "x ≈ −1.19.")),
    _Row("LogSigmoid", "LogSigmoid", "logsigmoid", Doc(
        summary="The logarithm of the sigmoid, computed without overflow.",
        formula="LogSigmoid(x) = log σ(x) = −log(1 + e⁻ˣ) = −Softplus(−x)",
        use_case="Log-likelihoods of binary events: word2vec's negative sampling maximises "
                 "log σ(u·v) + Σ log σ(−u·vₖ). LogSigmoid(0) = −ln 2 ≈ −0.693.",
        notes="Always negative; log(Sigmoid(x)) computed in two steps gives −∞ for x below "
              "about −88 in float32, this does not.")),
    _Row("Tanhshrink", "Tanhshrink", "tanhshrink", Doc(
        summary="The input minus its tanh: near 0 for small inputs, x ∓ 1 for large ones.",
        formula="Tanhshrink(x) = x − tanh(x)",
        use_case="Rare: a soft shrinkage in sparse-coding networks (learned ISTA). "
                 "Tanhshrink(1) ≈ 0.238, Tanhshrink(3) ≈ 2.005.")),
    _Row("Softshrink", "Softshrink", "softshrink", Doc(
        summary="Soft thresholding: zeroes the band [−λ, λ] and moves everything else λ "
                "towards 0.",
        formula="Softshrink(x) = x − λ if x > λ; x + λ if x < −λ; 0 otherwise",
        use_case="The proximal step of L1 regularisation (ISTA, learned ISTA, wavelet "
                 "denoising): it makes codes sparse. With λ = 0.5: [−2, 0.3, 1] → "
                 "[−1.5, 0, 0.5]."),
        params=(_LAMBD,)),
    _Row("Hardshrink", "Hardshrink", "hardshrink", Doc(
        summary="Hard thresholding: zeroes the band [−λ, λ] and keeps everything else as it "
                "is.",
        formula="Hardshrink(x) = x if x > λ or x < −λ; 0 otherwise",
        use_case="Sparse coding and denoising, where small values are noise and large ones "
                 "must keep their size. With λ = 0.5: [−2, 0.3, 1] → [−2, 0, 1]."),
        params=(_LAMBD,)),
    _Row("Threshold", "Threshold", "threshold", Doc(
        summary="Replaces every value not above a threshold with a fixed value.",
        formula="y = x if x > threshold; value otherwise",
        use_case="A generalised ReLU (threshold = value = 0 is ReLU, the default here). With "
                 "threshold = 0.1, value = 20: [0.05, 0.5] → [20, 0.5].",
        notes="Its gradient is 0 wherever the value is replaced."),
        params=(_float("threshold", 0.0, "Values at or below it are replaced."),
                _float("value", 0.0, "What replaces them."))),
    _Row("RReLU", "RReLU (randomised leaky ReLU)", "rrelu", Doc(
        summary="A leaky ReLU whose negative slope is drawn at random while training and is "
                "the mean slope at inference.",
        formula="RReLU(x) = x if x ≥ 0, else a·x\n"
                "training: a ~ U(lower, upper) per element;  inference: a = (lower + upper)/2",
        use_case="Regularising small image datasets (Xu et al., 2015, Kaggle's NDSB). With "
                 "the defaults the inference slope is (1/8 + 1/3)/2 = 11/48 ≈ 0.229, so "
                 "RReLU(−1) ≈ −0.229.",
        notes="Random, like dropout: two training passes give different outputs."),
        params=(_float("lower", 1 / 8, "The smallest negative slope.", min=0.0, max=1.0),
                _float("upper", 1 / 3, "The largest negative slope; at least lower.", min=0.0,
                       max=1.0)),
        check=_ordered("lower", "upper", "a is drawn from U(lower, upper)", False)),
    _Row("PReLU", "PReLU (learned leaky ReLU)", "prelu", Doc(
        summary="A leaky ReLU whose negative slope is learned: one for all channels, or one "
                "per channel (dim 1).",
        formula="PReLU(x) = x if x ≥ 0, else a·x,   a learned (aᶜ per channel c)",
        use_case="After the convolutions of deep CNNs (He et al., 2015, the first to pass "
                 "human accuracy on ImageNet). With a = 0.25: [−2, 3] → [−0.5, 3].",
        notes="Its weight holds num_parameters slopes, all starting at init. Weight decay "
              "pulls them towards 0 (towards ReLU); the paper leaves them out of it."),
        params=(Param("num_parameters", "int", 1, "How many slopes: 1 shared by every channel, "
                      "or the input's channel count (dim 1); auto = one per channel.", min=1,
                      auto=True),
                _float("init_value", 0.25, "The value every slope starts at (torch's init).",
                       label="init")),
        check=_prelu,
        kwargs=lambda ctx: {"num_parameters": ctx.p["num_parameters"] or ctx.ins["x"].shape[1],
                            "init": ctx.p["init_value"]}),
    _Row("LogSoftmax", "LogSoftmax", "logsoftmax", Doc(
        summary="The logarithm of softmax, computed in one stable step: log-probabilities.",
        formula="LogSoftmax(xᵢ) = xᵢ − log Σⱼ e^(xⱼ)",
        use_case="Before NLLLoss: LogSoftmax + NLLLoss is cross-entropy. Example: [1, 2, 3] → "
                 "[−2.408, −1.408, −0.408].",
        notes="Stabler than log(Softmax(x)), which underflows to log 0 = −∞ for very "
              "negative scores."),
        params=(_dim_param(1, "the log-softmax runs over"),), check=_dim_only),
    _Row("Softmin", "Softmin", "softmin", Doc(
        summary="Softmax of the negated input: the smallest values get the largest "
                "probabilities.",
        formula="Softmin(xᵢ) = e^(−xᵢ) / Σⱼ e^(−xⱼ) = Softmax(−x)ᵢ",
        use_case="Turning distances or costs into weights: soft nearest-neighbour assignment, "
                 "soft-DTW. Example: [1, 2, 3] → [0.665, 0.245, 0.090]."),
        params=(_dim_param(1, "the softmin runs over"),), check=_dim_only),
    _Row("Softmax2d", "Softmax2d", "softmax2d", Doc(
        summary="Softmax over the channels at every pixel of an image-shaped input.",
        formula="y[n, c, h, w] = e^(x[n, c, h, w]) / Σ_c′ e^(x[n, c′, h, w])",
        use_case="Per-pixel class probabilities in semantic segmentation: N × C × H × W "
                 "scores for C classes become C probabilities summing to 1 at each pixel.",
        notes="It runs over dim −3. On a 3-dim input torch reads C × H × W (one unbatched "
              "image), so here N × H × W would be normalised across the batch."),
        ranks=(3, 4), rank_words="an image-shaped input N × C × H × W (or C × H × W)"),
    _Row("GLU", "GLU (gated linear unit)", "glu", Doc(
        summary="Splits its input in two halves a and b along dim and gates a with σ(b): the "
                "size on dim halves.",
        formula="GLU(x) = a ⊗ σ(b),   x = [a, b] split on dim (its size must be even)",
        use_case="Gated convolutional language models (Dauphin et al., 2017), ConvS2S and "
                 "the Conformer's convolution module (a pointwise conv to 2C channels, then "
                 "GLU back to C). Example (dim −1): [1, 2, 0, 0] → [1·σ(0), 2·σ(0)] = "
                 "[0.5, 1]."),
        params=(_dim_param(-1, "split in two"),), check=_glu),
)

# Dropout variants -----------------------------------------------------------------------------
_KEEP = "Does nothing at inference."
_CHANNELS = "y[n, c, …] = m[n, c] · x[n, c, …] / (1 − p),  m[n, c] ~ Bernoulli(1 − p)"
_ALPHA_DROP = ("y = a · (x·m + α′ (1 − m)) + b,   m ~ Bernoulli(1 − p)\n"
               "α′ = −λα ≈ −1.7581 (SELU's limit),  a = ((1 − p)(1 + p α′²))^(−½),  "
               "b = −a α′ p")


def _channel_dropout(type_, ranks, words, shape_, use):
    return _Row(type_, type_, type_.lower(), Doc(
        summary=f"Zeroes whole channels (each {shape_} map) with probability p while "
                f"training, and scales the kept ones by 1/(1 − p). {_KEEP}",
        formula=_CHANNELS, use_case=use,
        notes="Neighbouring values of a feature map are correlated, so dropping single "
              "elements barely regularises; dropping whole channels does (Tompson et al., "
              "2015: SpatialDropout)." + (
                  f" Torch reads a {ranks[0]}-dim input as one unbatched sample, so its first "
                  "dim, here the batch, counts as the channels." if len(ranks) > 1 else "")),
        params=(_P,), ranks=ranks, rank_words=words, category=DROP)


_DROPOUTS = (
    _channel_dropout("Dropout1d", (2, 3), "a sequence N × C × L (or C × L)", "1-d",
                     "After 1-d convolutions over audio, text or time series."),
    _channel_dropout("Dropout2d", (4,), "an image-shaped input N × C × H × W", "2-d",
                     "Between the convolutions of a CNN: each of the C feature maps is kept "
                     "or dropped as a whole."),
    _channel_dropout("Dropout3d", (4, 5), "a volume N × C × D × H × W (or C × D × H × W)",
                     "3-d", "Between 3-d convolutions over volumes (CT, MRI) or video."),
    _Row("AlphaDropout", "AlphaDropout", "alphadrop", Doc(
        summary="Dropout for SELU networks: dropped values are set to SELU's negative limit "
                "and the result is rescaled to keep the mean and variance. " + _KEEP,
        formula=_ALPHA_DROP,
        use_case="Self-normalising networks (SELU layers), where Dropout's zeros would shift "
                 "the mean and variance the SELU stack keeps at 0 and 1.",
        notes="A zero-mean, unit-variance input keeps zero mean and unit variance."),
        params=(_P,), category=DROP),
    _Row("FeatureAlphaDropout", "FeatureAlphaDropout", "featalphadrop", Doc(
        summary="AlphaDropout of whole channels (dim 1): every value of a dropped channel "
                "gets the same value a·α′ + b. " + _KEEP,
        formula=_ALPHA_DROP + "\n(m drawn per sample and channel: m[n, c])",
        use_case="Convolutional layers of a self-normalising (SELU) network."),
        params=(_P,), ranks=tuple(range(2, 17)), rank_words="channels on dim 1, N × C × …",
        category=DROP),
)

SPECS = tuple(_spec(r) for r in (*_ACTIVATIONS, *_DROPOUTS))
