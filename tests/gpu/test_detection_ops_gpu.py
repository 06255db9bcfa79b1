"""The detection ops (runtime/detection/) on the GPU equal the CPU's within 1e-5 on random
inputs: box coding, IoU, clipping, NMS, RoI pooling, RoIAlign (values and gradients), the
R-CNN warp, anchors, the RPN's proposals and matching, the heads' post-processing and
losses, the mask branch. Each in two ways on the GPU: our torch code (runtime/detection/
boxes.py with torchvision set aside) and, where torchvision imports (a CUDA machine),
torchvision's kernels, both against our torch code on the CPU. Random draws (the anchor and
RoI samplers) differ between devices by design: their counts and targets are compared.
The CPU twins run the same bodies with the CPU on both sides."""
from __future__ import annotations

import pytest
import torch

from runtime.detection import boxes as B
from runtime.detection import heads as H
from runtime.detection import masks as M
from runtime.detection import rpn as R
from tests.gpu.common import devices

TOL = 1e-5


def rand_boxes(g: torch.Generator, n: int, size: int = 64) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g) * (size - 16)
    wh = 2 + torch.rand(n, 2, generator=g) * 30
    return torch.cat((xy, xy + wh), 1)


def rois_for(g: torch.Generator, n_images: int, k: int, size: int = 64) -> torch.Tensor:
    index = torch.randint(0, n_images, (k, 1), generator=g).float()
    return torch.cat((index, rand_boxes(g, k, size)), 1)


# Each case: (inputs made on the CPU from a seeded generator) -> outputs, run on a device ----
def iou_and_coding(dev, g):
    a, b = rand_boxes(g, 40).to(dev), rand_boxes(g, 30).to(dev)
    deltas = (torch.randn(40, 12, generator=g) * 0.5).to(dev)
    return {"iou": B.box_iou(a, b), "encode": B.encode_boxes(a, rand_boxes(g, 40).to(dev)),
            "decode": B.decode_boxes(deltas, a), "area": B.box_area(a),
            "clip": B.clip_boxes(a * 1.3 - 5, (48, 56)),
            "small": B.remove_small_boxes(a, 10.0), "valid": B.valid_boxes(a - a * (a > 40))}


def nms(dev, g):
    boxes = rand_boxes(g, 300).to(dev)
    scores = torch.rand(300, generator=g).to(dev)
    idxs = torch.randint(0, 4, (300,), generator=g).to(dev)
    return {"nms": B.nms(boxes, scores, 0.5), "nms_low": B.nms(boxes, scores, 0.2),
            "batched": B.batched_nms(boxes, scores, idxs, 0.5)}


def roi_pooling(dev, g):
    x = torch.randn(2, 8, 16, 16, generator=g).to(dev)
    rois = rois_for(g, 2, 50).to(dev)
    images = torch.rand(2, 3, 64, 64, generator=g).to(dev)
    return {"pool": B.roi_pool(x, rois, 7, 0.25), "pool_3x5": B.roi_pool(x, rois, (3, 5), 0.25),
            "warp": B.roi_warp(images, rois, 16)}


def roi_align(dev, g):
    x = torch.randn(2, 8, 16, 16, generator=g).to(dev).requires_grad_()
    rois = rois_for(g, 2, 50).to(dev)
    out = {}
    for ratio in (-1, 2):
        for aligned in (False, True):
            y = B.roi_align(x, rois, 7, 0.25, ratio, aligned)
            (grad,) = torch.autograd.grad((y * y).sum(), x)
            out[f"align_{ratio}_{aligned}"] = y.detach()
            out[f"grad_{ratio}_{aligned}"] = grad
    return out


def anchors_and_rpn(dev, g):
    feats = torch.randn(2, 8, 8, 8, generator=g).to(dev)
    image = torch.zeros(2, 3, 64, 64).to(dev)
    anchors = R.anchors(feats, image, [16.0, 32.0], [0.5, 1.0, 2.0])
    a = anchors.shape[0]
    obj = torch.randn(2, a, generator=g).to(dev)
    deltas = (torch.randn(2, a, 4, generator=g) * 0.2).to(dev)
    gt = torch.stack([rand_boxes(g, 3), rand_boxes(g, 3)]).to(dev)
    gl = torch.tensor([[1, 2, 0], [3, 1, 1]]).to(dev)
    lab, best, which = R.label_anchors(anchors, gt[0], 0.5, 0.3)
    labels, targets = R.match_anchors(anchors, gt, gl, 0.5, 0.3, per_image=64)
    drawn = torch.stack([(labels == 1).sum(1), (labels == 0).sum(1)])
    logits = torch.randn(2, a, generator=g).to(dev)
    return {"anchors": anchors, "cell": R.cell_anchors([16.0, 32.0], [0.5, 1.0, 2.0], dev),
            "propose": R.propose(obj, deltas, anchors, image, 200, 50, 0.7),
            "label": lab, "best": best, "which": which, "targets": targets, "drawn": drawn,
            "obj_loss_all": R.objectness_loss(logits, torch.stack([lab, lab]))}


