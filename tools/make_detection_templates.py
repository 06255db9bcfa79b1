"""Writes the detection templates (templates/rcnn.json, fast_rcnn.json,
faster_rcnn.json, mask_rcnn.json)
through the Graph API. Re-run after changing them here; the files are what ships (and what the tests train).

    .venv/bin/python tools/make_detection_templates.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.model import Graph  # noqa: E402
from graph.project import Project  # noqa: E402
from graph.settings import DataSettings, TrainingSettings  # noqa: E402
from tools.detection_blocks import (  # noqa: E402
    BACKBONE_DOC, MASK_DOC, RCNN_CLASSIFY_DOC, RCNN_FEATURES_DOC, Part, make_blocks, roi_head_doc,
    rpn_doc)
from tools.make_recurrent_templates import wire  # noqa: E402

CLASSES = 4  # background, circle, square, triangle
DATA = {"n_samples": 1200, "proposals": 100}
BIND = {"image": "image", "proposals": "proposals", "gt_boxes": "boxes",
        "gt_labels": "labels"}


def _chain(g: Graph, src: tuple[str, str], layers: list[tuple[str, str, dict]]) -> str:
    """Adds each (type, id, params) after `src` in turn; returns the last id."""
    for type_, name, params in layers:
        g.add_node(type_, name, params)
        port = "x" if type_ not in ("RoIPool", "RoIWarp") else (
            "features" if type_ == "RoIPool" else "image")
        wire(g, src, (name, port))
        src = (name, "y")
    return src[0]


def _conv(name: str, out: int) -> list[tuple[str, str, dict]]:
    return [("Conv2d", name, {"out_channels": out, "kernel_size": 3, "padding": "same",
                              "init": "he"}),
            ("ReLU", f"{name}_relu", {})]


def _sources(g: Graph, proposals: bool = True) -> None:
    """The image, the true boxes and classes, and 'Match & sample RoIs' (fed the proposals
    of selective search, or of an RPN wired later)."""
    g.add_node("Input", "image", {"shape": [3, 64, 64]})
    if proposals:
        g.add_node("BoxesInput", "proposals", {"count": DATA["proposals"]})
    g.add_node("BoxesTarget", "gt_boxes", {"count": 4})
    g.add_node("Target", "gt_labels", {"shape": [4], "dtype": "int64"})
    g.add_node("MatchProposals", "sample", {"per_image": 64})
    if proposals:
        wire(g, ("proposals", "out"), ("sample", "proposals"))
    wire(g, ("gt_boxes", "out"), ("sample", "gt_boxes"))
    wire(g, ("gt_labels", "out"), ("sample", "gt_labels"))


def _ends(g: Graph, cls: str, box: str, score: str) -> None:
    """The box loss, the detections and the three Outputs."""
    g.add_node("BoxRegressionLoss", "box_loss")
    wire(g, (box, "y"), ("box_loss", "pred"))
    wire(g, ("sample", "targets"), ("box_loss", "target"))
    wire(g, ("sample", "labels"), ("box_loss", "labels"))
    g.add_node("Detections", "detect", {"score": score})
    wire(g, (cls, "y"), ("detect", "class_scores"))
    wire(g, (box, "y"), ("detect", "deltas"))
    wire(g, ("sample", "rois"), ("detect", "rois"))
    wire(g, ("image", "out"), ("detect", "image"))
    for port in ("boxes", "scores", "labels"):
        g.add_node("Output", port)
        wire(g, ("detect", port), (port, "x"))


BACKBONE = [*_conv("conv1", 32), ("MaxPool2d", "pool1", {"kernel_size": 2}),
            *_conv("conv2", 64), ("MaxPool2d", "pool2", {"kernel_size": 2}),
            *_conv("conv3", 64)]  # 64 × 64 → 16 × 16, stride 4
HEAD = [("Flatten", "flatten", {}), ("Linear", "fc1", {"out_features": 256}),
        ("ReLU", "fc1_relu", {}), ("Linear", "fc2", {"out_features": 256}),
        ("ReLU", "fc2_relu", {})]


def _backbone() -> Part:
    return Part("backbone", "Backbone (CNN)", BACKBONE_DOC, [n for _, n, _ in BACKBONE],
                {"conv1.x": "image"}, {"conv3_relu.y": "features"})


def _roi_head(pool: str, name: str | None = None) -> Part:
    """The RoI head: `pool` (RoIPool or RoIAlign) named `name`, the FCs and the predictors."""
    name = name or ("roi_pool" if pool == "RoIPool" else "roi_align")
    return Part("roi_head", "RoI head", roi_head_doc(pool),
                [name, *[n for _, n, _ in HEAD], "cls_score", "bbox_pred"],
                {f"{name}.features": "features", f"{name}.rois": "rois"},
                {"cls_score.y": "class_scores", "bbox_pred.y": "box_deltas"})


def _rpn() -> Part:
    return Part("rpn", "Region proposal network", rpn_doc(ANCHOR_SIZES, RATIOS),
                ["anchors", "rpn", "proposals"],
                {"anchors.features": "features", "rpn.features": "features",
                 "anchors.image": "image", "proposals.image": "image"},
                {"proposals.proposals": "proposals", "rpn.objectness": "objectness",
                 "rpn.deltas": "deltas", "anchors.anchors": "anchors"},
                {"rpn": "head", "anchors": "anchor_gen", "proposals": "nms"},
                [f"nms.{p}" for p in ("pre_nms_train", "post_nms_train", "pre_nms_test",
                                      "post_nms_test", "nms_threshold", "min_size",
                                      "score_threshold")])


def _fast_head(g: Graph, last: str, pool: str, params: dict) -> None:
    """RoI pooling (RoIPool or RoIAlign) of the sampled RoIs from the backbone's map, two
    fully connected layers, the classifier and box regressor, their losses, the ends."""
    name = "roi_pool" if pool == "RoIPool" else "roi_align"
    g.add_node(pool, name, params)
    wire(g, (last, "y"), (name, "features"))
    wire(g, ("sample", "rois"), (name, "rois"))
    feats = _chain(g, (name, "y"), HEAD)
    g.add_node("Linear", "cls_score", {"out_features": CLASSES})
    g.add_node("BoxRegression", "bbox_pred", {"classes": CLASSES})
    wire(g, (feats, "y"), ("cls_score", "x"))
    wire(g, (feats, "y"), ("bbox_pred", "x"))
    g.add_node("CategoricalCrossEntropyLoss", "cls_loss", {"from_logits": True})
    wire(g, ("cls_score", "y"), ("cls_loss", "pred"))
    wire(g, ("sample", "labels"), ("cls_loss", "target"))
    _ends(g, "cls_score", "bbox_pred", "softmax")


def fast_rcnn() -> Project:
    g = Graph()
    _sources(g)
    last = _chain(g, ("image", "out"), BACKBONE)
    _fast_head(g, last, "RoIPool", {"output_size": 7, "spatial_scale": 0.25})
    make_blocks(g, [_backbone(), _roi_head("RoIPool")])
    return Project(
        graph=g, name="Fast R-CNN (shapes)",
        description=(
            "Fast R-CNN (Girshick, 2015) finds circles, squares and triangles in 64 × 64 "
            "images. Selective search proposes regions once, as a step of the data "
            "(100 per image, cached: the 'proposals' input). The whole image goes through the "
            "CNN once ('Backbone': three 3 × 3 conv layers, two 2 × 2 max poolings: a 16 × 16 "
            "feature map, 1/4 of the image); in the 'RoI head', RoI pooling projects each "
            "proposal onto that shared map and pools it to 7 × 7, and two fully connected "
            "layers feed a softmax classifier over the 3 classes and background and a box "
            "regressor (4 deltas per class). Double-click a block to open it. In training, "
            "'Match & sample RoIs' labels each proposal by the object it overlaps (IoU ≥ "
            "0.5) and draws 64 per image, a quarter of them objects; the loss is the seed's "
            "multi-task L = L_cls + L_box (cross-entropy + smooth L1), one network trained "
            "end to end. At inference every proposal is scored and 'Detections (NMS)' keeps "
            "the best box per object. mAP@0.5 and mAP@0.5:0.95 (pycocotools) on the held-out "
            "images every epoch."),
        training=TrainingSettings(batch_size=16, epochs=8, lr=1e-3, val_split=0.2, seed=0,
                                  best_metric="val_map50"),
        data=DataSettings(dataset="shapes_detect", options=dict(DATA), bind=dict(BIND)))


ANCHOR_SIZES = [12, 20, 32]  # the shapes are 12 to 32 pixels
RATIOS = [0.5, 1.0, 2.0]


def faster_rcnn() -> Project:
    g = _faster_graph()
    make_blocks(g, [_backbone(), _rpn(), _roi_head("RoIAlign")])
    return Project(
        graph=g, name="Faster R-CNN (shapes)", description=FASTER_DESCRIPTION,
        training=TrainingSettings(batch_size=16, epochs=8, lr=1e-3, val_split=0.2, seed=0,
                                  best_metric="val_map50"),
        data=DataSettings(dataset="shapes_detect",
                          options={"n_samples": DATA["n_samples"], "proposals": 0},
                          bind={k: v for k, v in BIND.items() if k != "proposals"}))


MASK_HEAD = [("RoIAlign", "mask_align", {"output_size": 14, "spatial_scale": 0.25,
                                         "sampling_ratio": 2}),
             *_conv("mask_conv1", 32), *_conv("mask_conv2", 32),
             ("ConvTranspose2d", "mask_deconv", {"out_channels": 32, "kernel_size": 2,
                                                 "stride": 2, "init": "he"}),
             ("ReLU", "mask_deconv_relu", {}),
             ("Conv2d", "mask_logits", {"out_channels": CLASSES, "kernel_size": 1})]


def _mask_head(pool: str) -> Part:
    inner = [n for _, n, _ in MASK_HEAD]
    doc = MASK_DOC if pool == "RoIAlign" else MASK_DOC.replace(
        "RoIAlign cuts each RoI out of the feature map at 14 × 14 by bilinear interpolation "
        "(no rounding: a mask needs its pixels in place)",
        "RoI pooling cuts each RoI out of the feature map at 14 × 14 (rounded bins: the "
        "benchmark's comparison with RoIAlign)")
    return Part("mask_head", "Mask head", doc, inner,
                {"mask_align.features": "features", "mask_align.rois": "rois"},
                {"mask_logits.y": "logits"},
                {n: "predictor" if n == "mask_logits" else n.removeprefix("mask_")
                 for n in inner})


def mask_rcnn(pool: str = "RoIAlign") -> Project:
    """Mask R-CNN; `pool` RoIPool swaps both RoIAligns for RoI pooling (the benchmark's
    comparison of the two on the same model and budget)."""
    g = _faster_graph()
    g.set_param("detect", "detections", 20)  # up to 4 objects per image: 20 leave room
    g.add_node("Target", "gt_masks", {"shape": [4, 64, 64], "dtype": "float32"})
    g.add_node("MaskRoIs", "mask_rois")
    for port, into in (("rois", "sampled"), ("labels", "sampled_labels"),
                       ("matched", "sampled_matched")):
        wire(g, ("sample", port), ("mask_rois", into))
    wire(g, ("detect", "boxes"), ("mask_rois", "det_boxes"))
    wire(g, ("detect", "labels"), ("mask_rois", "det_labels"))
    _, align, params = MASK_HEAD[0]
    g.add_node("RoIAlign", align, params)
    wire(g, ("conv3_relu", "y"), (align, "features"))
    wire(g, ("mask_rois", "rois"), (align, "rois"))
    logits = _chain(g, (align, "y"), MASK_HEAD[1:])
    g.add_node("MaskLoss", "mask_loss")
    wire(g, (logits, "y"), ("mask_loss", "pred"))
    for port in ("labels", "rois", "matched"):
        wire(g, ("mask_rois", port), ("mask_loss", port))
    wire(g, ("gt_masks", "out"), ("mask_loss", "gt_masks"))
    g.add_node("PasteMasks", "paste")
    wire(g, (logits, "y"), ("paste", "logits"))
    wire(g, ("mask_rois", "labels"), ("paste", "labels"))
    wire(g, ("mask_rois", "rois"), ("paste", "rois"))
    wire(g, ("image", "out"), ("paste", "image"))
    g.add_node("Output", "masks")
    wire(g, ("paste", "masks"), ("masks", "x"))
    if pool == "RoIPool":
        for n in ("roi_align", align):
            _swap_pool(g, n)
    make_blocks(g, [_backbone(), _rpn(), _roi_head(pool, "roi_align"), _mask_head(pool)])
    return Project(
        graph=g, name="Mask R-CNN (shapes)",
        description=(
            "Mask R-CNN (He et al., 2017) finds circles, squares and triangles in 64 × 64 "
            "images and outlines each one pixel by pixel. It is Faster R-CNN (the "
            "'Backbone''s shared 16 × 16 feature map; the 'Region proposal network': anchors, "
            "objectness and proposals; the 'RoI head': RoIAlign and the box head) plus a "
            "'Mask head' (double-click a block to open it). 'Mask RoIs' gives the mask head "
            "the sampled RoIs that matched an object in training and the detections at "
            "inference; RoIAlign cuts each out of the feature map at 14 × 14 "
            "by bilinear interpolation (no rounding: a mask needs its pixels in place), two "
            "3 × 3 convs and a 2 × 2 transposed conv make a 28 × 28 mask per class, and "
            "only the channel of the RoI's class is scored: per-pixel binary cross-entropy "
            "against the object's true mask, RoIAligned to 28 × 28 ('Mask loss'). The "
            "total is the seed's L = L_cls + L_box + L_mask with the RPN's two losses, five "
            "curves. 'Instance masks' pastes each detection's mask onto its box; box mAP and "
            "mask mAP (pycocotools, bbox and segm) and the mask IoU on the held-out images "
            "every epoch."),
        # 4 epochs: the mask branch costs ~50 % more per step than Faster R-CNN; at 4 epochs
        # box mAP@0.5 0.95 and mask mAP@0.5 0.92 on the held-out images, well past 0.70/0.60
        training=TrainingSettings(batch_size=16, epochs=4, lr=1e-3, val_split=0.2, seed=0,
                                  best_metric="val_map50"),
        data=DataSettings(dataset="shapes_detect",
                          options={"n_samples": DATA["n_samples"], "proposals": 0},
                          bind={**{k: v for k, v in BIND.items() if k != "proposals"},
                                "gt_masks": "masks"}))


def _swap_pool(g: Graph, n: str) -> None:
    """Replaces RoIAlign node `n` by RoI pooling of the same size and scale, same wires."""
    p = g.params(n)
    ins = [(e.src, e.src_port, e.dst_port) for e in g.in_edges(n)]
    outs = [(e.dst, e.dst_port) for e in g.out_edges(n)]
    g.remove_node(n)
    g.add_node("RoIPool", n, {"output_size": p["output_size"],
                              "spatial_scale": p["spatial_scale"]})
    for src, sp, dp in ins:
        wire(g, (src, sp), (n, dp))
    for dst, dp in outs:
        wire(g, (n, "y"), (dst, dp))


def _faster_graph() -> Graph:
    """Faster R-CNN's flat graph (its parts are grouped into blocks by the caller)."""
    g = Graph()
    _sources(g, proposals=False)
    last = _chain(g, ("image", "out"), BACKBONE)
    g.add_node("AnchorGenerator", "anchors", {"sizes": ANCHOR_SIZES, "aspect_ratios": RATIOS})
    g.add_node("RPNHead", "rpn", {"anchors": len(ANCHOR_SIZES) * len(RATIOS)})
    g.add_node("RegionProposals", "proposals")
    wire(g, (last, "y"), ("anchors", "features"))
    wire(g, ("image", "out"), ("anchors", "image"))
    wire(g, (last, "y"), ("rpn", "features"))
    for src, port in (("rpn", "objectness"), ("rpn", "deltas"), ("anchors", "anchors"),
                      ("image", "out")):
        wire(g, (src, port), ("proposals", "image" if src == "image" else port))
    wire(g, ("proposals", "proposals"), ("sample", "proposals"))
    g.add_node("MatchAnchors", "anchor_match")
    wire(g, ("anchors", "anchors"), ("anchor_match", "anchors"))
    wire(g, ("gt_boxes", "out"), ("anchor_match", "gt_boxes"))
    wire(g, ("gt_labels", "out"), ("anchor_match", "gt_labels"))
    g.add_node("ObjectnessLoss", "rpn_cls_loss")
    wire(g, ("rpn", "objectness"), ("rpn_cls_loss", "pred"))
    wire(g, ("anchor_match", "labels"), ("rpn_cls_loss", "target"))
    g.add_node("BoxRegressionLoss", "rpn_box_loss")
    wire(g, ("rpn", "deltas"), ("rpn_box_loss", "pred"))
    wire(g, ("anchor_match", "targets"), ("rpn_box_loss", "target"))
    wire(g, ("anchor_match", "labels"), ("rpn_box_loss", "labels"))
    _fast_head(g, last, "RoIAlign", {"output_size": 7, "spatial_scale": 0.25,
                                     "sampling_ratio": 2})
    return g


