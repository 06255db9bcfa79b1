"""Faster R-CNN's Region Proposal Network (issue 14): anchors, the RPN head, the proposal step,
anchor matching and sampling, and the objectness loss. torchvision/models/detection/
anchor_utils.py, rpn.py and _utils.py (Matcher, BalancedPositiveNegativeSampler) are the
reference; tests/runtime/test_rpn.py checks the layout and the counts.

Shapes: one feature map N × C × H × W (no feature pyramid); k anchors per map cell, A = H · W
· k anchors in all, ordered by row, column, then anchor (torchvision's order: a cell's k
anchors are its aspect ratios × sizes, ratio-major); objectness N × A (logits), box deltas
N × A × 4; proposals N × P × 4 (zero rows pad).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .boxes import (box_iou, clip_boxes, decode_boxes, encode_boxes, nms, remove_small_boxes,
                    traced_as_script)


def anchors(features: torch.Tensor, image: torch.Tensor, sizes: list[float],
            aspect_ratios: list[float]) -> torch.Tensor:
    """The A × 4 anchor boxes of a feature map over images of the batch's size."""
    return traced_as_script(grid_anchors)(features, image, [float(s) for s in sizes],
                                          [float(r) for r in aspect_ratios])


def cell_anchors(sizes: list[float], aspect_ratios: list[float],
                 device: torch.device | None = None) -> torch.Tensor:
    """The k = len(sizes) · len(aspect_ratios) anchors of the cell at (0, 0), centred on it:
    for ratio r = h / w and size s, w = s / √r and h = s · √r (area s²), rounded
    (torchvision's AnchorGenerator.generate_anchors)."""
    scales = torch.tensor(sizes, dtype=torch.float32, device=device)
    ratios = torch.tensor(aspect_ratios, dtype=torch.float32, device=device)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return torch.round(torch.stack([-ws, -hs, ws, hs], dim=1) / 2)


def grid_anchors(features: torch.Tensor, image: torch.Tensor, sizes: list[float],
                 aspect_ratios: list[float]) -> torch.Tensor:
    """Each cell's anchors moved to the cell: cell (i, j) is at (j · stride_w, i · stride_h),
    stride = image side // map side (torchvision's grid_anchors)."""
    gh, gw = features.shape[-2], features.shape[-1]
    stride_h, stride_w = image.shape[-2] // gh, image.shape[-1] // gw
    base = cell_anchors(sizes, aspect_ratios, features.device)
    sx = torch.arange(gw, device=features.device, dtype=torch.float32) * stride_w
    sy = torch.arange(gh, device=features.device, dtype=torch.float32) * stride_h
    x = sx[None, :].expand(gh, gw).reshape(-1)
    y = sy[:, None].expand(gh, gw).reshape(-1)
    shifts = torch.stack((x, y, x, y), dim=1)
    return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)