def heads(dev, g):
    n, c1 = 2, 4
    rois = rois_for(g, n, 60).to(dev)
    scores = torch.randn(60, c1, generator=g).to(dev) * 3
    deltas = (torch.randn(60, 4 * c1, generator=g) * 0.3).to(dev)
    image = torch.zeros(n, 3, 64, 64).to(dev)
    boxes, sc, lb = H.detect(scores, deltas, rois, image, score_threshold=0.05,
                             nms_threshold=0.5, detections=20)
    props = torch.stack([rand_boxes(g, 30), rand_boxes(g, 30)])
    props[:, 25:] = 0  # padding rows
    gt = torch.stack([rand_boxes(g, 3), rand_boxes(g, 3)]).to(dev)
    gl = torch.tensor([[1, 2, 0], [3, 1, 1]]).to(dev)
    s_rois, s_lab, s_tgt, s_match = H.sample_rois(props.to(dev), gt, gl, per_image=16)
    labels = torch.randint(-1, c1, (60,), generator=g).to(dev)
    targets = torch.randn(60, 4, generator=g).to(dev)
    return {"boxes": boxes, "scores": sc, "labels": lb, "all_rois": H.all_rois(props.to(dev)),
            "decode_rois": H.decode_rois(deltas, rois),
            "box_loss": H.box_loss(deltas, targets, labels),
            "box_loss_shared": H.box_loss(deltas[:, :4], targets, labels),
            "svm_loss": H.svm_loss(scores, labels),
            "sampled_counts": torch.stack([(s_lab >= 1).sum(), (s_lab == 0).sum(),
                                           torch.tensor(len(s_rois)).to(dev)])}


def mask_branch(dev, g):
    m, c1, s = 12, 4, 14
    gt_masks = (torch.rand(2, 3, 64, 64, generator=g) > 0.5).float().to(dev)
    rois = rois_for(g, 2, m).to(dev)
    matched = torch.randint(0, 6, (m,), generator=g).to(dev)
    labels = torch.randint(1, c1, (m,), generator=g).to(dev)
    logits = torch.randn(m, c1, s, s, generator=g).to(dev)
    image = torch.zeros(2, 3, 64, 64).to(dev)
    det_boxes = torch.stack([rand_boxes(g, 6), rand_boxes(g, 6)]).to(dev)
    det_labels = torch.randint(0, c1, (2, 6), generator=g).to(dev)
    r, lab, match = M.mask_rois(det_boxes=det_boxes, det_labels=det_labels)
    return {"targets": M.mask_targets(gt_masks, rois, matched, s),
            "loss": M.mask_loss(logits, labels, rois, matched, gt_masks),
            "paste": M.paste_masks(logits, labels, rois, image),
            "rois": r, "rois_labels": lab, "rois_match": match}


def rpn_head(dev, g):
    torch.manual_seed(0)
    head = R.RPNHead(8, 6)
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    x = torch.randn(2, 8, 8, 8, generator=g)
    logits, deltas = head.to(dev)(x.to(dev))
    return {"logits": logits.detach(), "deltas": deltas.detach()}


CASES = [iou_and_coding, nms, roi_pooling, roi_align, anchors_and_rpn, heads, mask_branch,
         rpn_head]


def run(case, dev: str, native: bool, monkeypatch) -> dict:
    """The case on `dev`, with torchvision's kernels where `native` (else our torch code)."""
    g = torch.Generator().manual_seed(1234)
    with monkeypatch.context() as m:
        if not native:
            m.setattr(B, "_tv", None)
        out = case(torch.device(dev), g)
    return {k: v.detach().cpu() for k, v in out.items()}


def same(name: str, got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k, w in want.items():
        v = got[k]
        assert v.shape == w.shape and v.dtype == w.dtype, (name, k, v.shape, w.shape)
        if w.is_floating_point():
            torch.testing.assert_close(v, w, rtol=TOL, atol=TOL, equal_nan=True,
                                       msg=lambda m: f"{name}.{k}: {m}")
        else:
            assert torch.equal(v, w), (name, k, v, w)


@pytest.fixture
def exact_float32():
    """No TF32 on the GPU while comparing (conv and matmul at full float32 precision)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("path", ["torch", "native"])
@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
@pytest.mark.parametrize("device", devices())
def test_detection_op_equals_the_cpu(device, case, path, monkeypatch, exact_float32):
    if path == "native" and B._tv is None:
        pytest.skip("torchvision's ops do not import with this torch: our torch code alone")
    want = run(case, "cpu", False, monkeypatch)  # the reference: our torch code on the CPU
    got = run(case, device, path == "native", monkeypatch)
    same(f"{case.__name__} ({path}, {device})", got, want)