FASTER_DESCRIPTION = (
            "Faster R-CNN (Ren et al., 2015) finds circles, squares and triangles in 64 × 64 "
            "images with no external proposals: a Region Proposal Network makes them from "
            "the feature map. The image goes through the CNN once ('Backbone': a 16 × 16 "
            "map, 1/4 of the image). In the 'Region proposal network' block, the 'Anchor "
            "generator' lays 9 anchors on every map cell "
            "(sizes 12, 20 and 32 pixels × aspect ratios 0.5, 1 and 2: 2,304 in all); the "
            "'RPN head' (3 × 3 conv, then 1 × 1 convs) scores each anchor's objectness and "
            "predicts the deltas that move it onto an object; 'RPN proposals' keeps the "
            "best anchors, moved, clipped and de-duplicated by NMS (300 per image in "
            "training, 100 at inference). From there on it is Fast R-CNN: 'Match & sample "
            "RoIs' (training), then the 'RoI head': RoIAlign 7 × 7 of each proposal from the "
            "shared map, two fully connected layers, a softmax classifier and a box "
            "regressor (double-click a block to open it). In training "
            "'Match & sample anchors' labels the anchors (IoU ≥ 0.7 object, < 0.3 "
            "background) and draws 256 per image, half objects at most, for the RPN's two "
            "losses; the total is the four-part L = L_rpn_cls + L_rpn_box + L_cls + L_box, "
            "trained as one network. mAP@0.5 and mAP@0.5:0.95 (pycocotools) on the held-out "
            "images every epoch.")


