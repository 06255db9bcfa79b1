"""The Region Proposal Network's pieces (runtime/detection/rpn.py) against torchvision's
layout and rules: anchors on a small grid, the head's order, the proposal step's counts,
anchor matching with its thresholds and low-quality matches, balanced sampling, the losses."""
from __future__ import annotations

import torch

from runtime.detection import rpn
from runtime.detection.heads import box_loss


def test_cell_anchors_equal_torchvisions():
    # torchvision: AnchorGenerator(((32,),), ((0.5, 1.0, 2.0),)).cell_anchors[0]
    want = torch.tensor([[-23.0, -11.0, 23.0, 11.0], [-16.0, -16.0, 16.0, 16.0],
                         [-11.0, -23.0, 11.0, 23.0]])
    assert torch.equal(rpn.cell_anchors([32], [0.5, 1.0, 2.0]), want)
    # ratio-major, size-minor: (r0, s0), (r0, s1), (r1, s0), …
    two = rpn.cell_anchors([16, 32], [1.0, 2.0])
    assert torch.equal(two[:, 2] - two[:, 0], torch.tensor([16.0, 32.0, 12.0, 22.0]))  # 2 · round(s / √2 / 2)


def test_grid_anchors_layout_on_a_small_grid():
    features, image = torch.zeros(1, 1, 2, 3), torch.zeros(1, 3, 8, 12)  # stride 4 × 4
    a = rpn.anchors(features, image, [32], [0.5, 1.0, 2.0])
    assert a.shape == (2 * 3 * 3, 4)
    base = rpn.cell_anchors([32], [0.5, 1.0, 2.0])
    for i in range(2):
        for j in range(3):
            cell = a[(i * 3 + j) * 3:(i * 3 + j + 1) * 3]
            assert torch.equal(cell, base + torch.tensor([4.0 * j, 4.0 * i] * 2))
    # the stride is image side // map side, per axis
    b = rpn.anchors(torch.zeros(1, 1, 3, 2), torch.zeros(1, 3, 10, 9), [8], [1.0])
    assert torch.equal(b[:, :2] + 4, torch.tensor([[0.0, 0], [4, 0], [0, 3], [4, 3], [0, 6],
                                                   [4, 6]]))


def test_rpn_head_outputs_follow_the_anchor_order():
    head = rpn.RPNHead(4, 3)
    x = torch.randn(2, 4, 5, 6)
    obj, deltas = head(x)
    assert obj.shape == (2, 5 * 6 * 3) and deltas.shape == (2, 5 * 6 * 3, 4)
    t = torch.relu(head.conv(x))
    logits, boxes = head.cls_logits(t), head.bbox_pred(t)
    n, i, j, a = 1, 3, 4, 2
    row = (i * 6 + j) * 3 + a
    assert torch.allclose(obj[n, row], logits[n, a, i, j])
    assert torch.allclose(deltas[n, row], boxes[n, 4 * a:4 * a + 4, i, j])
    assert float(head.cls_logits.bias.detach().abs().max()) == 0 and \
        float(head.cls_logits.weight.detach().std()) < 0.05  # N(0, 0.01²)


def _scene():
    anchors = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30],
                            [40, 40, 60, 60], [0, 0, 64, 64]])
    obj = torch.tensor([[5.0, 4.0, 3.0, -1.0, 2.0]])
    return anchors, obj, torch.zeros(1, 5, 4), torch.zeros(1, 3, 64, 64)


def test_propose_top_n_nms_and_padding():
    anchors, obj, deltas, image = _scene()
    out = rpn.propose(obj, deltas, anchors, image, pre_nms=4, post_nms=6, nms_threshold=0.5)
    assert out.shape == (1, 6, 4)
    # the top 4 by objectness; anchor 1 overlaps anchor 0 (IoU 0.68 > 0.5): suppressed
    assert torch.equal(out[0, :3], anchors[[0, 2, 4]])
    assert float(out[0, 3:].abs().max()) == 0  # zero rows pad
    assert rpn.propose(obj, deltas, anchors, image, 5, 2, 0.5).shape == (1, 2, 4)
    # boxes are clipped to the image, and scores below the threshold dropped
    far = anchors + torch.tensor([50.0, 50, 50, 50])
    clipped = rpn.propose(obj, deltas, far, image, 5, 5, 0.99, score_threshold=0.6)
    assert float(clipped.max()) <= 64 and int((clipped.abs().sum(2) > 0).sum()) == 3


