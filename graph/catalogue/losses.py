"""Loss nodes. Each compares a prediction with a Target; their weighted sum is what training
minimises (L = L_cls + L_box + L_mask for a detector). They exist only for training.

LayerLoom's own losses come first; then torch.nn's loss classes, generated from one table
(TORCH): type id = the torch class, params = its keyword arguments, and the build calls
torch.nn.functional's function of the same loss with mean reduction (KLDivLoss: batchmean)."""
from __future__ import annotations

from ..spec import Call, Doc, NodeSpec, Param, Port, TensorType, numel
from ._common import COLORS

CAT = "Loss"
SCALAR = TensorType((), "float32", kind="loss")

WEIGHT = Param("weight", "float", 1.0,
               "Factor of this loss in the total that training minimises (multi-task sums).",
               min=0.0, role="loss_weight")
METRIC = Param("metric", "choice", "auto",
               "What to report besides the loss: 'auto' picks accuracy for classification and "
               "mean absolute error for regression.",
               choices=("auto", "accuracy", "mae", "none"))
FROM_LOGITS = Param("from_logits", "bool", False,
                    "Off: the prediction is a probability (after Softmax / Sigmoid), as in the "
                    "formula. On: raw scores, with the activation folded into the loss "
                    "(numerically safer).", role="from_logits")


def _pair(ctx):
    pred, target = ctx.ins["pred"], ctx.ins["target"]
    if pred.dtype != "float32":
        ctx.fail(f"needs a real-valued prediction but '{ctx.src('pred')}' gives {pred}", "pred")
    return pred, target


def _elementwise_shape(ctx):
    pred, target = _pair(ctx)
    if pred.shape == target.shape:  # also sequences N × T × F of a size the data sets
        return {"loss": SCALAR}
    a, b = numel(pred.shape[1:]), numel(target.shape[1:])
    if a is None or b is None or a != b:
        ctx.fail(f"compares the prediction {pred} from '{ctx.src('pred')}' with the target "
                 f"{target} from '{ctx.src('target')}': they must have the same size per sample",
                 "target")
    return {"loss": SCALAR}


CLASSES = Param("classes", "choice", "auto",
                "Which axis of the prediction holds the class scores: 'dim 1' (N × C, or "
                "N × C × H × W for images), 'last dim' (N × T × V: one distribution per time "
                "step, as a language model gives). 'auto': the last dim for a sequence "
                "N × T × V whose target is N × T, else dim 1.",
                choices=("auto", "dim 1", "last dim"), role="class_axis")


IGNORE_INDEX = Param("ignore_index", "int", None,
                     "A class index that counts for nothing, in the loss and the accuracy: "
                     "the padding token (0) of padded sequences, so a model is not trained "
                     "to predict padding. Auto: none.", min=0, max=10_000_000, auto=True,
                     role="ignore_index")


def class_dim(pred: TensorType, target: TensorType, choice: str = "auto") -> int:
    """1 or -1: the axis of `pred` holding the class scores (see CLASSES)."""
    if choice == "dim 1":
        return 1
    if choice == "last dim":
        return -1
    if len(pred.shape) == 3:
        if target.dtype == "int64" and target.shape == pred.shape[:-1]:
            return -1
        if target.dtype != "int64" and target.shape == pred.shape:
            return -1
    return 1


def _cce_shape(ctx):
    pred, target = _pair(ctx)
    if len(pred.shape) < 2:
        ctx.fail(f"needs class scores N × C but '{ctx.src('pred')}' gives {pred}", "pred")
    dim = class_dim(pred, target, ctx.p["classes"])
    if target.dtype == "int64":
        want = pred.shape[:-1] if dim == -1 else (pred.shape[0], *pred.shape[2:])
        if target.shape != want:
            where = "per step (classes on the last dim)" if dim == -1 else ""
            ctx.fail(f"has class scores {pred} from '{ctx.src('pred')}', so class indices must "
                     f"be {TensorType(want, 'int64')}{' ' + where if where else ''}, but "
                     f"'{ctx.src('target')}' gives {target}", "target")
    elif target.shape != pred.shape:
        ctx.fail(f"has class scores {pred} from '{ctx.src('pred')}', so one-hot targets must "
                 f"have the same shape, but '{ctx.src('target')}' gives {target}", "target")
    return {"loss": SCALAR}


