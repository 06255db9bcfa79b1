"""Detection ops against torchvision's semantics, on hand-worked cases (issue 13)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from runtime.detection import boxes as B
from runtime.detection import heads as H
from runtime.detection.evaluate import coco_map


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


# IoU, clipping --------------------------------------------------------------------------

def test_iou_by_hand():
    iou = B.box_iou(t([[0, 0, 2, 2]]), t([[1, 1, 3, 3], [2, 2, 4, 4], [0, 0, 2, 2],
                                          [0, 0, 1, 1]]))
    assert iou[0].tolist() == pytest.approx([1 / 7, 0.0, 1.0, 0.25])


def test_iou_of_two_empty_boxes_is_nan_as_torchvision():
    assert math.isnan(B.box_iou(t([[0, 0, 0, 0]]), t([[0, 0, 0, 0]]))[0, 0])


def test_clip_to_image():
    got = B.clip_boxes(t([[-5, -1, 70, 30], [10, 80, 20, 90]]), (64, 48))
    assert got.tolist() == [[0, 0, 48, 30], [10, 64, 20, 64]]


# NMS ------------------------------------------------------------------------------------

def test_nms_empty_input():
    keep = B.nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert keep.dtype == torch.int64 and keep.numel() == 0
    assert B.batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64),
                         0.5).numel() == 0


def test_nms_tie_keeps_the_earlier_box():
    boxes = t([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]])
    assert B.nms(boxes, t([0.5, 0.5, 0.5]), 0.5).tolist() == [0, 2]


def test_nms_threshold_is_strict_and_suppressed_boxes_suppress_nothing():
    # IoU(a, b) = 0.5 exactly: both stay at 0.5, b goes at 0.49
    a, b = [0, 0, 2, 1], [0, 0, 1, 1]
    assert B.nms(t([a, b]), t([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert B.nms(t([a, b]), t([0.9, 0.8]), 0.49).tolist() == [0]
    # A suppresses B; B overlaps C but, suppressed, leaves C alone
    boxes = t([[0, 0, 10, 10], [3, 0, 13, 10], [8, 0, 18, 10]])
    assert B.nms(boxes, t([0.9, 0.8, 0.7]), 0.4).tolist() == [0, 2]


def test_nms_orders_by_score():
    boxes = t([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]])
    assert B.nms(boxes, t([0.1, 0.9, 0.5]), 0.5).tolist() == [1, 2, 0]


def test_scripted_functions_equal_the_eager_ones():
    """What a TorchScript export runs (the torch loop of NMS, RoI pooling by the sparse
    table, the warp, detect) equals what training and the app run, ties included."""
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        bx = torch.rand(40, 2, generator=g) * 40
        bx = torch.cat((bx, bx + 2 + torch.rand(40, 2, generator=g) * 20), 1)
        sc = torch.randint(0, 6, (40,), generator=g).float()  # many equal scores
        assert torch.equal(torch.jit.script(B.nms)(bx, sc, 0.4), B.nms(bx, sc, 0.4))
    assert torch.jit.script(B.nms)(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)
    x = torch.rand(2, 8, 16, 16, generator=g)
    p = torch.rand(2, 30, 4, generator=g) * 40
    p[..., 2:] += p[..., :2] + 3
    rois = H.all_rois(p)
    assert torch.equal(torch.jit.script(H.all_rois)(p), rois)
    assert torch.equal(torch.jit.script(B._roi_pool)(x, rois, 7, 7, 0.25, 16),
                       B.roi_pool(x, rois, 7, 0.25))  # in chunks of 16 RoIs too
    img = torch.rand(2, 3, 64, 64, generator=g)
    assert torch.equal(torch.jit.script(B._roi_warp)(img, rois, 8, 8), B.roi_warp(img, rois, 8))
    cs, bd = torch.randn(len(rois), 4, generator=g), torch.randn(len(rois), 16, generator=g)
    for a, b in zip(torch.jit.script(H.detect)(cs, bd, rois, img), H.detect(cs, bd, rois, img)):
        assert torch.equal(a, b)


def test_batched_nms_keeps_overlapping_boxes_of_other_classes():
    boxes = t([[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10]])
    keep = B.batched_nms(boxes, t([0.9, 0.8, 0.7]), torch.tensor([1, 2, 1]), 0.5)
    assert keep.tolist() == [0, 1]


# Box coding -----------------------------------------------------------------------------

def test_encode_by_hand():
    d = B.encode_boxes(t([[1, 1, 11, 11], [0, 0, 20, 10]]), t([[0, 0, 10, 10]] * 2))
    # centres (6, 6) vs (5, 5), sizes equal: 10 · 1/10; the second twice as wide
    assert d.tolist()[0] == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert d.tolist()[1] == pytest.approx([10 * 5 / 10, 0.0, 5 * math.log(2), 0.0])


def test_decode_inverts_encode_per_class():
    props = t([[0, 0, 10, 10], [5, 5, 25, 15]])
    gt = t([[2, 1, 9, 12], [4, 6, 30, 14]])
    d = B.encode_boxes(gt, props)
    two = torch.cat((d, torch.zeros_like(d)), 1)  # class 0 and class 1's deltas
    out = B.decode_boxes(two, props)
    assert torch.allclose(out[:, :4], gt, atol=1e-4)
    assert torch.allclose(out[:, 4:], props, atol=1e-5)


def test_decode_caps_the_size_change():
    out = B.decode_boxes(t([[0, 0, 1000, 1000]]), t([[0, 0, 10, 10]]))
    side = 10 * math.exp(B.BBOX_XFORM_CLIP)  # 625: log(1000/16) caps dw/5
    assert (out[0, 2] - out[0, 0]).item() == pytest.approx(side, rel=1e-5)


# RoI pooling ----------------------------------------------------------------------------

def _c_round(v):
    return math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)


def roi_pool_reference(x, rois, size, scale):
    """torchvision's CPU kernel (roi_pool_kernel.cpp), line by line."""
    n, c, h, w = x.shape
    out = torch.zeros(len(rois), c, size, size)
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        sw, sh, ew, eh = (_c_round(v * scale) for v in (x1, y1, x2, y2))
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bh, bw = rh / size, rw / size
        for i in range(size):
            for j in range(size):
                hs = min(max(math.floor(i * bh) + sh, 0), h)
                he = min(max(math.ceil((i + 1) * bh) + sh, 0), h)
                ws = min(max(math.floor(j * bw) + sw, 0), w)
                we = min(max(math.ceil((j + 1) * bw) + sw, 0), w)
                if he > hs and we > ws:
                    out[k, :, i, j] = x[int(b), :, hs:he, ws:we].amax((1, 2))
    return out


