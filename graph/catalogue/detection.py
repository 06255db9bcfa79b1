"""Object detection (issue 13): the R-CNN family's region nodes, box coding, matching,
post-processing and losses. The functions are runtime/detection/heads.py and boxes.py, with
torchvision's semantics.

Values on the wires: an image's boxes N × K × 4 (x1, y1, x2, y2 in pixels, zero rows pad
images with fewer); RoIs R × 5 (the image's index in the batch, then its box), the regions
of the whole batch together; per-RoI labels R (0 is the background) and box deltas R × 4.
"""
from __future__ import annotations

from ..spec import BATCH, Call, Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import COLORS
from .losses import SCALAR, WEIGHT

CAT = "Detection"
R = "R"  # the RoIs of a batch: sampled per image in training, every proposal at inference


def _boxes_source(ctx):
    return {"out": TensorType((BATCH, ctx.p["count"], 4), "float32", holds="boxes")}


_COUNT = Param("count", "int", 100, "Boxes per image K: the dataset pads each image's boxes "
               "to K rows (zero rows where it has fewer).", min=1, max=100_000)

BOXES_INPUT = NodeSpec(
    type="BoxesInput", title="Boxes (input)", category=CAT, role="input", id_prefix="boxes",
    inputs=(), outputs=(Port("out", role="value"),), params=(_COUNT,),
    shape=_boxes_source, color=COLORS["Input / Output"],
    doc=Doc(
        summary="A set of boxes per image fed from the dataset, such as its region proposals "
                "(selective search, computed once and cached with the data).",
        formula="B ∈ ℝ^(N × K × 4), each row (x₁, y₁, x₂, y₂)",
        use_case="R-CNN and Fast R-CNN take the image and its ~2000 region proposals (here "
                 "up to K per image) as their two inputs."))

BOXES_TARGET = NodeSpec(
    type="BoxesTarget", title="Boxes (target)", category=CAT, role="target",
    id_prefix="gt_boxes", inputs=(), outputs=(Port("out", role="value"),),
    params=(Param("count", "int", 4, "Objects per image K (the dataset pads to K).", min=1,
                  max=100_000),),
    shape=_boxes_source, color="#6c3483",
    doc=Doc(
        summary="The true boxes of each image's objects, for training; their classes come "
                "from a Target of K class indices beside it (−1 where an image has fewer).",
        formula="B* ∈ ℝ^(N × K × 4)",
        use_case="Matched to the proposals to make the detector's training targets."))


def _need(ctx, port, rank, last, what):
    t = ctx.ins.get(port)
    if t is None:
        return None
    if len(t.shape) != rank or (last is not None and t.shape[-1] != last):
        ctx.fail(f"needs {what} but '{ctx.src(port)}' gives {t}", port)
    return t


def _match_shape(ctx):
    _need(ctx, "proposals", 3, 4, "boxes N × P × 4")
    g = _need(ctx, "gt_boxes", 3, 4, "the objects' boxes N × K × 4")
    lab = ctx.ins["gt_labels"]
    if lab.dtype != "int64" or len(lab.shape) != 2:
        ctx.fail(f"needs the objects' classes N × K (int64) but '{ctx.src('gt_labels')}' "
                 f"gives {lab}", "gt_labels")
    if isinstance(g.shape[1], int) and isinstance(lab.shape[1], int) and \
            g.shape[1] != lab.shape[1]:
        ctx.fail(f"has {g.shape[1]} boxes per image from '{ctx.src('gt_boxes')}' but "
                 f"{lab.shape[1]} classes from '{ctx.src('gt_labels')}'", "gt_labels")
    if not 0 <= ctx.p["bg_iou_low"] <= ctx.p["bg_iou"] <= ctx.p["fg_iou"]:
        ctx.fail("needs bg_iou_low ≤ bg_iou ≤ fg_iou")
    return {"rois": TensorType((R, 5), holds="RoIs"),
            "labels": TensorType((R,), "int64", holds="classes"),
            "targets": TensorType((R, 4), holds="box deltas"),
            "matched": TensorType((R,), "int64", holds="object indices")}