def _loss(type_, title, op, doc, shape=_elementwise_shape, params=(), metric="mae",
          kwargs=lambda ctx: {}, prefix="loss", **kw):
    return NodeSpec(
        type=type_, title=title, category=CAT, role="loss", id_prefix=prefix,
        inputs=(Port("pred", doc="the model's prediction ŷ", role="pred"),
                Port("target", doc="the truth y", role="target")),
        outputs=(Port("loss", kind="loss", role="loss"),),
        params=(*params, WEIGHT, METRIC), shape=shape,
        build=lambda ctx: Call(op, kwargs(ctx)), metric=metric, color=COLORS[CAT], doc=doc,
        **kw)


MSE = _loss("MSELoss", "MSE loss", "ops.mse_loss", Doc(
    summary="Mean squared error between prediction and target.",
    formula="L = (1/n) Σᵢ (yᵢ − ŷᵢ)²",
    use_case="Regression problems."), prefix="mse", channels_last="safe")

BCE = _loss(
    "BCELoss", "Binary cross-entropy", "ops.bce_loss",
    Doc(summary="Cross-entropy for two classes, with the prediction a probability ŷ ∈ (0, 1).",
        formula="L = −(1/n) Σᵢ [yᵢ log ŷᵢ + (1 − yᵢ) log(1 − ŷᵢ)]",
        use_case="Binary classification, after a Sigmoid; Mask R-CNN's mask loss; a GAN's "
                 "discriminator."),
    params=(FROM_LOGITS,), metric="accuracy/binary",
    kwargs=lambda ctx: {"from_logits": ctx.p["from_logits"]}, prefix="bce", channels_last="safe")

CCE = _loss(
    "CategoricalCrossEntropyLoss", "Categorical cross-entropy", "ops.cce_loss",
    Doc(summary="Cross-entropy over C classes, with the prediction a probability vector "
                "(after Softmax). Targets are class indices or one-hot vectors.",
        formula="L = −(1/n) Σᵢ Σⱼ yᵢⱼ log ŷᵢⱼ",
        use_case="Multi-class classification: the standard loss for image classification with "
                 "a CNN, and the classification loss L_cls of the R-CNN family."),
    shape=_cce_shape, params=(FROM_LOGITS, CLASSES, IGNORE_INDEX), metric="accuracy/argmax",
    kwargs=lambda ctx: {"from_logits": ctx.p["from_logits"],
                        "class_dim": class_dim(ctx.ins["pred"], ctx.ins["target"],
                                               ctx.p["classes"]),
                        **({"ignore_index": ctx.p["ignore_index"]}
                           if ctx.p["ignore_index"] is not None else {})}, prefix="cce", channels_last="safe")

HINGE = _loss(
    "HingeLoss", "Hinge loss", "ops.hinge_loss",
    Doc(summary="Penalises predictions on the wrong side of the margin; labels are ±1.",
        formula="L = max(0, 1 − yᵢ · ŷᵢ)",
        use_case="Support vector machines (SVMs), the classifiers of the original R-CNN; "
                 "maximum-margin linear classifiers."),
    params=(Param("labels", "choice", "-1/+1",
                  "How the target encodes the two classes; 0/1 targets are mapped to −1/+1.",
                  choices=("-1/+1", "0/1")),),
    metric="accuracy/sign", kwargs=lambda ctx: {"zero_one": ctx.p["labels"] == "0/1"},
    prefix="hinge", channels_last="safe")

HUBER = _loss(
    "HuberLoss", "Huber loss", "ops.huber_loss",
    Doc(summary="Squared error for small residuals, absolute error for large ones.",
        formula="L = ½ (y − ŷ)²                 if |y − ŷ| ≤ δ\n"
                "L = δ (|y − ŷ| − ½ δ)          otherwise",
        use_case="Robust regression problems: outliers pull less than with MSE."),
    params=(Param("delta", "float", 1.0, "Where the loss turns from squared to linear (δ).",
                  min=1e-6),),
    kwargs=lambda ctx: {"delta": ctx.p["delta"]}, prefix="huber", channels_last="safe")