def test_roi_pool_by_hand():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    got = B.roi_pool(x, t([[0, 0, 0, 3, 3]]), 2, 1.0)
    assert got[0, 0].tolist() == [[5, 7], [13, 15]]  # the four quadrants' maxima


def test_roi_pool_rounds_halves_away_from_zero():
    x = torch.arange(8.0).reshape(1, 1, 1, 8)  # value = column
    # x1 = 2.5 rounds to 3 (C's round), not 2 (torch.round): the bin starts at column 3
    got = B.roi_pool(x, t([[0, 2.5, 0, 2.5, 0]]), 1, 1.0)
    assert got.item() == 3


def test_roi_pool_outside_the_map_and_empty_bins_give_zero():
    x = torch.full((1, 2, 4, 4), 7.0)
    got = B.roi_pool(x, t([[0, -20, -20, -10, -10], [0, -3, 0, 1, 3]]), 2, 1.0)
    assert got[0].abs().sum() == 0  # wholly outside: every bin empty
    # x from -3 to 1: the left bins lie off the map (empty: 0), the right ones on it
    assert got[1, 0].tolist() == [[0, 7], [0, 7]]


def test_roi_pool_no_rois():
    assert B.roi_pool(torch.zeros(2, 3, 8, 8), torch.zeros(0, 5), 7, 0.5).shape == (0, 3, 7, 7)


@pytest.mark.parametrize("seed", range(12))
def test_roi_pool_equals_the_reference_kernel(seed):
    g = torch.Generator().manual_seed(seed)
    h, w = (int(v) for v in torch.randint(3, 20, (2,), generator=g))
    x = torch.randn(2, 3, h, w, generator=g)
    scale, size = [1.0, 0.5, 0.25][seed % 3], [1, 2, 3, 7][seed % 4]
    xy = torch.rand(10, 2, generator=g) * torch.tensor([w, h]) / scale * 1.3 - 5
    wh = torch.rand(10, 2, generator=g) * torch.tensor([w, h]) / scale
    rois = torch.cat([torch.randint(0, 2, (10, 1), generator=g).float(), xy, xy + wh], 1)
    assert torch.equal(B.roi_pool(x, rois, size, scale), roi_pool_reference(x, rois, size,
                                                                             scale))


