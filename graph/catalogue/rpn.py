"""Faster R-CNN's Region Proposal Network (issue 14): anchors, the RPN head, the proposal
step, anchor matching and the objectness loss. The functions are runtime/detection/rpn.py,
with torchvision's semantics.

Values on the wires: anchors A × 4 (A = H · W · k for a feature map H × W, k per cell), the
RPN's objectness logits N × A and box deltas N × A × 4, proposals N × P × 4 (zero rows pad),
the anchors' labels N × A (1 object, 0 background, −1 not drawn) and target deltas N × A × 4.
"""
from __future__ import annotations

from ..spec import BATCH, Call, Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import COLORS
from .detection import CAT, _FRAC, _map
from .losses import SCALAR, WEIGHT


def _anchor_shape(ctx):
    f = _map(ctx, "features", "a feature map")
    img = _map(ctx, "image", "the images")
    h, w = f.shape[2:]
    ih, iw = img.shape[2:]
    if not all(isinstance(v, int) for v in (h, w, ih, iw)):
        ctx.fail(f"needs fixed sizes to lay its anchors out, but the map is {f} and the "
                 f"images {img}")
    if h > ih or w > iw:
        ctx.fail(f"needs a feature map no larger than the images, but '{ctx.src('features')}' "
                 f"gives {h} × {w} for images of {ih} × {iw}", "features")
    k = len(ctx.p["sizes"]) * len(ctx.p["aspect_ratios"])
    return {"anchors": TensorType((h * w * k, 4), holds="anchors")}


ANCHORS = NodeSpec(
    type="AnchorGenerator", title="Anchor generator", category=CAT, id_prefix="anchors",
    inputs=(Port("features", role="feature_map",
                 doc="the feature map N × C × H × W the RPN reads"),
            Port("image", role="image", doc="the images (their size sets the stride)")),
    outputs=(Port("anchors", role="anchors"),),
    params=(Param("sizes", "numbers", [16, 32], "Anchor sides in image pixels (each the "
                  "square root of the area): one set per size and ratio in every cell.",
                  role="anchor_sizes"),
            Param("aspect_ratios", "numbers", [0.5, 1.0, 2.0], "Height / width of the "
                  "anchors (0.5 wide, 1 square, 2 tall).", role="anchor_ratios")),
    shape=_anchor_shape,
    build=lambda ctx: Call("ops.anchors", {"sizes": list(ctx.p["sizes"]),
                                           "aspect_ratios": list(ctx.p["aspect_ratios"])}),
    color=COLORS[CAT],
    doc=Doc(
        summary="The reference boxes the RPN starts from: at every cell of the feature map, "
                "k = sizes × aspect ratios boxes centred on the cell's corner in the image "
                "(torchvision's layout).",
        formula="stride = image side // map side\nfor ratio r and size s: w = s/√r, h = s·√r "
                "(area s²)\nanchor(i, j) = (j·stride − w/2, i·stride − h/2, j·stride + w/2, "
                "i·stride + h/2)",
        use_case="Faster R-CNN: anchors of several sizes and aspect ratios cover objects of "
                 "every shape; the RPN says for each whether it holds an object and how to "
                 "move it onto one.",
        notes="Order: row, column, then the cell's k anchors (ratio-major). The RPN head's "
              "'anchors per cell' must be k."))


def _head_shape(ctx):
    f = _map(ctx, "features", "a feature map")
    h, w = f.shape[2:]
    k = ctx.p["anchors"]
    a = h * w * k if isinstance(h, int) and isinstance(w, int) else "A"
    return {"objectness": TensorType((BATCH, a), holds="objectness logits"),
            "deltas": TensorType((BATCH, a, 4), holds="box deltas")}