SMOOTH_L1 = _loss(
    "SmoothL1Loss", "Smooth L1 loss", "ops.smooth_l1_loss",
    Doc(summary="Huber loss divided by β: L1 for large residuals, smooth near zero.",
        formula="L = ½ (y − ŷ)² / β             if |y − ŷ| < β\n"
                "L = |y − ŷ| − ½ β              otherwise",
        use_case="Bounding-box regression L_box in Fast, Faster and Mask R-CNN."),
    params=(Param("beta", "float", 1.0, "Width β of the quadratic zone.", min=1e-6),),
    kwargs=lambda ctx: {"beta": ctx.p["beta"]}, prefix="smoothl1", channels_last="safe")


# torch.nn's losses --------------------------------------------------------------------------
def _of(ctx, port: str) -> str:
    return f"{ctx.ins[port]} from '{ctx.src(port)}'"


def _real(ctx, port: str, rank: int = 1, what: str = ""):
    """The type on `port`, float32 and of at least `rank` dims (batch included)."""
    t = ctx.ins[port]
    if t.dtype != "float32":
        ctx.fail(f"needs real numbers (float32) on '{port}', but '{ctx.src(port)}' gives {t}",
                 port)
    if len(t.shape) < rank:
        ctx.fail(f"needs {what} on '{port}', but '{ctx.src(port)}' gives {t}", port)
    return t


def _numbers(ctx, port: str, ints: bool):
    t = ctx.ins[port]
    if t.dtype != "float32" and not (ints and t.dtype == "int64"):
        ctx.fail(f"needs {'numbers' if ints else 'real numbers (float32: the Target dtype)'} on "
                 f"'{port}', but '{ctx.src(port)}' gives {t}", port)
    return t


def _same(ctx, ports: tuple[str, ...], term: str) -> None:
    """Every port's shape equal to the first's: torch would broadcast a misfit (N × 1 against
    N gives N × N terms) or refuse it."""
    first = ports[0]
    for p in ports[1:]:
        if ctx.ins[p].shape != ctx.ins[first].shape:
            hint = " (a Reshape, or the Target's shape, makes them agree)" * (p == "target")
            ctx.fail(f"computes {term}, so '{p}' must have the shape of '{first}' "
                     f"{_of(ctx, first)}, but it gets {_of(ctx, p)}{hint}", p)


def _elementwise(term: str, ints: bool = True, rank: int = 1):
    """pred and target of one shape (float target only unless `ints`); `rank` 2: N × C."""
    def shape(ctx):
        _real(ctx, "pred", rank, "scores N × C")
        _numbers(ctx, "target", ints)
        _same(ctx, ("pred", "target"), term)
        return {"loss": SCALAR}
    return shape


def _classes(probs: bool):
    """Scores N × C (or N × C × d₁ …) against class indices N (or N × d₁ …), or with `probs`
    class probabilities of the scores' shape."""
    def shape(ctx):
        pred = _real(ctx, "pred", 2, "class scores N × C (or N × C × d₁ …, classes on dim 1)")
        t = ctx.ins["target"]
        want = TensorType((pred.shape[0], *pred.shape[2:]), "int64")
        if t.dtype == "int64" and t.shape != want.shape:
            ctx.fail(f"reads class scores {_of(ctx, 'pred')} (classes on dim 1), so its class "
                     f"indices must be {want}, but '{ctx.src('target')}' gives {t}", "target")
        if t.dtype == "float32" and probs and t.shape != pred.shape:
            ctx.fail(f"reads class scores {_of(ctx, 'pred')}, so class probabilities must have "
                     f"the same shape, but '{ctx.src('target')}' gives {t}", "target")
        if t.dtype != "int64" and not (probs and t.dtype == "float32"):
            ctx.fail(f"needs class indices (int64){' or probabilities' if probs else ''} on "
                     f"'target', but '{ctx.src('target')}' gives {t}", "target")
        return {"loss": SCALAR}
    return shape


