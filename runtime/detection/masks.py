"""Mask R-CNN's mask branch (issue 14): the RoIs it reads, its loss and the pasting of its
masks into the image. torchvision/models/detection/roi_heads.py (maskrcnn_loss,
project_masks_on_boxes, paste_masks_in_image) is the reference.

The branch runs on different RoIs in the two phases: in training on the sampled RoIs that
matched an object (their class and object are known), at inference on the detections (their
predicted class). A mask head predicts one S × S mask per class for each; only the channel
of the RoI's class is read.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .boxes import roi_align


def mask_rois(sampled: torch.Tensor | None = None, sampled_labels: torch.Tensor | None = None,
              sampled_matched: torch.Tensor | None = None,
              det_boxes: torch.Tensor | None = None, det_labels: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mask branch's RoIs M × 5, their classes M and matched objects M. Training (the
    RoIs R × 5 that 'Match & sample RoIs' drew, their labels and matches): the RoIs of
    objects only, background left out. Inference (the detections' boxes N × D × 4 and
    classes N × D): every detection, image by image (M = N · D, padding rows included:
    their masks are blank), matched −1."""
    if det_boxes is not None and det_labels is not None:
        n, d = det_boxes.shape[0], det_boxes.shape[1]
        index = torch.arange(n, device=det_boxes.device, dtype=det_boxes.dtype)
        index = index[:, None, None].expand(n, d, 1)
        out = torch.cat((index, det_boxes), 2).reshape(n * d, 5)
        lab = det_labels.reshape(n * d)
        return out, lab, torch.full_like(lab, -1)
    if sampled is None or sampled_labels is None or sampled_matched is None:
        raise ValueError("mask_rois needs the sampled RoIs, labels and matches (training) or "
                         "the detections' boxes and classes (inference)")
    pos = sampled_labels > 0
    return sampled[pos], sampled_labels[pos], sampled_matched[pos]


def mask_targets(gt_masks: torch.Tensor, rois: torch.Tensor, matched: torch.Tensor,
                 size: int) -> torch.Tensor:
    """Each RoI's training target M × size × size: the mask of the object it matched
    (`gt_masks` N × K × H × W, object b·K + j) cut out along the RoI's box and resized by
    RoIAlign (torchvision's project_masks_on_boxes: scale 1, adaptive sampling)."""
    masks = gt_masks.reshape(-1, *gt_masks.shape[2:])[matched].to(rois.dtype)
    index = torch.arange(len(rois), device=rois.device, dtype=rois.dtype)[:, None]
    return roi_align(masks[:, None], torch.cat((index, rois[:, 1:]), 1), size, 1.0,
                     sampling_ratio=-1)[:, 0]


def mask_loss(mask_logits: torch.Tensor, labels: torch.Tensor, rois: torch.Tensor,
              matched: torch.Tensor, gt_masks: torch.Tensor) -> torch.Tensor:
    """L_mask: the mean per-pixel binary cross-entropy between the logits of each object
    RoI's own class channel (mask_logits M × C × S × S) and its mask target; the other
    classes' channels get no gradient (Mask R-CNN's decoupling of masks and classes)."""
    if len(labels) == 0:
        return mask_logits.sum() * 0
    target = mask_targets(gt_masks, rois, matched, mask_logits.shape[-1])
    logits = mask_logits[torch.arange(len(labels), device=labels.device), labels]
    return F.binary_cross_entropy_with_logits(logits, target)


def paste_masks(mask_logits: torch.Tensor, labels: torch.Tensor, rois: torch.Tensor,
                image: torch.Tensor) -> torch.Tensor:
    """Inference: each detection's mask probabilities (the sigmoid of its class's channel)
    resized onto its box in the image, zero outside: N × D × H × W (D = M / N; rows for
    padding boxes are blank). Bilinear, as torchvision's paste_masks_in_image; threshold at
    0.5 for a binary mask."""
    n, _, height, width = image.shape
    m = mask_logits.shape[0]
    prob = torch.sigmoid(mask_logits[torch.arange(m, device=labels.device), labels])
    x1, y1, x2, y2 = rois[:, 1], rois[:, 2], rois[:, 3], rois[:, 4]
    w, h = (x2 - x1).clamp(min=1e-3), (y2 - y1).clamp(min=1e-3)
    xs = torch.arange(width, device=image.device, dtype=prob.dtype) + 0.5
    ys = torch.arange(height, device=image.device, dtype=prob.dtype) + 0.5
    gx = (2 * (xs[None] - x1[:, None]) / w[:, None] - 1).clamp(-2, 2)  # M × W
    gy = (2 * (ys[None] - y1[:, None]) / h[:, None] - 1).clamp(-2, 2)  # M × H
    grid = torch.stack((gx[:, None, :].expand(m, height, width),
                        gy[:, :, None].expand(m, height, width)), -1)
    out = F.grid_sample(prob[:, None], grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)[:, 0]
    valid = ((x2 - x1 > 0) & (y2 - y1 > 0)).to(out.dtype)
    return (out * valid[:, None, None]).reshape(n, -1, height, width)
