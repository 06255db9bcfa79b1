"""Mask R-CNN's mask branch (issue 14): the RoIs it reads in each phase, its loss on the
matched class channel only, mask targets cut by RoIAlign, pasting, mask mAP and IoU, the
transposed conv, and the template's two phases."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graph.project import load
from runtime.compile import compile_graph
from runtime.detection import masks as MK
from runtime.detection.evaluate import coco_map, mask_iou

ROOT = Path(__file__).resolve().parents[2]


def t(x):
    return torch.tensor(x, dtype=torch.float32)


def test_mask_rois_training_keeps_the_objects_inference_takes_every_detection():
    rois = t([[0, 1, 1, 9, 9], [0, 2, 2, 8, 8], [1, 0, 0, 5, 5]])
    labels = torch.tensor([2, 0, 3])
    matched = torch.tensor([1, -1, 4])
    r, lab, m = MK.mask_rois(rois, labels, matched)
    assert r.tolist() == [rois[0].tolist(), rois[2].tolist()]
    assert lab.tolist() == [2, 3] and m.tolist() == [1, 4]
    boxes = t([[[1, 1, 5, 5], [0, 0, 0, 0]], [[2, 2, 6, 6], [3, 3, 9, 9]]])
    classes = torch.tensor([[1, 0], [2, 3]])
    r, lab, m = MK.mask_rois(det_boxes=boxes, det_labels=classes)
    assert r.tolist() == [[0, 1, 1, 5, 5], [0, 0, 0, 0, 0], [1, 2, 2, 6, 6], [1, 3, 3, 9, 9]]
    assert lab.tolist() == [1, 0, 2, 3] and m.tolist() == [-1] * 4


def test_mask_targets_are_the_matched_objects_mask_cut_along_the_roi():
    gt = torch.zeros(2, 2, 16, 16)
    gt[1, 1, 4:12, 4:12] = 1  # image 1, object 1: index 1·2 + 1 = 3
    gt[0, 0, :, :8] = 1  # another object, never read
    # The RoI on the object's own box: ones, but for the last row and column, which read
    # half of the pixel beyond the box (torchvision's aligned=False: pixel i sits at i, not
    # i + 1/2). One twice as wide: the object on its left half, nothing on its right.
    rois = t([[1, 4, 4, 12, 12], [1, 4, 4, 20, 12]])
    tg = MK.mask_targets(gt, rois, torch.tensor([3, 3]), 8)
    assert torch.allclose(tg[0][:7, :7], torch.ones(7, 7))
    assert torch.allclose(tg[0][7, :7], torch.full((7,), 0.5)) and tg[0][7, 7] == 0.25
    assert torch.allclose(tg[1][:7, :3], torch.ones(7, 3)) and tg[1][0, 3] == 0.75
    assert tg[1][:, 4:].max() == 0


def test_mask_loss_reads_only_the_matched_class_channel():
    torch.manual_seed(0)
    gt = (torch.rand(2, 3, 16, 16) > 0.5).float()
    rois = t([[0, 2, 2, 10, 12], [1, 0, 4, 16, 14]])
    labels, matched = torch.tensor([2, 1]), torch.tensor([1, 5])
    logits = torch.randn(2, 4, 7, 7, requires_grad=True)
    loss = MK.mask_loss(logits, labels, rois, matched, gt)
    loss.backward()
    want = F.binary_cross_entropy_with_logits(
        logits[[0, 1], [2, 1]], MK.mask_targets(gt, rois, matched, 7))
    assert torch.allclose(loss, want)
    grad = logits.grad.abs().sum((2, 3))
    assert grad[0, 2] > 0 and grad[1, 1] > 0
    assert grad[0, [0, 1, 3]].sum() == 0 and grad[1, [0, 2, 3]].sum() == 0
    # the other classes' channels may say anything: the loss does not change
    other = logits.detach().clone()
    other[0, [0, 1, 3]] = 50.0
    other[1, [0, 2, 3]] = -50.0
    assert torch.allclose(MK.mask_loss(other, labels, rois, matched, gt), loss.detach())
    # no object RoI: zero, and still a graph to backward through
    empty = MK.mask_loss(logits[:0], labels[:0], rois[:0], matched[:0], gt)
    assert empty.item() == 0 and empty.requires_grad


def test_paste_masks_places_each_mask_on_its_box():
    image = torch.zeros(2, 3, 20, 20)
    logits = torch.full((4, 3, 6, 6), -20.0)
    logits[0, 1] = 20.0  # detection 0 (image 0): class 1's channel on
    logits[2, 2, :, :3] = 20.0  # detection 2 (image 1): class 2, left half only
    rois = t([[0, 2, 2, 8, 8], [0, 0, 0, 0, 0], [1, 10, 4, 18, 12], [1, 0, 0, 0, 0]])
    out = MK.paste_masks(logits, torch.tensor([1, 0, 2, 0]), rois, image)
    assert out.shape == (2, 2, 20, 20)
    m0 = out[0, 0] >= 0.5
    assert m0[2:8, 2:8].all() and m0.sum() == 36
    m2 = out[1, 0] >= 0.5
    assert m2[4:12, 10:14].all() and m2.sum() == 32
    assert out[0, 1].max() == 0 and out[1, 1].max() == 0  # padding rows: blank


def _square(size, x1, y1, x2, y2):
    m = np.zeros((size, size), np.uint8)
    m[y1:y2, x1:x2] = 1
    return m


def test_mask_map_and_iou_by_hand():
    gt_boxes = np.array([[[2, 2, 12, 12]]], np.float32)
    gt_labels = np.array([[1]])
    gt_masks = _square(16, 2, 2, 12, 12)[None, None]
    det_boxes = np.array([[[2, 2, 12, 12], [0, 0, 0, 0]]], np.float32)
    det_scores = np.array([[0.9, 0.0]], np.float32)
    det_labels = np.array([[1, 0]])
    perfect = np.stack([_square(16, 2, 2, 12, 12), np.zeros((16, 16), np.uint8)])[None]
    m = coco_map(gt_boxes, gt_labels, det_boxes, det_scores, det_labels, gt_masks=gt_masks,
                 det_masks=perfect)
    assert m["map50"] == pytest.approx(1.0) and m["mask_map50"] == pytest.approx(1.0)
    assert m["mask_map"] == pytest.approx(1.0) and m["mask_iou"] == pytest.approx(1.0)
    # the right box but a mask of its top 40 %: box AP stays 1, mask IoU 0.4, mask AP@0.5 0
    partial = np.stack([_square(16, 2, 2, 12, 6), np.zeros((16, 16), np.uint8)])[None]
    m = coco_map(gt_boxes, gt_labels, det_boxes, det_scores, det_labels, gt_masks=gt_masks,
                 det_masks=partial)
    assert m["map50"] == pytest.approx(1.0) and m["mask_map50"] == pytest.approx(0.0)
    assert m["mask_iou"] == pytest.approx(0.4)
    # a detection of the wrong class finds nothing: IoU 0
    assert mask_iou(gt_labels, gt_masks, det_boxes, det_scores, np.array([[2, 0]]), perfect,
                    gt_boxes) == 0.0


def test_conv_transpose_doubles_the_map():
    from graph.catalogue import get
    from graph.spec import BuildContext, ShapeContext, TensorType
    spec = get("ConvTranspose2d")
    params = spec.resolved({"out_channels": 5})
    ins = {"x": TensorType(("M", 8, 14, 14))}
    outs = spec.shape(ShapeContext("d", params, ins, {"x": "src"}))
    assert outs["y"].shape == ("M", 5, 28, 28)
    plan = spec.build(BuildContext("d", params, ins, outs))
    assert plan.target == "nn.ConvTranspose2d" and plan.kwargs["stride"] == 2
    y = torch.nn.ConvTranspose2d(**plan.kwargs)(torch.randn(3, 8, 14, 14))
    assert y.shape == (3, 5, 28, 28)


def test_mask_rcnn_trains_the_branch_on_positives_and_masks_the_detections():
    """The template's two phases: the objective reads the sampled RoIs (not the detections);
    the model reads the detections (not the sampled labels) and returns their masks."""
    project = load(ROOT / "templates" / "mask_rcnn.json")
    c = compile_graph(project.graph)
    ph = c.analysis.phases
    assert "mask_rois" not in ph.inference_only and "mask_rois" not in ph.training_only
    assert "paste" in ph.inference_only and "mask_loss" in ph.training_only
    obj = c.objective.code
    assert "mask_rois(sampled = " in obj and "det_boxes" not in obj and "paste_masks" not in obj
    model = c.model.code
    assert "mask_rois(det_boxes = " in model and "sampled" not in model
    assert "paste_masks" in model and "mask_loss" not in model
    losses = {n for n in c.losses}
    assert losses == {"rpn_cls_loss", "rpn_box_loss", "cls_loss", "box_loss", "mask_loss"}
    c.model.eval()
    with torch.no_grad():
        got = c.model(torch.rand(2, 3, 64, 64))
    out = dict(zip(c.outputs, got))
    assert out["masks"].shape == (2, 20, 64, 64) and out["boxes"].shape == (2, 20, 4)
    assert json.loads(project.to_json())["data"]["bind"]["gt_masks"] == "masks"