def _rows(per_class: bool):
    """Scores N × C (torch takes a matrix) against int64 targets N, or N × C (`per_class`)."""
    def shape(ctx):
        pred, t = _real(ctx, "pred"), ctx.ins["target"]
        if len(pred.shape) != 2:
            ctx.fail(f"needs scores N × C (a matrix: torch refuses other ranks), but "
                     f"'{ctx.src('pred')}' gives {pred}", "pred")
        want = TensorType(pred.shape if per_class else pred.shape[:1], "int64")
        if (t.shape, t.dtype) != (want.shape, want.dtype):
            ctx.fail(f"reads scores {_of(ctx, 'pred')}, so its target must hold class indices"
                     f"{' (−1 after the last)' if per_class else ''}, {want}, but "
                     f"'{ctx.src('target')}' gives {t}", "target")
        return {"loss": SCALAR}
    return shape


def _gaussian(ctx):
    s = _real(ctx, "pred").shape
    _numbers(ctx, "target", True)
    _same(ctx, ("pred", "target"), "(ŷᵢ − yᵢ)² / varᵢ element by element")
    var = _real(ctx, "var")
    if var.shape not in (s, s[:-1], (*s[:-1], 1)):
        ctx.fail(f"needs variances of the prediction's shape {ctx.ins['pred']}, or one per "
                 f"row ({TensorType(s[:-1])} or {TensorType((*s[:-1], 1))}), but "
                 f"'{ctx.src('var')}' gives {var}", "var")
    return {"loss": SCALAR}


def _pairs(rank: int, term: str):
    """x1 and x2 of one shape (embeddings N × D when `rank` is 2) and a ±1 target, one per
    row of them (N) or, with `rank` 1, one per element."""
    def shape(ctx):
        x1 = _real(ctx, "x1", rank, "embeddings N × D")
        if rank == 2 and len(x1.shape) != 2:
            ctx.fail(f"needs embeddings N × D (torch refuses other ranks), but "
                     f"'{ctx.src('x1')}' gives {x1}", "x1")
        _real(ctx, "x2")
        _same(ctx, ("x1", "x2"), term)
        t = _numbers(ctx, "target", True)
        if rank == 2 and t.shape != x1.shape[:1]:
            ctx.fail(f"needs one label ±1 per pair, {TensorType(x1.shape[:1])}, but "
                     f"'{ctx.src('target')}' gives {t}", "target")
        if rank == 1:
            _same(ctx, ("x1", "target"), term)
        return {"loss": SCALAR}
    return shape


def _triplet(ctx):
    _real(ctx, "anchor", 2, "embeddings N × D"), _real(ctx, "positive"), _real(ctx, "negative")
    _same(ctx, ("anchor", "positive", "negative"), "d(aᵢ, pᵢ) and d(aᵢ, nᵢ) row by row")
    return {"loss": SCALAR}


def _torch_loss(type_, title, fn, prefix, metric, shape, params, ports, doc):
    """A node of torch.nn's loss `type_`: F.<fn>(*inputs in port order, **params), each param
    named as torch's keyword argument (weight and metric are the node's own)."""
    names = tuple(p.name for p in params)
    return NodeSpec(
        type=type_, title=title, category=CAT, role="loss", id_prefix=prefix,
        inputs=ports, outputs=(Port("loss", kind="loss", role="loss"),),
        params=(*params, WEIGHT, METRIC), shape=shape,
        build=lambda ctx: Call(f"F.{fn}", {n: ctx.p[n] for n in names}), metric=metric,
        color=COLORS[CAT], doc=doc)


def _ports(pred: str, target: str, *more: Port) -> tuple[Port, ...]:
    return (Port("pred", doc=pred, role="pred"), Port("target", doc=target, role="target"), *more)


def _margin(default: float, low: float | None = 0.0, high: float | None = None) -> Param:
    return Param("margin", "float", default, "The margin the loss asks for.", min=low, max=high)


_EPS = "ε that keeps a logarithm or a distance away from 0."
_PLAIN = _ports("the model's prediction ŷ", "the truth y, the prediction's shape")
_SIGNS = _ports("scores ŷ, any shape", "labels y = −1 or +1, the prediction's shape")
_SCORES = _ports("class scores (logits) N × C, or N × C × d₁ … (classes on dim 1)",
                 "class indices N (or N × d₁ …), or class probabilities of the scores' shape")
