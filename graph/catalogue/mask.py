"""Mask R-CNN's mask branch (issue 14): the RoIs it reads, its loss and the instance masks it
pastes into the image. The functions are runtime/detection/masks.py, with torchvision's
semantics. The mask head between them is ordinary layers: RoIAlign, 3 × 3 convs, a 2 × 2
transposed conv and a 1 × 1 conv with one output channel per class.

Values on the wires: the branch's RoIs M × 5 (training: the sampled RoIs that matched an
object; inference: the detections, D per image), their classes M and matched objects M
(b·K + j: image b's object j), mask logits M × C × S × S, instance masks N × D × H × W.
"""
from __future__ import annotations

from ..spec import Call, Doc, NodeSpec, Port, TensorType
from ._common import COLORS
from .detection import CAT, _map, _rois
from .losses import SCALAR, WEIGHT

M = "M"  # the mask branch's RoIs: positives in training, the detections at inference


def _ints(ctx, port, what, rank=1):
    t = ctx.ins[port]
    if t.dtype != "int64" or len(t.shape) != rank:
        ctx.fail(f"needs {what} (int64) but '{ctx.src(port)}' gives {t}", port)
    return t


def _same_rows(ctx, ports: tuple[str, ...]) -> None:
    """One row per RoI in every one of `ports` (the first dimension, a size or a symbol)."""
    rows = {p: ctx.ins[p].shape[0] for p in ports}
    first = ports[0]
    for p in ports[1:]:
        if rows[p] != rows[first]:
            ctx.fail(f"needs one row per RoI, but '{ctx.src(first)}' gives {rows[first]} and "
                     f"'{ctx.src(p)}' {rows[p]}", p)


def _mask_rois_shape(ctx):
    r = _rois(ctx, "sampled")
    lab = _ints(ctx, "sampled_labels", "the RoIs' classes R")
    mt = _ints(ctx, "sampled_matched", "the RoIs' matched objects R")
    if len({r.shape[0], lab.shape[0], mt.shape[0]}) > 1:
        ctx.fail(f"needs one row per RoI in RoIs ({r.shape[0]}), labels ({lab.shape[0]}) and "
                 f"matches ({mt.shape[0]})")
    b = ctx.ins["det_boxes"]
    if len(b.shape) != 3 or b.shape[2] != 4:
        ctx.fail(f"needs the detections' boxes N × D × 4 but '{ctx.src('det_boxes')}' gives "
                 f"{b}", "det_boxes")
    c = _ints(ctx, "det_labels", "the detections' classes N × D", rank=2)
    if tuple(c.shape[1:]) != tuple(b.shape[1:2]):
        ctx.fail(f"needs {b.shape[1]} classes per image, one per box, but "
                 f"'{ctx.src('det_labels')}' gives {c}", "det_labels")
    return {"rois": TensorType((M, 5), holds="RoIs"),
            "labels": TensorType((M,), "int64", holds="classes"),
            "matched": TensorType((M,), "int64", holds="object indices")}


MASK_ROIS = NodeSpec(
    type="MaskRoIs", title="Mask RoIs", category=CAT, id_prefix="mask_rois",
    inputs=(Port("sampled", phase="train", by_name=True,
                 doc="training: the sampled RoIs R × 5 ('Match & sample RoIs')"),
            Port("sampled_labels", phase="train", by_name=True,
                 doc="training: their classes R"),
            Port("sampled_matched", phase="train", by_name=True,
                 doc="training: the objects they matched R"),
            Port("det_boxes", phase="infer", by_name=True,
                 doc="inference: the detections' boxes N × D × 4"),
            Port("det_labels", phase="infer", by_name=True,
                 doc="inference: the detections' classes N × D")),
    outputs=(Port("rois", path=(0,), doc="M × 5: the RoIs the mask head reads"),
             Port("labels", path=(1,), doc="M: their classes (the mask channel read)"),
             Port("matched", path=(2,), doc="M: their objects (training)")),
    params=(), shape=_mask_rois_shape, build=lambda ctx: Call("ops.mask_rois"),
    color=COLORS[CAT],
    doc=Doc(
        summary="Chooses the regions the mask branch works on: in training the sampled RoIs "
                "that matched an object (a background RoI has no mask to learn), at "
                "inference the detections, each with the class it was detected as.",
        formula="training: {(rᵢ, yᵢ, mᵢ) : yᵢ ≥ 1}\ninference: {(b, boxᵦₖ, classᵦₖ) : every "
                "image b, detection k}",
        use_case="Mask R-CNN: the mask head runs in parallel with the box head in training "
                 "(on the positives), and after the detections at inference, so that each "
                 "predicted box gets its mask.",
        notes="Its training ports are left out of the inference model and its inference "
              "ports out of the training objective: the two wires into the mask branch are "
              "both drawn, each used in its phase."))