_FRAC = Param("positive_fraction", "float", 0.25, "At most this share of the sampled RoIs "
              "are objects (the rest background).", min=0.0, max=1.0)

MATCH = NodeSpec(
    type="MatchProposals", title="Match & sample RoIs", category=CAT, id_prefix="sample",
    inputs=(Port("proposals", role="proposals", doc="the region proposals N × P × 4"),
            Port("gt_boxes", phase="train", by_name=True, role="gt_boxes",
                 doc="training only: the objects' boxes N × K × 4"),
            Port("gt_labels", phase="train", by_name=True, role="gt_labels",
                 doc="training only: the objects' classes N × K (int64, −1 pads)")),
    outputs=(Port("rois", path=(0,), doc="R × 5: sampled RoIs (training), every proposal "
                                         "(inference)"),
             Port("labels", path=(1,), doc="R: each sampled RoI's class, 0 background"),
             Port("targets", path=(2,), doc="R × 4: the deltas to its object (box coder)"),
             Port("matched", path=(3,), doc="R: the object each RoI matched, b·K + j for "
                                            "image b's object j (−1 background); Mask R-CNN "
                                            "reads its mask")),
    params=(Param("per_image", "int", 64, "RoIs sampled per image in training.", min=1,
                  max=100_000),
            _FRAC,
            Param("fg_iou", "float", 0.5, "IoU with an object at or above which a proposal "
                  "is that object (a positive).", min=0.0, max=1.0),
            Param("bg_iou", "float", 0.5, "IoU below which a proposal is background.",
                  min=0.0, max=1.0),
            Param("bg_iou_low", "float", 0.0, "IoU below which a proposal is left out (0.1 in "
                  "the Fast R-CNN paper: hard negatives only).", min=0.0, max=1.0),
            Param("add_gt", "bool", True, "Add the true boxes to the proposals (positives "
                  "from the first step).")),
    shape=_match_shape,
    build=lambda ctx: Call("ops.sample_rois", {k: ctx.p[k] for k in (
        "per_image", "positive_fraction", "fg_iou", "bg_iou", "bg_iou_low", "add_gt")}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Training: labels each proposal by the object it overlaps most and draws a "
                "balanced sample of them per image, with the box deltas that would move each "
                "onto its object. Inference: passes every proposal on.",
        formula="IoU(A, B) = |A ∩ B| / |A ∪ B|\nlabel = class of argmaxⱼ IoU(p, gⱼ) if max ≥ "
                "fg_iou; 0 (background) if < bg_iou\nt = (10 (gx − px)/pw, 10 (gy − py)/ph, "
                "5 log(gw/pw), 5 log(gh/ph))",
        use_case="Between the proposals and the RoI pooling of R-CNN and Fast R-CNN: the "
                 "classifier learns from positives (IoU ≥ 0.5) and background alike, a quarter "
                 "of them objects.",
        notes="Its ground-truth ports are wired in training only: the exported detector has "
              "no targets."))


def _rois(ctx, port="rois"):
    t = ctx.ins[port]
    if len(t.shape) != 2 or t.shape[1] != 5:
        ctx.fail(f"needs RoIs R × 5 (batch index, x1, y1, x2, y2) but '{ctx.src(port)}' "
                 f"gives {t}", port)
    return t


def _size(p):
    return p["output_size"], p["output_size"]


def _map(ctx, port, what):
    t = ctx.ins[port]
    if len(t.shape) != 4 or t.dtype != "float32":
        ctx.fail(f"needs {what} N × C × H × W but '{ctx.src(port)}' gives {t}", port)
    return t


def _roi_pool_shape(ctx):
    f = _map(ctx, "features", "a feature map")
    r = _rois(ctx)
    return {"y": TensorType((r.shape[0], f.shape[1], *_size(ctx.p)))}


_OUT = Param("output_size", "int", 7, "Each RoI's pooled size h × w (7 × 7 in Fast R-CNN).",
             min=1, max=1024)

