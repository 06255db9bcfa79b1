"""The functions of the detection nodes (graph/catalogue/detection.py): proposal matching and
sampling (training), the detector's post-processing (inference), and the R-CNN family's box
and SVM losses. torchvision/models/detection/roi_heads.py and _utils.py are the reference.

Shapes: proposals N × P × 4 (zero rows pad); RoIs R × 5 (batch index, x1, y1, x2, y2), the
rows of all images together, as torchvision's roi_pool takes them; per-RoI class labels R
(0 background, -1 ignored) and box targets R × 4.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .boxes import (batched_nms, box_iou, clip_boxes, decode_boxes, encode_boxes,
                    traced_as_script, valid_boxes)

WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # torchvision's box coder weights for the RoI heads


def _with_index(boxes: torch.Tensor, b: int) -> torch.Tensor:
    return torch.cat((torch.full_like(boxes[:, :1], b), boxes), 1)


def all_rois(proposals: torch.Tensor) -> torch.Tensor:
    """N × P × 4 proposals as R × 5 RoIs, image by image, the padding rows left out."""
    n, p, _ = proposals.shape
    index = torch.arange(n, device=proposals.device, dtype=proposals.dtype)
    index = index[:, None, None].expand(n, p, 1)
    rois = torch.cat((index, proposals), 2).reshape(n * p, 5)
    return rois[valid_boxes(rois[:, 1:])]


def sample_rois(proposals: torch.Tensor, gt_boxes: torch.Tensor | None = None,
                gt_labels: torch.Tensor | None = None, per_image: int = 64,
                positive_fraction: float = 0.25, fg_iou: float = 0.5, bg_iou: float = 0.5,
                bg_iou_low: float = 0.0, add_gt: bool = True):
    """Training: match each proposal to the object it overlaps most (IoU ≥ fg_iou: that
    object's class; bg_iou_low ≤ IoU < bg_iou: background 0; otherwise ignored) and draw up
    to `per_image` of them per image, at most positive_fraction of them objects (the ground
    truth boxes join the proposals first). Returns RoIs R × 5, their labels R and the box
    targets R × 4 (the deltas to the matched object; meaningless for background), and
    which object each matched: R indices into the batch's N × K objects (image b's object j
    is b·K + j; −1 for background), for Mask R-CNN's mask targets.
    Inference (no ground truth given): every proposal, labels, targets and matches empty."""
    if gt_boxes is None or gt_labels is None:
        rois = traced_as_script(all_rois)(proposals)
        none = rois.new_zeros(0, dtype=torch.int64)
        return rois, none, rois.new_zeros((0, 4)), none
    rois, labels, targets, matches = [], [], [], []
    k = gt_labels.shape[1]
    for b in range(proposals.shape[0]):
        props = proposals[b][valid_boxes(proposals[b])]
        real = gt_labels[b] > 0
        gt, gl = gt_boxes[b][real], gt_labels[b][real]
        gt_index = torch.where(real)[0] + b * k  # each real object's index in the batch
        if add_gt:
            props = torch.cat((props, gt), 0)
        if len(gt):
            iou = box_iou(gt, props)  # G × P
            best, which = iou.max(0)
        else:
            best = props.new_zeros(len(props))
            which = torch.zeros(len(props), dtype=torch.int64, device=props.device)
        lab = torch.full((len(props),), -1, dtype=torch.int64, device=props.device)
        lab[(best >= bg_iou_low) & (best < bg_iou)] = 0
        if len(gt):
            fg = best >= fg_iou
            lab[fg] = gl[which[fg]]
        pos = torch.where(lab >= 1)[0]
        neg = torch.where(lab == 0)[0]
        n_pos = min(len(pos), int(per_image * positive_fraction))
        n_neg = min(len(neg), per_image - n_pos)
        pick = torch.cat((pos[torch.randperm(len(pos), device=pos.device)[:n_pos]],
                          neg[torch.randperm(len(neg), device=neg.device)[:n_neg]]))
        chosen = props[pick]
        rois.append(_with_index(chosen, b))
        labels.append(lab[pick])
        matched = gt[which[pick]] if len(gt) else chosen
        targets.append(encode_boxes(matched, chosen, WEIGHTS))
        match = gt_index[which[pick]] if len(gt) else torch.zeros_like(pick)
        matches.append(torch.where(lab[pick] >= 1, match, torch.full_like(match, -1)))
    return torch.cat(rois, 0), torch.cat(labels, 0), torch.cat(targets, 0), \
        torch.cat(matches, 0)


def detect(class_scores: torch.Tensor, box_deltas: torch.Tensor, rois: torch.Tensor,
           image: torch.Tensor, scores: str = "softmax", score_threshold: float = 0.05,
           nms_threshold: float = 0.5, detections: int = 100, min_size: float = 0.01,
           weights: tuple[float, float, float, float] = WEIGHTS
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inference: each RoI's class scores (softmax; or sigmoid of SVM margins) and its box
    for each class (its deltas decoded, clipped to the image); per image, every (box, class)
    scoring above score_threshold, NMS within each class, the best `detections` kept.
    Returns boxes N × D × 4, scores N × D and labels N × D (padding: score 0, label 0)."""
    if not torch.jit.is_scripting():
        if torch.jit.is_tracing():  # a TorchScript export: the loop and NMS as they are
            return traced_as_script(detect)(class_scores, box_deltas, rois, image, scores,
                                            float(score_threshold), float(nms_threshold),
                                            int(detections), float(min_size), weights)
    n, _, height, width = image.shape
    c1 = class_scores.shape[1]
    prob = F.softmax(class_scores, -1) if scores == "softmax" else torch.sigmoid(class_scores)
    if box_deltas.shape[1] == 4:  # one box per RoI, shared by the classes
        box_deltas = box_deltas.repeat(1, c1)
    boxes = decode_boxes(box_deltas, rois[:, 1:], weights).reshape(-1, c1, 4)
    boxes = clip_boxes(boxes, (height, width))
    valid = valid_boxes(rois[:, 1:])
    index = rois[:, 0].to(torch.int64)
    out_b = image.new_zeros((n, detections, 4))
    out_s = image.new_zeros((n, detections))
    out_l = torch.zeros((n, detections), dtype=torch.int64, device=image.device)
    classes = torch.arange(c1, device=image.device).expand(len(rois), c1)
    for b in range(n):
        rows = (index == b) & valid
        bx = boxes[rows][:, 1:].reshape(-1, 4)
        sc = prob[rows][:, 1:].reshape(-1)
        lb = classes[rows][:, 1:].reshape(-1)
        keep = (sc > score_threshold) & (bx[:, 2] - bx[:, 0] >= min_size) & \
            (bx[:, 3] - bx[:, 1] >= min_size)
        bx, sc, lb = bx[keep], sc[keep], lb[keep]
        keep = batched_nms(bx, sc, lb, nms_threshold)[:detections]
        k = len(keep)
        out_b[b, :k] = bx[keep]
        out_s[b, :k] = sc[keep]
        out_l[b, :k] = lb[keep]
    return out_b, out_s, out_l