def test_roi_pool_gradient_goes_to_each_bins_maximum():
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    rois = t([[0, 0, 0, 5, 5], [0, 1, 1, 3, 4]])
    B.roi_pool(x, rois, 3, 1.0).sum().backward()
    # every non-empty bin sends 1 to one pixel: 2 RoIs × 2 channels × 9 bins
    assert x.grad.sum().item() == 36
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}


def test_roi_pool_accepts_a_list_of_boxes_per_image():
    x = torch.randn(2, 1, 8, 8)
    a = B.roi_pool(x, [t([[0, 0, 4, 4]]), t([[1, 1, 7, 7]])], 2, 1.0)
    b = B.roi_pool(x, t([[0, 0, 0, 4, 4], [1, 1, 1, 7, 7]]), 2, 1.0)
    assert torch.equal(a, b)


def test_roi_warp_of_the_whole_image_is_the_image():
    img = torch.rand(2, 3, 8, 8)
    got = B.roi_warp(img, t([[1, 0, 0, 8, 8], [0, 0, 0, 8, 8]]), 8)
    assert torch.allclose(got[0], img[1], atol=1e-6) and torch.allclose(got[1], img[0],
                                                                          atol=1e-6)
    half = B.roi_warp(img, t([[0, 0, 0, 4, 4]]), 2)  # 2 × 2 pixels from a 4 × 4 corner
    want = torch.nn.functional.avg_pool2d(img[:1, :, :4, :4], 2)  # bilinear at the centres
    assert torch.allclose(half, want, atol=1e-6)


# Matching, detections, losses -----------------------------------------------------------

def test_sample_rois_labels_counts_and_targets():
    torch.manual_seed(0)
    gt = torch.zeros(1, 2, 4)
    gt[0, 0] = t([10, 10, 30, 30])
    labels = torch.tensor([[3, -1]])
    props = torch.zeros(1, 6, 4)
    props[0, :4] = t([[10, 10, 30, 30], [12, 10, 30, 30], [40, 40, 60, 60], [0, 0, 5, 5]])
    rois, lab, tgt, _ = H.sample_rois(props, gt, labels, per_image=4, positive_fraction=0.5)
    assert rois.shape == (4, 5) and (rois[:, 0] == 0).all()
    # positives: the two proposals on the object and the true box itself (2 drawn of 3)
    assert sorted(lab.tolist()) == [0, 0, 3, 3]
    pos = lab == 3
    assert torch.allclose(tgt[pos], B.encode_boxes(gt[0, :1].expand(2, 4), rois[pos, 1:]))
    # too few candidates: every one, no padding rows, no ignored
    rois, lab, _, _ = H.sample_rois(props, gt, labels, per_image=100)
    assert len(rois) == 5 and sorted(lab.tolist()) == [0, 0, 3, 3, 3]
    # inference: every real proposal, nothing else
    rois, lab, tgt, matched = H.sample_rois(props)
    assert rois[:, 1:].tolist() == props[0, :4].tolist() and lab.numel() == tgt.numel() == 0
    assert matched.numel() == 0


def test_sample_rois_names_the_matched_object_across_the_batch():
    """Mask R-CNN reads each positive RoI's mask by its object's index b·K + j."""
    torch.manual_seed(0)
    gt = torch.zeros(2, 3, 4)
    gt[0, 1] = t([10, 10, 30, 30])  # image 0: a padding row first, then its object
    gt[1, 0], gt[1, 2] = t([0, 0, 20, 20]), t([40, 40, 60, 60])
    labels = torch.tensor([[-1, 2, -1], [1, -1, 3]])
    props = torch.zeros(2, 3, 4)
    props[0, 0] = t([11, 10, 30, 30])
    props[1, 0], props[1, 1] = t([41, 40, 60, 60]), t([0, 30, 10, 40])
    rois, lab, _, matched = H.sample_rois(props, gt, labels, per_image=10,
                                          positive_fraction=1.0)
    for r, y, m in zip(rois.tolist(), lab.tolist(), matched.tolist()):
        b = int(r[0])
        if y == 0:
            assert m == -1
            continue
        assert m // 3 == b and labels[b, m % 3] == y
        assert B.box_iou(t([r[1:]]), gt[b, m % 3][None]).item() >= 0.5
    assert sorted(m for m in matched.tolist() if m >= 0) == [1, 1, 3, 5, 5]