TORCH = tuple(_torch_loss(*row) for row in (
    ("L1Loss", "L1 loss", "l1_loss", "l1", "mae", _elementwise("|ŷᵢ − yᵢ| element by element"),
     (), _PLAIN, Doc(
        summary="Mean absolute error between prediction and target (torch's nn.L1Loss).",
        formula="L = (1/n) Σᵢ |ŷᵢ − yᵢ|   (n: every element)",
        use_case="Regression that should not chase outliers (it fits the median, MSE the mean), "
                 "and image reconstruction: pix2pix adds an L1 term to its GAN loss. Example: "
                 "ŷ = [2, 0], y = [1, 3] gives (1 + 3) / 2 = 2.",
        notes="Its gradient is ±1 whatever the size of the error, with a kink at 0: "
              "SmoothL1Loss and HuberLoss round the kink off.")),
    ("NLLLoss", "NLL loss", "nll_loss", "nll", "accuracy/argmax", _classes(False),
     (Param("ignore_index", "int", -100, "A class index whose positions count for nothing "
            "(the padding of sequences): the mean runs over the others.", min=-10_000_000,
            max=10_000_000, role="ignore_index"),),
     _ports("log-probabilities N × C, or N × C × d₁ … (after LogSoftmax over dim 1)",
            "class indices N, or N × d₁ …"), Doc(
        summary="Negative log-likelihood of the true class, reading log-probabilities "
                "(torch's nn.NLLLoss).",
        formula="L = −(1/m) Σᵢ ŷ[i, yᵢ]   over the m positions whose yᵢ ≠ ignore_index",
        use_case="Classification after a LogSoftmax on dim 1: LogSoftmax + NLLLoss is "
                 "CrossEntropyLoss in two steps. Example: log-probabilities [ln 0.7, ln 0.2, "
                 "ln 0.1] with class 0 give −ln 0.7 = 0.357.",
        notes="No logarithm is taken here: probabilities after a Softmax give a wrong loss, "
              "unbounded below.")),
    ("BCEWithLogitsLoss", "BCE with logits", "binary_cross_entropy_with_logits", "bcelogits",
     "accuracy/logit", _elementwise("the cross-entropy of σ(ŷᵢ) and yᵢ element by element", ints=False), (),
     _ports("logits ŷ, any shape (no Sigmoid before it)",
            "probabilities y ∈ [0, 1] (float32), the logits' shape"), Doc(
        summary="Binary cross-entropy on logits, the Sigmoid folded in (torch's "
                "nn.BCEWithLogitsLoss).",
        formula="L = −(1/n) Σᵢ [yᵢ log σ(ŷᵢ) + (1 − yᵢ) log(1 − σ(ŷᵢ))],   σ(x) = 1 / (1 + e⁻ˣ)\n"
                "computed as max(ŷ, 0) − ŷ·y + log(1 + e^(−|ŷ|))",
        use_case="Binary and multi-label classification (one logit per label, N × C). "
                 "Example: ŷ = 0 gives log 2 = 0.693 whatever y is.",
        notes="The same value as BCELoss with from_logits on, numerically safer than Sigmoid + "
              "BCELoss. torch's weight and pos_weight (tensors) are not offered.")),
    ("CrossEntropyLoss", "Cross-entropy loss", "cross_entropy", "ce", "accuracy/argmax",
     _classes(True),
     (Param("ignore_index", "int", -100, "A class index whose positions count for nothing "
            "(class indices only): the mean runs over the others.", min=-10_000_000,
            max=10_000_000, role="ignore_index"),
      Param("label_smoothing", "float", 0.0, "ε: the target mixes the true class with the "
            "uniform distribution, (1 − ε) one-hot + ε / C.", min=0.0, max=1.0)),
     _SCORES, Doc(
        summary="Cross-entropy of logits against class indices or class probabilities "
                "(torch's nn.CrossEntropyLoss): LogSoftmax and NLLLoss in one.",
        formula="L = −(1/n) Σᵢ Σ꜀ qᵢ꜀ log softmax(ŷᵢ)꜀,   softmax(z)꜀ = e^(z꜀) / Σₖ e^(zₖ)\n"
                "qᵢ = (1 − ε) onehot(yᵢ) + ε / C for indices (ε = label_smoothing), "
                "qᵢ = yᵢ for probabilities",
        use_case="Multi-class classification reading raw scores: the last Linear or Conv feeds "
                 "it directly (N × C, or N × C × H × W per pixel for segmentation). Example: "
                 "logits [2, 1, 0] with class 0 give −ln(e² / (e² + e + 1)) = 0.408.",
        notes="This is torch's class, what an imported PyTorch model gets: logits in, classes "
              "on dim 1, label smoothing. CategoricalCrossEntropyLoss stays LayerLoom's "
              "teaching form: it reads probabilities after a Softmax (logits with from_logits) "
              "and may hold the classes on the last axis; with from_logits on and the classes "
              "on dim 1 it gives this loss's value.")),
    ("KLDivLoss", "KL divergence", "kl_div", "kldiv", None,
     _elementwise("y (log y − ŷ) element by element", ints=False),
     (Param("reduction", "choice", "batchmean", "'batchmean': the sum over all elements / N, "
            "the KL divergence per sample. 'mean' divides by every element (torch's default, "
            "C times smaller for N × C); 'sum' does not divide.",
            choices=("batchmean", "mean", "sum")),
      Param("log_target", "bool", False, "The target holds log-probabilities too.")),
     _ports("log-probabilities ŷ (after LogSoftmax)",
            "probabilities y (log-probabilities with log_target), ŷ's shape"), Doc(
        summary="Kullback–Leibler divergence of the target distribution from the predicted "
                "one, reading log-probabilities (torch's nn.KLDivLoss).",
        formula="L = (1/N) Σᵢⱼ yᵢⱼ (log yᵢⱼ − ŷᵢⱼ) = (1/N) Σᵢ KL(yᵢ ‖ e^ŷᵢ)   (terms with "
                "yᵢⱼ = 0 count 0)\nlog_target: L = (1/N) Σᵢⱼ e^yᵢⱼ (yᵢⱼ − ŷᵢⱼ)",
        use_case="Knowledge distillation: a student's LogSoftmax(z / T) against the teacher's "
                 "Softmax(z / T). Example: y = [0.5, 0.5], e^ŷ = [0.9, 0.1] give "
                 "0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = 0.511.",
        notes="The node defaults to 'batchmean', which torch recommends: torch's own default "
              "'mean' is not the KL divergence.")),
    ("PoissonNLLLoss", "Poisson NLL loss", "poisson_nll_loss", "poisson", None,
     _elementwise("e^ŷᵢ − yᵢ ŷᵢ element by element"),
     (Param("log_input", "bool", True, "The prediction is log λ (on) or the rate λ itself."),
      Param("full", "bool", False, "Add Stirling's term for log(y!), so the value is the "
            "whole negative log-likelihood."),
      Param("eps", "float", 1e-8, _EPS + " (log(λ + ε) when log_input is off)", min=0.0)),
     _ports("log λ (or λ), any shape", "counts y ≥ 0, the prediction's shape"), Doc(
        summary="Negative log-likelihood of counts under a Poisson distribution of predicted "
                "rate λ (torch's nn.PoissonNLLLoss).",
        formula="log_input: L = (1/n) Σᵢ (e^ŷᵢ − yᵢ ŷᵢ)    else: L = (1/n) Σᵢ (ŷᵢ − yᵢ log(ŷᵢ + ε))"
                "\nfull adds yᵢ log yᵢ − yᵢ + ½ log(2π yᵢ) where yᵢ > 1",
        use_case="Regression of counts: events per hour, photons per pixel, a neuron's spikes "
                 "per bin. Example: ŷ = ln 2 (λ = 2), y = 3 give 2 − 3 ln 2 = −0.079.",
        notes="Without full it leaves out log(y!), which does not depend on the model, so it "
              "can be negative.")),
    ("SoftMarginLoss", "Soft margin loss", "soft_margin_loss", "softmargin", "accuracy/sign",
     _elementwise("log(1 + e^(−yᵢ ŷᵢ)) element by element"), (), _SIGNS, Doc(
        summary="Logistic loss of a score against a ±1 label (torch's nn.SoftMarginLoss).",
        formula="L = (1/n) Σᵢ log(1 + e^(−yᵢ ŷᵢ)),   yᵢ ∈ {−1, +1}",
        use_case="Two-class classification with −1/+1 labels: a smooth hinge, the same as "
                 "BCEWithLogitsLoss on (y + 1) / 2. Example: ŷ = 0 gives ln 2 = 0.693; "
                 "ŷ = 2, y = 1 gives ln(1 + e⁻²) = 0.127.")),
    ("MultiLabelSoftMarginLoss", "Multi-label soft margin", "multilabel_soft_margin_loss",
     "mlsoftmargin", "accuracy/logit", _elementwise("the cross-entropy of σ(ŷᵢ꜀) and yᵢ꜀ per label",
                                                    rank=2), (),
     _ports("logits N × C, one per label", "labels 0 or 1 per class, N × C"), Doc(
        summary="Binary cross-entropy of each label's logit, averaged over the C labels, then "
                "the samples (torch's nn.MultiLabelSoftMarginLoss).",
        formula="L = −(1/N) Σᵢ (1/C) Σ꜀ [yᵢ꜀ log σ(ŷᵢ꜀) + (1 − yᵢ꜀) log σ(−ŷᵢ꜀)]",
        use_case="Multi-label classification: an image both 'cat' and 'outdoor'. Example: "
                 "logits [0, 0] give ln 2 = 0.693 whatever the labels.",
        notes="For N × C the same value as BCEWithLogitsLoss; more axes average over the "
              "last one as the labels.")),
    ("MultiMarginLoss", "Multi-class margin loss", "multi_margin_loss", "multimargin",
     "accuracy/argmax", _rows(False),
     (Param("p", "int", 1, "1: the hinge; 2: the squared hinge.", min=1, max=2),
      _margin(1.0)),
     _ports("class scores N × C", "class indices N"), Doc(
        summary="Multi-class hinge loss: every wrong class's score must stay a margin below "
                "the true class's (torch's nn.MultiMarginLoss).",
        formula="L = (1/N) Σᵢ (1/C) Σ_{j ≠ yᵢ} max(0, margin − ŷ[i, yᵢ] + ŷ[i, j])ᵖ",
        use_case="A multi-class SVM (Weston–Watkins) on top of features. Example: scores "
                 "[3, 1, 2.5], class 0, margin 1: (0 + 0.5) / 3 = 0.167.")),
    ("MultiLabelMarginLoss", "Multi-label margin loss", "multilabel_margin_loss", "mlmargin",
     None, _rows(True), (),
     _ports("class scores N × C", "per row, the true classes' indices then −1 (int64, N × C)"),
     Doc(summary="Multi-label hinge loss: every true class's score must beat every other "
                 "class's by 1 (torch's nn.MultiLabelMarginLoss).",
         formula="L = (1/N) Σᵢ Σ_{j ∈ Yᵢ} Σ_{k ∉ Yᵢ} max(0, 1 − (ŷ[i, j] − ŷ[i, k])) / C\n"
                 "Yᵢ: the indices in target row i before its first −1",
         use_case="Multi-label ranking: tags whose scores must all rank above the rest. "
                  "Example (torch's): scores [0.1, 0.2, 0.4, 0.8], target [3, 0, −1, 1] (classes "
                  "3 and 0) give 0.85.")),
    ("HingeEmbeddingLoss", "Hinge embedding loss", "hinge_embedding_loss", "hingeemb", None,
     _elementwise("xᵢ or max(0, margin − xᵢ) element by element"), (_margin(1.0),),
     _ports("distances x ≥ 0 (of two embeddings), any shape",
            "labels y = 1 (similar) or −1 (dissimilar), x's shape"), Doc(
        summary="Pulls similar pairs' distances to 0 and pushes dissimilar ones beyond the "
                "margin (torch's nn.HingeEmbeddingLoss).",
        formula="lᵢ = xᵢ if yᵢ = 1,   max(0, margin − xᵢ) if yᵢ = −1;   L = (1/n) Σᵢ lᵢ",
        use_case="Learning embeddings from pairs (x the L1 or L2 distance of two embeddings), "
                 "semi-supervised learning. Example: x = 0.3 with y = −1 and margin 1 gives "
                 "0.7.")),
))