RPN_HEAD = NodeSpec(
    type="RPNHead", title="RPN head", category=CAT, id_prefix="rpn",
    inputs=(Port("features", doc="the backbone's feature map N × C × H × W"),),
    outputs=(Port("objectness", path=(0,), doc="N × A objectness logits, one per anchor"),
             Port("deltas", path=(1,), doc="N × A × 4 box deltas, one set per anchor")),
    params=(Param("anchors", "int", 6, "Anchors per map cell k: the Anchor generator's sizes "
                  "× aspect ratios.", min=1, max=1024),),
    shape=_head_shape,
    build=lambda ctx: Make("ops.RPNHead", {"in_channels": ctx.ins["features"].shape[1],
                                           "anchors": ctx.p["anchors"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="The Region Proposal Network: a small fully convolutional network that slides "
                "over the feature map and, for each of a cell's k anchors, predicts whether "
                "it holds an object (objectness) and the deltas that move it onto the object.",
        formula="t = ReLU(conv₃ₓ₃(F))\nobjectness = conv₁ₓ₁(t) ∈ ℝ^(k × H × W)\n"
                "deltas = conv₁ₓ₁(t) ∈ ℝ^(4k × H × W)",
        use_case="Faster R-CNN: it replaces selective search, sharing the backbone's features "
                 "with the detector, so that proposals cost one small conv layer.",
        notes="Weights start N(0, 0.01²), biases 0 (torchvision)."))


def _proposals_shape(ctx):
    o, d = ctx.ins["objectness"], ctx.ins["deltas"]
    a = ctx.ins["anchors"]
    _map(ctx, "image", "the images")
    if len(o.shape) != 2:
        ctx.fail(f"needs objectness N × A but '{ctx.src('objectness')}' gives {o}",
                 "objectness")
    if len(d.shape) != 3 or d.shape[2] != 4:
        ctx.fail(f"needs box deltas N × A × 4 but '{ctx.src('deltas')}' gives {d}", "deltas")
    if len(a.shape) != 2 or a.shape[1] != 4:
        ctx.fail(f"needs anchors A × 4 but '{ctx.src('anchors')}' gives {a}", "anchors")
    counts = {ctx.src("objectness"): o.shape[1], ctx.src("anchors"): a.shape[0]}
    if all(isinstance(v, int) for v in counts.values()) and len(set(counts.values())) > 1:
        ctx.fail(f"has {a.shape[0]} anchors from '{ctx.src('anchors')}' but "
                 f"{o.shape[1]} objectness scores from '{ctx.src('objectness')}': set the RPN "
                 f"head's anchors per cell to the Anchor generator's sizes × aspect ratios",
                 "anchors")
    if d.shape[1] != o.shape[1]:
        ctx.fail(f"needs as many box deltas as objectness scores, but has {d.shape[1]} and "
                 f"{o.shape[1]}", "deltas")
    return {"proposals": TensorType((BATCH, "P", 4), holds="boxes")}


def _count(name, default, text):
    return Param(name, "int", default, text, min=1, max=100_000)


PROPOSALS = NodeSpec(
    type="RegionProposals", title="RPN proposals (NMS)", category=CAT,
    id_prefix="proposals",
    inputs=(Port("objectness", doc="the RPN's objectness logits N × A"),
            Port("deltas", doc="the RPN's box deltas N × A × 4"),
            Port("anchors", role="anchors", doc="the anchors A × 4"),
            Port("image", role="image", doc="the images (their size clips the boxes)")),
    outputs=(Port("proposals", role="proposals"),),
    params=(_count("pre_nms_train", 1000, "Training: anchors of highest objectness decoded "
                   "per image before NMS (2000 in torchvision)."),
            _count("post_nms_train", 300, "Training: proposals kept per image after NMS."),
            _count("pre_nms_test", 500, "Inference: anchors decoded per image before NMS "
                   "(1000 in torchvision)."),
            _count("post_nms_test", 100, "Inference: proposals kept per image after NMS."),
            Param("nms_threshold", "float", 0.7, "NMS among the proposals: one overlapping a "
                  "better one with IoU above this is dropped.", min=0.0, max=1.0),
            Param("min_size", "float", 1e-3, "Proposals with a side shorter than this (pixels) "
                  "are dropped.", min=0.0, max=1e6),
            Param("score_threshold", "float", 0.0, "Proposals whose objectness (sigmoid) is "
                  "below this are dropped.", min=0.0, max=1.0)),
    shape=_proposals_shape,
    build=lambda ctx: Make("ops.RegionProposals", {k: ctx.p[k] for k in (
        "pre_nms_train", "post_nms_train", "pre_nms_test", "post_nms_test", "nms_threshold",
        "min_size", "score_threshold")}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Turns the RPN's scores and deltas into each image's region proposals: the "
                "most object-like anchors, moved by their deltas, clipped to the image, "
                "duplicates removed by non-maximum suppression.",
        formula="top n_pre anchors by objectness → decode (weights 1, 1, 1, 1) → clip → "
                "drop tiny → NMS(θ) → best n_post",
        use_case="Between the RPN and RoI pooling in Faster R-CNN: the proposals selective "
                 "search used to give, now from the network itself (more in training than "
                 "at inference).",
        notes="No gradient flows back through the proposals (torchvision's approximate joint "
              "training): the RPN learns from its own two losses."))


def _match_shape(ctx):
    a = ctx.ins["anchors"]
    if len(a.shape) != 2 or a.shape[1] != 4:
        ctx.fail(f"needs anchors A × 4 but '{ctx.src('anchors')}' gives {a}", "anchors")
    g, lab = ctx.ins["gt_boxes"], ctx.ins["gt_labels"]
    if len(g.shape) != 3 or g.shape[2] != 4:
        ctx.fail(f"needs the objects' boxes N × K × 4 but '{ctx.src('gt_boxes')}' gives {g}",
                 "gt_boxes")
    if lab.dtype != "int64" or len(lab.shape) != 2:
        ctx.fail(f"needs the objects' classes N × K (int64) but '{ctx.src('gt_labels')}' "
                 f"gives {lab}", "gt_labels")
    if g.shape[1] != lab.shape[1]:
        ctx.fail(f"has {g.shape[1]} boxes per image from '{ctx.src('gt_boxes')}' but "
                 f"{lab.shape[1]} classes from '{ctx.src('gt_labels')}'", "gt_labels")
    if not 0 <= ctx.p["bg_iou"] <= ctx.p["fg_iou"]:
        ctx.fail("needs bg_iou ≤ fg_iou")
    return {"labels": TensorType((BATCH, a.shape[0]), "int64", holds="anchor labels"),
            "targets": TensorType((BATCH, a.shape[0], 4), holds="box deltas")}


MATCH_ANCHORS = NodeSpec(
    type="MatchAnchors", title="Match & sample anchors", category=CAT, id_prefix="anchor_match",
    phase="train",
    inputs=(Port("anchors", role="anchors", doc="the anchors A × 4"),
            Port("gt_boxes", doc="the objects' boxes N × K × 4"),
            Port("gt_labels", doc="the objects' classes N × K (int64, −1 pads)")),
    outputs=(Port("labels", path=(0,), doc="N × A: 1 object, 0 background, −1 not drawn"),
             Port("targets", path=(1,), doc="N × A × 4: the deltas to each anchor's object")),
    params=(Param("fg_iou", "float", 0.7, "IoU with an object at or above which an anchor is "
                  "an object.", min=0.0, max=1.0, role="object_iou"),
            Param("bg_iou", "float", 0.3, "IoU below which (with every object) an anchor is "
                  "background; in between, ignored.", min=0.0, max=1.0, role="background_iou"),
            Param("per_image", "int", 256, "Anchors drawn per image for the RPN's losses.",
                  min=1, max=1_000_000),
            Param("positive_fraction", "float", 0.5, _FRAC.help, min=0.0, max=1.0),
            Param("low_quality", "bool", True, "Each object's best anchors are objects too, "
                  "whatever their IoU (so that no object is left without an anchor).",
                  role="keep_best_match")),
    shape=_match_shape,
    build=lambda ctx: Call("ops.match_anchors", {
        k: ctx.p[k] for k in ("fg_iou", "bg_iou", "per_image", "positive_fraction",
                              "low_quality")}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Training only: labels every anchor by the object it overlaps most (object, "
                "background or ignored) and draws a balanced sample of them per image, with "
                "the deltas that would move each onto its object: the RPN's targets.",
        formula="label = 1 if maxⱼ IoU(a, gⱼ) ≥ 0.7 (or a is gⱼ's best anchor); 0 if < 0.3; "
                "else ignored\nt = ((gx − ax)/aw, (gy − ay)/ah, log(gw/aw), log(gh/ah))",
        use_case="Faster R-CNN's RPN: 256 anchors per image, up to half of them objects, "
                 "feed its objectness and box losses."))


def _objectness_loss_shape(ctx):
    o, lab = ctx.ins["pred"], ctx.ins["target"]
    if len(o.shape) != 2:
        ctx.fail(f"needs objectness logits N × A but '{ctx.src('pred')}' gives {o}", "pred")
    if lab.dtype != "int64" or tuple(lab.shape[1:]) != tuple(o.shape[1:]):
        ctx.fail(f"needs the anchors' labels {TensorType(o.shape, 'int64')} but "
                 f"'{ctx.src('target')}' gives {lab}", "target")
    return {"loss": SCALAR}


OBJECTNESS_LOSS = NodeSpec(
    type="ObjectnessLoss", title="RPN objectness loss", category="Loss", role="loss",
    id_prefix="rpn_cls_loss",
    inputs=(Port("pred", role="pred", doc="objectness logits N × A"),
            Port("target", role="target", doc="the anchors' labels N × A (−1: not drawn)")),
    outputs=(Port("loss", kind="loss", role="loss"),),
    params=(WEIGHT,), shape=_objectness_loss_shape, build=lambda ctx: Call(
        "ops.objectness_loss"),
    color=COLORS["Loss"],
    doc=Doc(
        summary="The RPN's L_cls: binary cross-entropy of each drawn anchor's objectness "
                "against its label, object or background.",
        formula="L = −(1/|S|) Σ_{a ∈ S} [yₐ log σ(oₐ) + (1 − yₐ) log(1 − σ(oₐ))],  S = "
                "the drawn anchors",
        use_case="One of Faster R-CNN's four losses (RPN objectness, RPN box, detector "
                 "class, detector box), summed."))


SPECS = (ANCHORS, RPN_HEAD, PROPOSALS, MATCH_ANCHORS, OBJECTNESS_LOSS)