class RPNHead(nn.Module):
    """A 3 × 3 conv and ReLU over the feature map, then two 1 × 1 convs: k objectness logits
    and 4k box deltas per cell (torchvision's RPNHead, weights N(0, 0.01²), biases 0),
    returned as N × A and N × A × 4 in the anchors' order."""

    def __init__(self, in_channels: int, anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * anchors, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.constant_(layer.bias, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = F.relu(self.conv(x))
        logits = self.cls_logits(t)
        n, k, h, w = logits.shape
        deltas = self.bbox_pred(t).reshape(n, k, 4, h, w).permute(0, 3, 4, 1, 2)
        return logits.permute(0, 2, 3, 1).reshape(n, -1), deltas.reshape(n, -1, 4)


def propose(objectness: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
            image: torch.Tensor, pre_nms: int, post_nms: int, nms_threshold: float = 0.7,
            min_size: float = 1e-3, score_threshold: float = 0.0) -> torch.Tensor:
    """Per image: the `pre_nms` anchors of highest objectness, their deltas decoded (weights
    1, 1, 1, 1), clipped to the image, boxes smaller than `min_size` and scores (sigmoid)
    below `score_threshold` dropped, NMS at `nms_threshold`, the best `post_nms` kept:
    N × post_nms × 4, zero rows where fewer remain. No gradient flows back through it
    (torchvision's RegionProposalNetwork.filter_proposals)."""
    n = objectness.shape[0]
    height, width = image.shape[-2], image.shape[-1]
    obj = objectness.detach()
    d = deltas.detach()
    out = d.new_zeros((n, post_nms, 4))
    k = min(pre_nms, obj.shape[1])
    for b in range(n):
        top = obj[b].topk(k).indices
        boxes = decode_boxes(d[b][top], anchors[top], (1.0, 1.0, 1.0, 1.0))
        boxes = clip_boxes(boxes, (height, width))
        scores = torch.sigmoid(obj[b][top])
        keep = remove_small_boxes(boxes, min_size)
        boxes, scores = boxes[keep], scores[keep]
        keep = torch.where(scores >= score_threshold)[0]
        boxes, scores = boxes[keep], scores[keep]
        keep = nms(boxes, scores, nms_threshold)[:post_nms]
        out[b, :len(keep)] = boxes[keep]
    return out


class RegionProposals(nn.Module):
    """The RPN's proposal step, with torchvision's two settings: more proposals in training
    (pre_nms_train, post_nms_train) than at inference (pre_nms_test, post_nms_test)."""

    def __init__(self, pre_nms_train: int = 1000, post_nms_train: int = 300,
                 pre_nms_test: int = 500, post_nms_test: int = 100, nms_threshold: float = 0.7,
                 min_size: float = 1e-3, score_threshold: float = 0.0):
        super().__init__()
        self.pre_nms_train, self.post_nms_train = pre_nms_train, post_nms_train
        self.pre_nms_test, self.post_nms_test = pre_nms_test, post_nms_test
        self.nms_threshold, self.min_size = nms_threshold, min_size
        self.score_threshold = score_threshold

    def forward(self, objectness: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
                image: torch.Tensor) -> torch.Tensor:
        pre, post = (self.pre_nms_train, self.post_nms_train) if self.training else \
            (self.pre_nms_test, self.post_nms_test)
        return traced_as_script(propose)(objectness, deltas, anchors, image, pre, post,
                                         float(self.nms_threshold), float(self.min_size),
                                         float(self.score_threshold))


def label_anchors(anchors: torch.Tensor, gt: torch.Tensor, fg_iou: float = 0.7,
                  bg_iou: float = 0.3, low_quality: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each anchor's label against one image's objects G × 4, before any sampling: 1 an
    object (IoU ≥ fg_iou with one, or, with `low_quality`, among the anchors overlapping an
    object most), 0 background (IoU < bg_iou with every object), −1 between. Returns the
    labels, each anchor's best IoU and the object it is matched to (A each)."""
    a = anchors.shape[0]
    if not len(gt):
        return (torch.zeros(a, dtype=torch.int64, device=anchors.device),
                anchors.new_zeros(a), torch.zeros(a, dtype=torch.int64, device=anchors.device))
    iou = box_iou(gt, anchors)  # G × A
    best, which = iou.max(0)
    lab = torch.full((a,), -1, dtype=torch.int64, device=anchors.device)
    lab[best < bg_iou] = 0
    lab[best >= fg_iou] = 1
    if low_quality:
        highest = iou.max(1).values
        lab[torch.where(iou == highest[:, None])[1]] = 1
    return lab, best, which


def match_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, gt_labels: torch.Tensor,
                  fg_iou: float = 0.7, bg_iou: float = 0.3, per_image: int = 256,
                  positive_fraction: float = 0.5, low_quality: bool = True
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training: each anchor's label for the RPN, per image (1: an object, IoU ≥ fg_iou with
    one; 0: background, IoU < bg_iou with every object; −1: between, or not drawn), and the
    deltas to its best object (weights 1, 1, 1, 1). With `low_quality`, the anchors that
    overlap an object most are objects too, whatever their IoU (torchvision's Matcher with
    allow_low_quality_matches). Then a balanced draw of `per_image` anchors, at most
    positive_fraction objects; the others are −1. Returns labels N × A (int64) and targets
    N × A × 4."""
    n, a = gt_boxes.shape[0], anchors.shape[0]
    labels = torch.full((n, a), -1, dtype=torch.int64, device=anchors.device)
    targets = anchors.new_zeros((n, a, 4))
    for b in range(n):
        real = gt_labels[b] > 0
        gt = gt_boxes[b][real].to(anchors.dtype)
        lab, _best, which = label_anchors(anchors, gt, fg_iou, bg_iou, low_quality)
        if len(gt):
            targets[b] = encode_boxes(gt[which], anchors, (1.0, 1.0, 1.0, 1.0))
        pos = torch.where(lab == 1)[0]
        neg = torch.where(lab == 0)[0]
        n_pos = min(len(pos), int(per_image * positive_fraction))
        n_neg = min(len(neg), per_image - n_pos)
        labels[b, pos[torch.randperm(len(pos), device=pos.device)[:n_pos]]] = 1
        labels[b, neg[torch.randperm(len(neg), device=neg.device)[:n_neg]]] = 0
    return labels, targets


def objectness_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The RPN's L_cls: binary cross-entropy of the drawn anchors' objectness logits against
    their labels (1 object, 0 background), the mean over them; −1 anchors add nothing."""
    keep = labels >= 0
    if not bool(keep.any()):
        return logits.sum() * 0
    return F.binary_cross_entropy_with_logits(logits[keep], labels[keep].to(logits.dtype))
