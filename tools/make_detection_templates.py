"""Writes the detection templates (templates/rcnn.json, fast_rcnn.json) through the Graph
API. Re-run after changing them here; the files are what ships (and what the tests train).

    .venv/bin/python tools/make_detection_templates.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.layout import DX, DY, ROW_GAP  # noqa: E402
from graph.model import Graph  # noqa: E402
from graph.project import Project  # noqa: E402
from graph.settings import DataSettings, TrainingSettings  # noqa: E402
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


def _sources(g: Graph) -> None:
    g.add_node("Input", "image", {"shape": [3, 64, 64]})
    g.add_node("BoxesInput", "proposals", {"count": DATA["proposals"]})
    g.add_node("BoxesTarget", "gt_boxes", {"count": 4})
    g.add_node("Target", "gt_labels", {"shape": [4], "dtype": "int64"})
    g.add_node("MatchProposals", "sample", {"per_image": 64})
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


def _rows(g: Graph, rows: list[list[str]]) -> None:
    for r, row in enumerate(rows):
        for i, n in enumerate(row):
            if n:
                g.move_node(n, (i * DX, r * (DY + ROW_GAP)))


def fast_rcnn() -> Project:
    g = Graph()
    _sources(g)
    backbone = [*_conv("conv1", 32), ("MaxPool2d", "pool1", {"kernel_size": 2}),
                *_conv("conv2", 64), ("MaxPool2d", "pool2", {"kernel_size": 2}),
                *_conv("conv3", 64)]
    last = _chain(g, ("image", "out"), backbone)
    g.add_node("RoIPool", "roi_pool", {"output_size": 7, "spatial_scale": 0.25})
    wire(g, (last, "y"), ("roi_pool", "features"))
    wire(g, ("sample", "rois"), ("roi_pool", "rois"))
    head = [("Flatten", "flatten", {}), ("Linear", "fc1", {"out_features": 256}),
            ("ReLU", "fc1_relu", {}), ("Linear", "fc2", {"out_features": 256}),
            ("ReLU", "fc2_relu", {})]
    feats = _chain(g, ("roi_pool", "y"), head)
    g.add_node("Linear", "cls_score", {"out_features": CLASSES})
    g.add_node("BoxRegression", "bbox_pred", {"classes": CLASSES})
    wire(g, (feats, "y"), ("cls_score", "x"))
    wire(g, (feats, "y"), ("bbox_pred", "x"))
    g.add_node("CategoricalCrossEntropyLoss", "cls_loss", {"from_logits": True})
    wire(g, ("cls_score", "y"), ("cls_loss", "pred"))
    wire(g, ("sample", "labels"), ("cls_loss", "target"))
    _ends(g, "cls_score", "bbox_pred", "softmax")
    _rows(g, [["image", *[n for _, n, _ in backbone], "roi_pool", *[n for _, n, _ in head]],
              ["proposals", "sample", "", "", "", "", "", "", "", "cls_score", "cls_loss",
               "detect", "boxes"],
              ["gt_boxes", "gt_labels", "", "", "", "", "", "", "", "bbox_pred", "box_loss",
               "", "scores", "labels"]])
    return Project(
        graph=g, name="Fast R-CNN (shapes)",
        description=(
            "Fast R-CNN (Girshick, 2015) finds circles, squares and triangles in 64 × 64 "
            "images. Selective search proposes regions once, as a step of the data "
            "(100 per image, cached). The whole image goes through the CNN once (top row: "
            "three 3 × 3 conv layers, two 2 × 2 max poolings: a 16 × 16 feature map, 1/4 of "
            "the image); RoI pooling projects each proposal onto that shared map and pools "
            "it to 7 × 7; two fully connected layers feed a softmax classifier over the 3 "
            "classes and background and a box regressor (4 deltas per class). In training, "
            "'Match & sample RoIs' labels each proposal by the object it overlaps (IoU ≥ "
            "0.5) and draws 64 per image, a quarter of them objects; the loss is the seed's "
            "multi-task L = L_cls + L_box (cross-entropy + smooth L1), one network trained "
            "end to end. At inference every proposal is scored and 'Detections (NMS)' keeps "
            "the best box per object. mAP@0.5 and mAP@0.5:0.95 (pycocotools) on the held-out "
            "images every epoch."),
        training=TrainingSettings(batch_size=16, epochs=8, lr=1e-3, val_split=0.2, seed=0,
                                  best_metric="map50"),
        data=DataSettings(dataset="shapes_detect", options=dict(DATA), bind=dict(BIND)))


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
    _rows(g, [["image", "warp", *[n for _, n, _ in cnn]],
              ["proposals", "sample", "", "", "", "", "", "", "", "", "", "", "svm",
               "svm_loss", "detect", "boxes"],
              ["gt_boxes", "gt_labels", "", "", "", "", "", "", "", "", "", "", "bbox_pred",
               "box_loss", "", "scores", "labels"]])
    return Project(
        graph=g, name="R-CNN (shapes)",
        description=(
            "R-CNN (Girshick et al., 2014) finds circles, squares and triangles in 64 × 64 "
            "images, in the seed's three parts. 1. Region proposals: selective search, as a "
            "step of the data (100 per image, computed once and cached). 2. Feature "
            "extraction: each region is warped to 32 × 32 pixels whatever its shape ('RoI "
            "warp') and goes through the CNN on its own (top row) to a 128-D feature vector. "
            "3. Classification and box regression: one linear SVM per class, one against "
            "the rest (multi-class hinge loss; background regions are every SVM's "
            "negatives), and a linear regression of the box (smooth L1 on the deltas to the "
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
                                  val_split=0.2, seed=0, best_metric="map50"),
        data=DataSettings(dataset="shapes_detect", options=dict(DATA), bind=dict(BIND)))


def main() -> None:
    for name, make in (("rcnn", rcnn), ("fast_rcnn", fast_rcnn)):
        path = ROOT / "templates" / f"{name}.json"
        path.write_text(make().to_json())
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