def test_sample_rois_ignores_between_thresholds():
    gt = t([[[0, 0, 10, 10]]])
    props = t([[[0, 0, 10, 6]]])  # IoU 0.6
    _, lab, _, _ = H.sample_rois(props, gt, torch.tensor([[1]]), fg_iou=0.7, bg_iou=0.5,
                              add_gt=False)
    assert lab.numel() == 0


def test_detect_decodes_scores_and_suppresses_duplicates():
    image = torch.zeros(1, 3, 64, 64)
    rois = t([[0, 10, 10, 30, 30], [0, 11, 10, 30, 30], [0, 40, 40, 50, 50]])
    logits = t([[0, 0, 9], [0, 0, 8], [9, 0, 0]])  # two on class 2, one background
    b, s, lab = H.detect(logits, torch.zeros(3, 12), rois, image, detections=5)
    assert lab[0].tolist() == [2, 0, 0, 0, 0]
    assert b[0, 0].tolist() == [10, 10, 30, 30]
    assert s[0, 0].item() == pytest.approx(torch.softmax(t([0, 0, 9]), 0)[2].item())
    assert s[0, 1:].abs().sum() == 0


def test_box_loss_reads_the_matched_class_only():
    deltas = torch.zeros(3, 12)
    deltas[0, 4:8] = 1.0  # RoI 0 is class 1: its class-1 deltas are off by 1
    deltas[0, 8:12] = 50.0  # another class's deltas: not read
    deltas[1] = 50.0  # background: not read
    loss = H.box_loss(deltas, torch.zeros(3, 4), torch.tensor([1, 0, 2]), beta=1.0)
    assert loss.item() == pytest.approx(4 * 0.5 / 3)  # smoothL1(1) = 0.5, 4 terms, / 3 RoIs


def test_svm_loss_one_against_the_rest():
    margins = t([[0, 2, -2, 0.5], [0, -1, -1, -1]])
    # RoI 0, class 1: t = (+1, −1, −1): max(0, 1 − 2) + max(0, 1 − 2) + max(0, 1.5) = 1.5
    # RoI 1, background: every class −1: max(0, 1 − 1) × 3 = 0
    assert H.svm_loss(margins, torch.tensor([1, 0])).item() == pytest.approx(0.75)


# mAP ------------------------------------------------------------------------------------

GT_B = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)]
GT_L = [np.array([1, 2])]
CLASSES = ["background", "a", "b"]


def test_map_perfect():
    m = coco_map(GT_B, GT_L, GT_B, [np.array([0.9, 0.8])], GT_L, CLASSES)
    assert m["map50"] == pytest.approx(1) and m["map"] == pytest.approx(1)


def test_map_one_class_missed():
    m = coco_map(GT_B, GT_L, [np.array([[0, 0, 10, 10], [40, 40, 50, 50]], float)],
                 [np.array([0.9, 0.8])], GT_L, CLASSES)
    assert m["ap50.a"] == pytest.approx(1) and m["ap50.b"] == 0 and m["map50"] == \
        pytest.approx(0.5)


def test_map_false_positive_ranked_first_halves_the_precision():
    m = coco_map(GT_B, GT_L, [np.array([[50, 50, 60, 60], [0, 0, 10, 10]], float)],
                 [np.array([0.9, 0.8])], [np.array([1, 1])], CLASSES)
    assert m["ap50.a"] == pytest.approx(0.5)


def test_map_over_iou_thresholds():
    # IoU 0.81 (box 9 × 10 inside 10 × 10... 90 / 100): a hit at 0.5 … 0.9, a miss at 0.95
    m = coco_map([GT_B[0][:1]], [GT_L[0][:1]], [np.array([[0, 0, 9, 10]], float)],
                 [np.array([0.9])], [np.array([1])], CLASSES)
    assert m["map50"] == pytest.approx(1) and m["map"] == pytest.approx(0.9)


def test_map_without_detections_is_zero():
    m = coco_map(GT_B, GT_L, [np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0)], CLASSES)
    assert m == {"map50": 0.0, "map": 0.0, "ap50.a": 0.0, "ap50.b": 0.0}