# torch's losses of three inputs: the first is the prediction (role pred), at most one target
MULTI_INPUT = tuple(_torch_loss(*row) for row in (
    ("GaussianNLLLoss", "Gaussian NLL loss", "gaussian_nll_loss", "gaussnll", "mae", _gaussian,
     (Param("full", "bool", False, "Add the constant ½ log 2π."),
      Param("eps", "float", 1e-6, "The smallest variance: var is clamped to it.", min=0.0)),
     _ports("the predicted mean ŷ", "the truth y, ŷ's shape",
            Port("var", doc="the predicted variance ≥ 0: ŷ's shape, or one per row")), Doc(
        summary="Negative log-likelihood of the target under a normal distribution whose mean "
                "and variance the model predicts (torch's nn.GaussianNLLLoss).",
        formula="L = (1/n) Σᵢ ½ [log max(varᵢ, eps) + (ŷᵢ − yᵢ)² / max(varᵢ, eps)]   "
                "(+ ½ log 2π with full)",
        use_case="Regression that says how sure it is: a second head with a Softplus gives "
                 "var. Example: ŷ = 0, y = 1, var = 1 give 0.5.")),
    ("CosineEmbeddingLoss", "Cosine embedding loss", "cosine_embedding_loss", "cosemb", None,
     _pairs(2, "cos(x1ᵢ, x2ᵢ) row by row"), (_margin(0.0, -1.0, 1.0),),
     (Port("x1", doc="embeddings N × D", role="pred"), Port("x2", doc="embeddings N × D"),
      Port("target", doc="y = 1 (similar) or −1, one per pair: N", role="target")), Doc(
        summary="Asks similar pairs for cosine 1 and dissimilar ones for a cosine below the "
                "margin (torch's nn.CosineEmbeddingLoss).",
        formula="lᵢ = 1 − cos(x1ᵢ, x2ᵢ) if yᵢ = 1,   max(0, cos(x1ᵢ, x2ᵢ) − margin) if "
                "yᵢ = −1;   L = (1/N) Σᵢ lᵢ",
        use_case="Siamese networks: sentence or image embeddings compared by angle. Example: "
                 "x1 = [1, 0], x2 = [0, 1] (cos 0) with y = 1 give 1.")),
    ("MarginRankingLoss", "Margin ranking loss", "margin_ranking_loss", "ranking", None,
     _pairs(1, "max(0, −yᵢ (x1ᵢ − x2ᵢ) + margin) element by element"), (_margin(0.0),),
     (Port("x1", doc="scores", role="pred"), Port("x2", doc="scores, x1's shape"),
      Port("target", doc="y = 1 (x1 ranks higher) or −1, x1's shape", role="target")), Doc(
        summary="Asks x1 to score a margin above x2 where y = 1, and below where y = −1 "
                "(torch's nn.MarginRankingLoss).",
        formula="L = (1/n) Σᵢ max(0, −yᵢ (x1ᵢ − x2ᵢ) + margin)",
        use_case="Learning to rank from preferences: search results, recommendations. "
                 "Example: x1 = 0.2, x2 = 0.5, y = 1, margin 0.1 give 0.4.")),
    ("TripletMarginLoss", "Triplet margin loss", "triplet_margin_loss", "triplet", None,
     _triplet,
     (_margin(1.0), Param("p", "float", 2.0, "The norm of the distance.", min=1.0),
      Param("eps", "float", 1e-6, _EPS, min=0.0),
      Param("swap", "bool", False, "Use the harder of d(a, n) and d(p, n) (Balntas et al.).")),
     (Port("anchor", doc="embeddings N × D", role="pred"),
      Port("positive", doc="embeddings of the anchor's kind, N × D"),
      Port("negative", doc="embeddings of another kind, N × D")), Doc(
        summary="Asks an anchor to be closer to a positive than to a negative by a margin "
                "(torch's nn.TripletMarginLoss).",
        formula="L = (1/N) Σᵢ max(0, d(aᵢ, pᵢ) − d(aᵢ, nᵢ) + margin),   d(x, y) = "
                "‖x − y + eps‖ₚ\nswap: d(aᵢ, nᵢ) becomes min(d(aᵢ, nᵢ), d(pᵢ, nᵢ))",
        use_case="Metric learning: FaceNet's face embeddings, image retrieval. Example: "
                 "d(a, p) = 1, d(a, n) = 1.5, margin 1 give 0.5.")),
))

SPECS = (MSE, BCE, CCE, HINGE, HUBER, SMOOTH_L1, *TORCH, *MULTI_INPUT)