ROI_POOL = NodeSpec(
    type="RoIPool", title="RoI pooling", category=CAT, id_prefix="roipool",
    figure="roi-pool-vs-align",
    inputs=(Port("features", doc="the backbone's feature map N × C × H × W"),
            Port("rois", doc="RoIs R × 5, in input-image pixels")),
    outputs=(Port("y"),),
    params=(_OUT,
            Param("spatial_scale", "float", 0.0625, "Feature-map pixels per image pixel: 1 / "
                  "the backbone's total stride (1/16 for VGG16; 1/4 after two 2 × 2 "
                  "poolings).", min=1e-6, max=1.0)),
    shape=_roi_pool_shape,
    build=lambda ctx: Call("ops.roi_pool", {"output_size": ctx.p["output_size"],
                                            "spatial_scale": ctx.p["spatial_scale"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Fast R-CNN's RoI pooling: projects each region proposal onto the shared "
                "feature map and max-pools it to a fixed size, so that fully connected layers "
                "can read regions of any size.",
        formula="x₀ = round(x₁ · s), x₁' = round(x₂ · s), w = max(x₁' − x₀ + 1, 1) (same for "
                "y)\nbin (i, j) = rows ⌊i h_r/h⌋ … ⌈(i+1) h_r/h⌉, columns likewise\n"
                "yᵢⱼ = max over the bin (0 for an empty bin)",
        use_case="Fast and Faster R-CNN: one CNN pass over the whole image, then every "
                 "proposal pooled from its feature map (7 × 7).",
        notes="The rounding quantises the region (Mask R-CNN's RoIAlign removes it)."))


ROI_ALIGN = NodeSpec(
    type="RoIAlign", title="RoIAlign", category=CAT, id_prefix="roialign",
    figure="roi-pool-vs-align",
    inputs=(Port("features", doc="the backbone's feature map N × C × H × W"),
            Port("rois", doc="RoIs R × 5, in input-image pixels")),
    outputs=(Port("y"),),
    params=(_OUT,
            Param("spatial_scale", "float", 0.0625, "Feature-map pixels per image pixel: 1 / "
                  "the backbone's total stride.", min=1e-6, max=1.0),
            Param("sampling_ratio", "int", 2, "Points per bin side at which the map is "
                  "interpolated (2 in torchvision's Faster and Mask R-CNN); 0 or less: "
                  "adaptive, ⌈region side / output side⌉.", min=-1, max=64),
            Param("aligned", "bool", False, "Shift the region by half a pixel so that pixel "
                  "centres line up (Detectron2's RoIAlignV2); off in torchvision's models.")),
    shape=_roi_pool_shape,
    build=lambda ctx: Call("ops.roi_align", {k: ctx.p[k] for k in (
        "output_size", "spatial_scale", "sampling_ratio", "aligned")}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Mask R-CNN's RoIAlign: like RoI pooling, but without rounding. Each bin of "
                "the region averages the feature map read by bilinear interpolation at a few "
                "points inside it, so the pooled features keep their exact place.",
        formula="x₀ = x₁ · s − o, w = (x₂ − x₁) · s (o = ½ if aligned; else w ≥ 1)\n"
                "yᵢⱼ = (1/g²) Σ_{a,b < g} bilinear(F, y₀ + (i + (a + ½)/g) h/h_out, "
                "x₀ + (j + (b + ½)/g) w/w_out)",
        use_case="Mask R-CNN (and torchvision's Faster R-CNN): the ½-pixel misalignments of "
                 "RoIPool's rounding barely hurt a class but ruin a pixel mask.",
        notes="RoIPool rounds x₁ · s to a whole map pixel and max-pools over whole pixels: a "
              "box moved by a quarter of a map pixel pools the same values. RoIAlign's output "
              "moves with it (bilinear interpolation). The gradient reaches the feature map; "
              "the boxes get none (as in torchvision)."))


def _warp_shape(ctx):
    f = _map(ctx, "image", "the images")
    r = _rois(ctx)
    return {"y": TensorType((r.shape[0], f.shape[1], *_size(ctx.p)))}


ROI_WARP = NodeSpec(
    type="RoIWarp", title="RoI warp (crop & resize)", category=CAT, id_prefix="warp",
    inputs=(Port("image", role="image", doc="the images N × C × H × W"),
            Port("rois", doc="RoIs R × 5, in pixels")),
    outputs=(Port("y"),),
    params=(Param("output_size", "int", 32, "Each region's size after warping (227 × 227 "
                  "for AlexNet in the paper).", min=1, max=1024),),
    shape=_warp_shape,
    build=lambda ctx: Call("ops.roi_warp", {"output_size": ctx.p["output_size"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="R-CNN's warp: crops each region proposal out of the image and resizes it to "
                "a fixed size, whatever its aspect ratio, so that a CNN can classify it.",
        formula="yᵢⱼ = image(x₁ + (j + ½)(x₂ − x₁)/w, y₁ + (i + ½)(y₂ − y₁)/h), bilinear",
        use_case="R-CNN: every proposal goes through the CNN on its own: ~2000 CNN passes per "
                 "image, the slowness Fast R-CNN removes by sharing one feature map."))


def _box_head_shape(ctx):
    t = ctx.ins["x"]
    if len(t.shape) != 2:
        ctx.fail(f"needs features R × F but '{ctx.src('x')}' gives {t}", "x")
    k = 1 if ctx.p["class_agnostic"] else ctx.p["classes"]
    return {"y": TensorType((t.shape[0], 4 * k), holds="box deltas")}


BOX_HEAD = NodeSpec(
    type="BoxRegression", title="Box regression head", category=CAT, id_prefix="bbox",
    inputs=(Port("x", doc="each RoI's features R × F"),), outputs=(Port("y"),),
    params=(Param("classes", "int", 4, "Classes including the background (C + 1).", min=2,
                  max=100_000),
            Param("class_agnostic", "bool", False, "One box per RoI for every class (else one "
                  "per class, as in Fast R-CNN).")),
    shape=_box_head_shape,
    build=lambda ctx: Make("nn.Linear", {"in_features": ctx.ins["x"].shape[1],
                                         "out_features": ctx.outs["y"].shape[1]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="A linear layer that predicts, for each RoI and class, the deltas that move "
                "the RoI onto the object: R-CNN's bounding-box regression.",
        formula="t̂ = W φ(RoI) + b,  t̂ ∈ ℝ^(4 (C+1))",
        use_case="Refines each proposal's box; trained with smooth L1 on the matched class "
                 "only (Box regression loss)."))


def _decode_shape(ctx):
    d = ctx.ins["deltas"]
    _rois(ctx)
    if len(d.shape) != 2 or not isinstance(d.shape[1], int) or d.shape[1] % 4:
        ctx.fail(f"needs box deltas R × 4k but '{ctx.src('deltas')}' gives {d}", "deltas")
    return {"boxes": TensorType((d.shape[0], d.shape[1]), holds="boxes")}


BOX_DECODE = NodeSpec(
    type="BoxDecode", title="Box decoder", category=CAT, id_prefix="decode",
    inputs=(Port("deltas", doc="R × 4k deltas (k classes)"), Port("rois", doc="R × 5 RoIs")),
    outputs=(Port("boxes"),), params=(),
    shape=_decode_shape, build=lambda ctx: Call("ops.decode_rois"),
    color=COLORS[CAT],
    doc=Doc(
        summary="Applies predicted deltas to the RoIs: the boxes they predict (torchvision's "
                "box coder, weights 10, 10, 5, 5).",
        formula="x = px + pw · tx/10,  w = pw · exp(tw/5)  (y, h likewise; tw capped at "
                "log(1000/16))",
        use_case="To look at or post-process the refined boxes yourself; the Detections node "
                 "decodes on its own."))


def _detect_shape(ctx):
    s = ctx.ins["class_scores"]
    d = ctx.ins["deltas"]
    r = _rois(ctx)
    img = _map(ctx, "image", "the images")
    if len(s.shape) != 2 or not isinstance(s.shape[1], int) or s.shape[1] < 2:
        ctx.fail(f"needs class scores R × (C + 1) but '{ctx.src('class_scores')}' gives {s}",
                 "class_scores")
    if len(d.shape) != 2 or d.shape[1] not in (4, 4 * s.shape[1]):
        ctx.fail(f"needs box deltas R × 4 or R × {4 * s.shape[1]} (4 per class) but "
                 f"'{ctx.src('deltas')}' gives {d}", "deltas")
    if len({s.shape[0], d.shape[0], r.shape[0]}) > 1:
        ctx.fail(f"needs one row per RoI in scores ({s.shape[0]}), deltas ({d.shape[0]}) and "
                 f"RoIs ({r.shape[0]})")
    k = ctx.p["detections"]
    return {"boxes": TensorType((img.shape[0], k, 4), holds="boxes"),
            "scores": TensorType((img.shape[0], k), holds="scores"),
            "labels": TensorType((img.shape[0], k), "int64", holds="classes")}


DETECT = NodeSpec(
    type="Detections", title="Detections (NMS)", category=CAT, id_prefix="detect",
    phase="infer",
    inputs=(Port("class_scores", doc="class scores R × (C + 1)"),
            Port("deltas", doc="box deltas R × 4 (C + 1)"),
            Port("rois", doc="the RoIs they were computed for, R × 5"),
            Port("image", role="image", doc="the images (their size clips the boxes)")),
    outputs=(Port("boxes", path=(0,), role="det_boxes"),
             Port("scores", path=(1,), role="det_scores"),
             Port("labels", path=(2,), role="det_labels")),
    params=(Param("score", "choice", "softmax", "softmax: the classifier's probabilities "
                  "(Fast R-CNN). sigmoid: per-class SVM margins squashed to (0, 1) (R-CNN).",
                  choices=("softmax", "sigmoid")),
            Param("score_threshold", "float", 0.05, "Detections scoring at or below this are "
                  "dropped.", min=0.0, max=1.0),
            Param("nms_threshold", "float", 0.5, "Non-maximum suppression: a box overlapping "
                  "a better one of its class with IoU above this is dropped.", min=0.0,
                  max=1.0),
            Param("detections", "int", 100, "Detections kept per image D (padded).", min=1,
                  max=10_000)),
    shape=_detect_shape,
    build=lambda ctx: Call("ops.detect", {"scores": ctx.p["score"],
                                          "score_threshold": ctx.p["score_threshold"],
                                          "nms_threshold": ctx.p["nms_threshold"],
                                          "detections": ctx.p["detections"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Inference only: turns each RoI's class scores and box deltas into the "
                "detector's answer: per image, boxes with a class and a score, overlapping "
                "duplicates removed by non-maximum suppression.",
        formula="for each class: keep boxes with score > τ; repeat { take the best box b; "
                "drop every box with IoU(b, ·) > θ }\nD best per image (score 0 pads)",
        use_case="The end of every R-CNN: without NMS each object is found many times, once "
                 "per overlapping proposal.",
        notes="mAP@0.5 (pycocotools) is measured on these detections every epoch."))


def _box_loss_shape(ctx):
    d, t, lab = ctx.ins["pred"], ctx.ins["target"], ctx.ins["labels"]
    if len(d.shape) == 3:  # the RPN's: N × A × 4 deltas of the anchors, labels N × A
        if d.shape[2] != 4:
            ctx.fail(f"needs the anchors' deltas N × A × 4 but '{ctx.src('pred')}' gives {d}",
                     "pred")
        if tuple(t.shape[1:]) != tuple(d.shape[1:]):
            ctx.fail(f"needs target deltas {TensorType(d.shape)} but '{ctx.src('target')}' "
                     f"gives {t}", "target")
        if lab.dtype != "int64" or tuple(lab.shape[1:]) != tuple(d.shape[1:2]):
            ctx.fail(f"needs the anchors' labels {TensorType(d.shape[:2], 'int64')} but "
                     f"'{ctx.src('labels')}' gives {lab}", "labels")
        return {"loss": SCALAR}
    if len(d.shape) != 2 or not isinstance(d.shape[1], int) or d.shape[1] % 4:
        ctx.fail(f"needs box deltas R × 4k (or the RPN's N × A × 4) but '{ctx.src('pred')}' "
                 f"gives {d}", "pred")
    if tuple(t.shape[1:]) != (4,):
        ctx.fail(f"needs target deltas R × 4 but '{ctx.src('target')}' gives {t}", "target")
    if lab.dtype != "int64" or len(lab.shape) != 1:
        ctx.fail(f"needs the RoIs' classes R (int64) but '{ctx.src('labels')}' gives {lab}",
                 "labels")
    return {"loss": SCALAR}


BOX_LOSS = NodeSpec(
    type="BoxRegressionLoss", title="Box regression loss (smooth L1)", category="Loss",
    role="loss", id_prefix="box_loss",
    inputs=(Port("pred", role="pred", doc="predicted deltas R × 4 (C + 1)"),
            Port("target", role="target", doc="target deltas R × 4"),
            Port("labels", doc="the RoIs' classes R: only objects count")),
    outputs=(Port("loss", kind="loss", role="loss"),),
    params=(Param("beta", "float", 1 / 9, "Where smooth L1 turns from quadratic to linear "
                  "(1/9 in torchvision's Fast R-CNN).", min=1e-6, max=100.0), WEIGHT),
    shape=_box_loss_shape, build=lambda ctx: Call("ops.box_loss", {"beta": ctx.p["beta"]}),
    color=COLORS["Loss"],
    doc=Doc(
        summary="Fast R-CNN's L_box: smooth L1 between the deltas predicted for each object "
                "RoI's own class and its target deltas; background RoIs add nothing.",
        formula="L_box = (1/R) Σ_{i: yᵢ ≥ 1} Σ_{k ∈ x,y,w,h} smoothL1(t̂ᵢₖ^(yᵢ) − tᵢₖ)\n"
                "smoothL1(d) = d²/(2β) if |d| < β, else |d| − β/2",
        use_case="The box term of the multi-task loss L = L_cls + L_box of Fast R-CNN (and "
                 "of R-CNN's bounding-box regression); in Faster R-CNN also the RPN's box "
                 "loss, over its drawn anchors (deltas N × A × 4, labels N × A, −1 not "
                 "drawn).",
        notes="Divided by the number of RoIs or anchors drawn (label ≥ 0), as torchvision "
              "does."))


def _svm_shape(ctx):
    s, lab = ctx.ins["pred"], ctx.ins["target"]
    if len(s.shape) != 2:
        ctx.fail(f"needs class margins R × (C + 1) but '{ctx.src('pred')}' gives {s}", "pred")
    if lab.dtype != "int64" or tuple(lab.shape) != (s.shape[0],):
        ctx.fail(f"needs the RoIs' classes {TensorType((s.shape[0],), 'int64')} but "
                 f"'{ctx.src('target')}' gives {lab}", "target")
    return {"loss": SCALAR}


SVM_LOSS = NodeSpec(
    type="MultiClassHingeLoss", title="Multi-class hinge (SVMs)", category="Loss",
    role="loss", id_prefix="svm_loss",
    inputs=(Port("pred", role="pred", doc="each RoI's margins R × (C + 1)"),
            Port("target", role="target", doc="the RoIs' classes R (0 background)")),
    outputs=(Port("loss", kind="loss", role="loss"),),
    params=(WEIGHT,), shape=_svm_shape, build=lambda ctx: Call("ops.svm_loss"),
    color=COLORS["Loss"],
    doc=Doc(
        summary="R-CNN's classifiers: one linear SVM per object class, each trained one "
                "against the rest (background regions are negatives for every class).",
        formula="L = (1/R) Σᵢ Σ_{c ≥ 1} max(0, 1 − tᵢc sᵢc),  tᵢc = +1 if yᵢ = c else −1",
        use_case="R-CNN: SVMs on the CNN features of each warped region; add weight decay "
                 "(the SVM's ½‖w‖²). Column 0 (background) has no SVM.",
        notes="Read the scores with the Detections node's sigmoid setting."))


SPECS = (BOXES_INPUT, BOXES_TARGET, MATCH, ROI_WARP, ROI_POOL, ROI_ALIGN, BOX_HEAD, BOX_DECODE,
         DETECT, BOX_LOSS, SVM_LOSS)