def decode_rois(deltas: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
    """The boxes R × 4k that deltas R × 4k predict for RoIs R × 5 (the box coder)."""
    return decode_boxes(deltas, rois[:, 1:], WEIGHTS)


def box_loss(deltas: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
             beta: float = 1.0 / 9) -> torch.Tensor:
    """Fast R-CNN's box loss: smooth L1 between the deltas predicted for each object RoI's
    own class and its targets, summed, over the number of RoIs drawn (torchvision's
    fastrcnn_loss). Background RoIs add nothing, and ignored ones (−1) are not counted.
    The RPN's box loss is the same over its anchors: deltas N × A × 4, labels N × A
    (torchvision's RPN compute_loss)."""
    labels = labels.reshape(-1)
    deltas = deltas.reshape(len(labels), -1)
    targets = targets.reshape(-1, 4)
    pos = torch.where(labels > 0)[0]
    if deltas.shape[1] != 4:
        deltas = deltas.reshape(len(deltas), -1, 4)[pos, labels[pos]]
    else:
        deltas = deltas[pos]
    loss = F.smooth_l1_loss(deltas, targets[pos], beta=beta, reduction="sum")
    return loss / max(int((labels >= 0).sum()), 1)


def svm_loss(margins: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """R-CNN's per-class linear SVMs, one against the rest: for each RoI i and object class
    c ≥ 1, max(0, 1 − tᵢc · sᵢc) with tᵢc = +1 where the RoI is of class c, −1 otherwise
    (background RoIs are negatives for every class); the mean over RoIs of the sum over
    classes. Column 0 (background) has no SVM; ignored RoIs (label −1) add nothing."""
    keep = labels >= 0
    s, y = margins[keep][:, 1:], labels[keep]
    t = torch.where(y[:, None] == torch.arange(1, margins.shape[1], device=y.device), 1.0, -1.0)
    return F.relu(1 - t * s).sum(1).mean() if len(y) else margins.sum() * 0