def rcnn() -> Project:
    g = Graph()
    _sources(g)
    g.set_param("sample", "per_image", 32)  # 32 regions per image: each is a CNN pass
    g.add_node("RoIWarp", "warp", {"output_size": 32})
    wire(g, ("image", "out"), ("warp", "image"))
    wire(g, ("sample", "rois"), ("warp", "rois"))
    cnn = [*_conv("conv1", 16), ("MaxPool2d", "pool1", {"kernel_size": 2}),
           *_conv("conv2", 32), ("MaxPool2d", "pool2", {"kernel_size": 2}),
           *_conv("conv3", 64), ("MaxPool2d", "pool3", {"kernel_size": 2}),
           ("Flatten", "flatten", {}), ("Linear", "fc", {"out_features": 128}),
           ("ReLU", "fc_relu", {})]
    feats = _chain(g, ("warp", "y"), cnn)
    g.add_node("Linear", "svm", {"out_features": CLASSES})
    g.add_node("BoxRegression", "bbox_pred", {"classes": CLASSES})
    wire(g, (feats, "y"), ("svm", "x"))
    wire(g, (feats, "y"), ("bbox_pred", "x"))
    g.add_node("MultiClassHingeLoss", "svm_loss")
    wire(g, ("svm", "y"), ("svm_loss", "pred"))
    wire(g, ("sample", "labels"), ("svm_loss", "target"))
    _ends(g, "svm", "bbox_pred", "sigmoid")
    make_blocks(g, [
        Part("features", "Feature extraction (warp + CNN)", RCNN_FEATURES_DOC,
             ["warp", *[n for _, n, _ in cnn]], {"warp.image": "image", "warp.rois": "rois"},
             {"fc_relu.y": "features"}),
        Part("classify", "SVMs and box regression", RCNN_CLASSIFY_DOC, ["svm", "bbox_pred"],
             {"svm.x": "features", "bbox_pred.x": "features"},
             {"svm.y": "class_scores", "bbox_pred.y": "box_deltas"})])
    return Project(
        graph=g, name="R-CNN (shapes)",
        description=(
            "R-CNN (Girshick et al., 2014) finds circles, squares and triangles in 64 × 64 "
            "images, in the seed's three parts. 1. Region proposals: selective search, as a "
            "step of the data (100 per image, computed once and cached). 2. Feature "
            "extraction (a block: double-click to open it): each region is warped to 32 × 32 "
            "pixels whatever its shape ('RoI warp') and goes through the CNN on its own to a "
            "128-D feature vector. 3. Classification and box regression (a block too): one "
            "linear SVM per class, one against the rest (multi-class hinge loss; background "
            "regions are every SVM's negatives), and a linear regression of the box (smooth L1 "
            "on the deltas to the "
            "matched object). 'Match & sample RoIs' labels the regions by IoU with the "
            "objects (≥ 0.5: that object) and draws 32 per image, a quarter objects. Here "
            "the stages train as one run, the sum of the SVM and box losses, with weight "
            "decay as the SVMs' ½‖w‖²; the paper trained them one after another (the CNN "
            "first, then the SVMs and the regressor on its frozen features): optimizer "
            "records with start and end steps, one per stage, do that. Every region's own "
            "CNN pass is what makes R-CNN slow: compare its images per second with Fast "
            "R-CNN's. At inference the SVM margins (through a sigmoid) score each region, "
            "'Detections (NMS)' keeps the best box per object; mAP@0.5 and mAP@0.5:0.95 on "
            "the held-out images every epoch."),
        training=TrainingSettings(batch_size=16, epochs=8, lr=1e-3, weight_decay=1e-4,
                                  val_split=0.2, seed=0, best_metric="val_map50"),
        data=DataSettings(dataset="shapes_detect", options=dict(DATA), bind=dict(BIND)))


def main() -> None:
    for name, make in (("rcnn", rcnn), ("fast_rcnn", fast_rcnn),
                       ("faster_rcnn", faster_rcnn), ("mask_rcnn", mask_rcnn)):
        path = ROOT / "templates" / f"{name}.json"
        path.write_text(make().to_json())
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
