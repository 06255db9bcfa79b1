"""Loss nodes. Each compares a prediction with a Target; their weighted sum is what training
minimises (L = L_cls + L_box + L_mask for a detector). They exist only for training."""
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

SPECS = (MSE, BCE, CCE, HINGE, HUBER, SMOOTH_L1)