def _mask_loss_shape(ctx):
    p = ctx.ins["pred"]
    if len(p.shape) != 4 or p.shape[2] != p.shape[3]:
        ctx.fail(f"needs mask logits M × C × S × S but '{ctx.src('pred')}' gives {p}", "pred")
    _ints(ctx, "labels", "the RoIs' classes M")
    _ints(ctx, "matched", "the RoIs' matched objects M")
    _rois(ctx)
    _same_rows(ctx, ("pred", "labels", "rois", "matched"))
    g = ctx.ins["gt_masks"]
    if len(g.shape) != 4 or g.dtype != "float32":
        ctx.fail(f"needs the objects' masks N × K × H × W but '{ctx.src('gt_masks')}' gives "
                 f"{g}", "gt_masks")
    return {"loss": SCALAR}


MASK_LOSS = NodeSpec(
    type="MaskLoss", title="Mask loss (per-pixel BCE)", category="Loss", role="loss",
    id_prefix="mask_loss",
    inputs=(Port("pred", role="pred", doc="mask logits M × C × S × S, one mask per class"),
            Port("labels", doc="the RoIs' classes M: the channel that counts"),
            Port("rois", doc="the RoIs M × 5: where each mask target is cut out"),
            Port("matched", doc="the objects they matched M (b·K + j)"),
            Port("gt_masks", role="gt_masks", doc="the objects' masks N × K × H × W")),
    outputs=(Port("loss", kind="loss", role="loss"),),
    params=(WEIGHT,), shape=_mask_loss_shape, build=lambda ctx: Call("ops.mask_loss"),
    color=COLORS["Loss"],
    doc=Doc(
        summary="Mask R-CNN's L_mask: the average binary cross-entropy, pixel by pixel, "
                "between the mask predicted for each object RoI's own class and the object's "
                "true mask, cut out along the RoI and resized to S × S by RoIAlign.",
        formula="t = RoIAlign(mask of the matched object, RoI, S × S)\n"
                "L_mask = −(1/(M S²)) Σᵢ Σ_pixels [t log σ(m̂ᵢ^(yᵢ)) + (1 − t) log(1 − "
                "σ(m̂ᵢ^(yᵢ)))]",
        use_case="The third term of Mask R-CNN's L = L_cls + L_box + L_mask (with the RPN's "
                 "two). Only the channel of the RoI's class is scored: the classes do not "
                 "compete for a pixel (a sigmoid per class, not a softmax over them), so the "
                 "classifier alone decides the class.",
        notes="Background RoIs have no mask and are not in M ('Mask RoIs' leaves them out)."))


def _paste_shape(ctx):
    p = ctx.ins["logits"]
    if len(p.shape) != 4:
        ctx.fail(f"needs mask logits M × C × S × S but '{ctx.src('logits')}' gives {p}",
                 "logits")
    _ints(ctx, "labels", "the detections' classes M")
    _rois(ctx)
    _same_rows(ctx, ("logits", "labels", "rois"))
    img = _map(ctx, "image", "the images")
    return {"masks": TensorType((img.shape[0], "D", *img.shape[2:]), holds="instance masks")}


PASTE_MASKS = NodeSpec(
    type="PasteMasks", title="Instance masks", category=CAT, id_prefix="paste", phase="infer",
    inputs=(Port("logits", doc="the mask head's logits M × C × S × S"),
            Port("labels", doc="each detection's class M: its channel is read"),
            Port("rois", doc="the detections as RoIs M × 5 ('Mask RoIs')"),
            Port("image", role="image", doc="the images (their size)")),
    outputs=(Port("masks", role="det_masks"),),
    params=(), shape=_paste_shape, build=lambda ctx: Call("ops.paste_masks"),
    color=COLORS[CAT],
    doc=Doc(
        summary="Inference only: each detection's S × S mask (its class's channel, through a "
                "sigmoid) resized onto its box in the image: one probability map per "
                "detection, zero outside its box.",
        formula="maskᵦₖ(x, y) = σ(m̂ᵏ)(S (x − x₁)/(x₂ − x₁), S (y − y₁)/(y₂ − y₁)), "
                "bilinear; 0 outside the box",
        use_case="The end of Mask R-CNN: boxes, classes, scores and a mask per instance. A "
                 "pixel belongs to the instance where the map is ≥ 0.5; mask mAP (COCO "
                 "'segm') is measured on these."))


SPECS = (MASK_ROIS, MASK_LOSS, PASTE_MASKS)