def test_region_proposals_count_differs_in_training_and_inference():
    anchors, obj, deltas, image = _scene()
    step = rpn.RegionProposals(pre_nms_train=5, post_nms_train=4, pre_nms_test=2,
                               post_nms_test=3, nms_threshold=0.9)
    obj = obj.clone().requires_grad_()
    train = step(obj, deltas, anchors, image)
    step.eval()
    infer = step(obj, deltas, anchors, image)
    assert train.shape == (1, 4, 4) and infer.shape == (1, 3, 4)
    assert int((infer.abs().sum(2) > 0).sum()) == 2  # pre_nms_test 2: two candidates only
    assert not train.requires_grad  # no gradient through the proposals


def test_match_anchors_thresholds_and_low_quality_matches():
    anchors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 8], [0, 0, 10, 5], [30, 30, 40, 40],
                            [50, 50, 60, 60]])
    gt = torch.tensor([[[0.0, 0, 10, 10], [50, 52, 60, 62], [0, 0, 0, 0]]])
    cls = torch.tensor([[2, 1, -1]])
    # IoU with gt 0: 1, 0.8, 0.5, 0, 0; with gt 1: 0, 0, 0, 0, 8/12
    labels, targets = rpn.match_anchors(anchors, gt, cls, 0.7, 0.3, per_image=100)
    assert labels.tolist() == [[1, 1, -1, 0, 1]]  # anchor 4: gt 1's best (low quality)
    labels, _ = rpn.match_anchors(anchors, gt, cls, 0.7, 0.3, 100, low_quality=False)
    assert labels.tolist() == [[1, 1, -1, 0, -1]]
    assert torch.allclose(targets[0, 0], torch.zeros(4))  # anchor 0 is its object
    assert torch.allclose(targets[0, 4], torch.tensor([0.0, 0.2, 0.0, 0.0]))
    # an image without objects: every anchor background
    none, tgt = rpn.match_anchors(anchors, gt[:, 2:], cls[:, 2:], per_image=100)
    assert none.tolist() == [[0] * 5] and float(tgt.abs().max()) == 0


def test_match_anchors_draws_the_settings_counts():
    torch.manual_seed(0)
    xy = torch.rand(400, 2) * 50
    anchors = torch.cat((xy, xy + 12), 1)
    gt = torch.tensor([[[10.0, 10, 22, 22], [30, 30, 42, 42]]]).repeat(2, 1, 1)
    cls = torch.tensor([[1, 3], [2, -1]])
    for per_image, frac in ((64, 0.5), (16, 0.25), (300, 0.5)):
        labels, _ = rpn.match_anchors(anchors, gt, cls, 0.5, 0.3, per_image, frac)
        for b in range(2):
            pos, neg = int((labels[b] == 1).sum()), int((labels[b] == 0).sum())
            assert pos <= int(per_image * frac) and pos >= 1
            assert pos + neg == min(per_image, pos + neg)
            if per_image <= 64:
                assert pos + neg == per_image  # enough background: the sample is full


def test_objectness_and_rpn_box_loss_count_the_drawn_anchors_only():
    logits = torch.tensor([[2.0, -1.0, 30.0, 0.5]])
    labels = torch.tensor([[1, 0, -1, 1]])
    want = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 1.0]))
    assert torch.allclose(rpn.objectness_loss(logits, labels), want)
    assert float(rpn.objectness_loss(logits, torch.full((1, 4), -1))) == 0
    deltas = torch.zeros(1, 4, 4)
    targets = torch.ones(1, 4, 4)
    # positives 0 and 3, each 4 × smooth L1(1) = 4 × (1 − 1/18); over the 3 drawn anchors
    got = box_loss(deltas, targets, labels)
    assert torch.allclose(got, torch.tensor(2 * 4 * (1 - 1 / 18) / 3))


def test_scripted_rpn_functions_equal_the_eager_ones():
    anchors, obj, deltas, image = _scene()
    deltas = torch.randn(1, 5, 4) * 0.1
    s = torch.jit.script(rpn.propose)
    assert torch.equal(s(obj, deltas, anchors, image, 4, 6, 0.5, 1e-3, 0.0),
                       rpn.propose(obj, deltas, anchors, image, 4, 6, 0.5))
    g = torch.jit.script(rpn.grid_anchors)
    f, img = torch.zeros(2, 1, 3, 4), torch.zeros(2, 3, 12, 16)
    assert torch.equal(g(f, img, [8.0, 16.0], [0.5, 1.0]),
                       rpn.grid_anchors(f, img, [8, 16], [0.5, 1.0]))
