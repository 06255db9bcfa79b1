"""Detection metrics by pycocotools' COCOeval, the reference implementation of COCO's mAP:
mAP@0.5, mAP@0.5:0.95 (the mean over IoU thresholds 0.5, 0.55, …, 0.95) and each class's
AP@0.5, over up to 100 detections per image, all object sizes; for instance masks the same
over masks (COCO's "segm") and the mask IoU."""
from __future__ import annotations

import contextlib
import io

import numpy as np


def _xywh(b) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in b)
    return [x1, y1, x2 - x1, y2 - y1]


def _rle(mask) -> dict:
    from pycocotools import mask as mask_utils
    return mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))


def coco_map(gt_boxes, gt_labels, det_boxes, det_scores, det_labels,
             classes: list[str] | None = None, gt_masks=None,
             det_masks=None) -> dict[str, float]:
    """mAPs of detections against ground truth, per image arrays: gt_boxes[i] K × 4 and
    gt_labels[i] K (labels ≤ 0 are padding), det_*[i] D × 4, D, D (labels ≤ 0 or scores
    ≤ 0 are padding). Returns {"map50", "map", "ap50.<class>", …}; classes with no object
    in the ground truth are left out (COCO's rule), and mAP is 0 with no detection at all.
    With the objects' masks gt_masks[i] K × H × W and the detections' det_masks[i] D × H ×
    W (binary, or probabilities cut at 0.5), also the mask mAPs (COCO's "segm":
    "mask_map50", "mask_map") and "mask_iou" (mask_iou's rule)."""
    return coco_eval(gt_boxes, gt_labels, det_boxes, det_scores, det_labels, classes,
                     gt_masks, det_masks)[0]


def coco_eval(gt_boxes, gt_labels, det_boxes, det_scores, det_labels,
              classes: list[str] | None = None, gt_masks=None, det_masks=None):
    """coco_map's figures, and the box COCOeval they come from (evaluated and accumulated;
    None with no object or no detection) and the class names by category id: image i of
    the arrays is COCO image i + 1 (runtime/evaluate/detect.py reads its evalImgs)."""
    images, anns, dets, segs = [], [], [], []
    present = set()
    for i, (gb, gl) in enumerate(zip(gt_boxes, gt_labels)):
        image = {"id": i + 1}
        if gt_masks is not None:
            image["height"], image["width"] = np.asarray(gt_masks[i]).shape[-2:]
        images.append(image)
        for k, (b, lab) in enumerate(zip(np.asarray(gb), np.asarray(gl))):
            if lab <= 0:
                continue
            xywh = _xywh(b)
            ann = {"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab),
                   "bbox": xywh, "area": xywh[2] * xywh[3], "iscrowd": 0}
            if gt_masks is not None:
                ann["segmentation"] = _rle(gt_masks[i][k] >= 0.5)
            anns.append(ann)
            present.add(int(lab))
    for i, (db, ds, dl) in enumerate(zip(det_boxes, det_scores, det_labels)):
        for k, (b, s, lab) in enumerate(zip(np.asarray(db), np.asarray(ds), np.asarray(dl))):
            if lab > 0 and s > 0:
                dets.append({"image_id": i + 1, "category_id": int(lab), "bbox": _xywh(b),
                             "score": float(s)})
                if det_masks is not None:
                    segs.append({"image_id": i + 1, "category_id": int(lab), "score": float(s),
                                 "segmentation": _rle(det_masks[i][k] >= 0.5)})
    n_cls = max([len(classes) - 1 if classes else 0, *present, *(d["category_id"]
                                                                  for d in dets)], default=0)
    names = {c: (classes[c] if classes and c < len(classes) else str(c))
             for c in range(1, n_cls + 1)}
    out = {"map50": 0.0, "map": 0.0}
    out.update({f"ap50.{names[c]}": 0.0 for c in sorted(present)})
    if gt_masks is not None:
        out.update({"mask_map50": 0.0, "mask_map": 0.0,
                    "mask_iou": mask_iou(gt_labels, gt_masks, det_boxes, det_scores,
                                         det_labels, det_masks, gt_boxes)})
    if not anns or not dets:
        return out, None, names
    cats = [{"id": c, "name": names[c]} for c in names]
    ev = _cocoeval(images, anns, dets, cats, "bbox")
    p, ids = _precision(ev)
    out["map"] = _mean(p)
    out["map50"] = _mean(p[0])
    for k, c in enumerate(ids):
        if c in present:
            out[f"ap50.{names[c]}"] = _mean(p[0, :, k])
    if gt_masks is not None and segs:
        p, _ = _precision(_cocoeval(images, anns, segs, cats, "segm"))
        out["mask_map"], out["mask_map50"] = _mean(p), _mean(p[0])
    return out, ev, names


def _mean(a) -> float:
    a = a[a > -1]
    return float(a.mean()) if a.size else 0.0


def _cocoeval(images, anns, dets, cats, iou_type: str):
    """COCOeval over the given images, objects and detections, evaluated and accumulated."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    quiet = io.StringIO()  # COCO and COCOeval print their progress
    with contextlib.redirect_stdout(quiet):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": cats}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
    return ev


def _precision(ev):
    """COCOeval's precisions, T (IoU) × R (recall) × K (class), all areas, 100 detections
    per image; and the class ids along K."""
    # T (IoU) × R (recall) × K (class) × A (area) × M (max dets)
    return ev.eval["precision"][:, :, :, 0, -1], ev.params.catIds


def mask_iou(gt_labels, gt_masks, det_boxes, det_scores, det_labels, det_masks,
             gt_boxes) -> float:
    """The mean, over the true objects, of the IoU between the object's mask and that of the
    best-scoring detection of its class whose box overlaps the object's by IoU ≥ 0.5 (its
    mask cut at 0.5); 0 for an object no detection finds."""
    ious = []
    for i in range(len(gt_labels)):
        gl = np.asarray(gt_labels[i])
        ds, dl = np.asarray(det_scores[i]), np.asarray(det_labels[i])
        order = np.argsort(-ds, kind="stable")
        for k in np.flatnonzero(gl > 0):
            gm = np.asarray(gt_masks[i][k]) >= 0.5
            got = 0.0
            for d in order:
                if ds[d] <= 0 or dl[d] != gl[k] or _box_iou(det_boxes[i][d], gt_boxes[i][k]) < 0.5:
                    continue
                dm = np.asarray(det_masks[i][d]) >= 0.5
                union = np.logical_or(gm, dm).sum()
                got = float(np.logical_and(gm, dm).sum() / union) if union else 0.0
                break
            ious.append(got)
    return float(np.mean(ious)) if ious else 0.0


def _box_iou(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
