"""Detection metrics by pycocotools' COCOeval, the reference implementation of COCO's mAP:
mAP@0.5, mAP@0.5:0.95 (the mean over IoU thresholds 0.5, 0.55, …, 0.95) and each class's
AP@0.5, over up to 100 detections per image, all object sizes."""
from __future__ import annotations

import contextlib
import io

import numpy as np


def _xywh(b) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in b)
    return [x1, y1, x2 - x1, y2 - y1]


def coco_map(gt_boxes, gt_labels, det_boxes, det_scores, det_labels,
             classes: list[str] | None = None) -> dict[str, float]:
    """mAPs of detections against ground truth, per image arrays: gt_boxes[i] K × 4 and
    gt_labels[i] K (labels ≤ 0 are padding), det_*[i] D × 4, D, D (labels ≤ 0 or scores
    ≤ 0 are padding). Returns {"map50", "map", "ap50.<class>", …}; classes with no object
    in the ground truth are left out (COCO's rule), and mAP is 0 with no detection at all."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    present = set()
    for i, (gb, gl) in enumerate(zip(gt_boxes, gt_labels)):
        images.append({"id": i + 1})
        for b, lab in zip(np.asarray(gb), np.asarray(gl)):
            if lab <= 0:
                continue
            xywh = _xywh(b)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab),
                         "bbox": xywh, "area": xywh[2] * xywh[3], "iscrowd": 0})
            present.add(int(lab))
    for i, (db, ds, dl) in enumerate(zip(det_boxes, det_scores, det_labels)):
        for b, s, lab in zip(np.asarray(db), np.asarray(ds), np.asarray(dl)):
            if lab > 0 and s > 0:
                dets.append({"image_id": i + 1, "category_id": int(lab), "bbox": _xywh(b),
                             "score": float(s)})
    n_cls = max([len(classes) - 1 if classes else 0, *present, *(d["category_id"]
                                                                  for d in dets)], default=0)
    names = {c: (classes[c] if classes and c < len(classes) else str(c))
             for c in range(1, n_cls + 1)}
    out = {"map50": 0.0, "map": 0.0}
    out.update({f"ap50.{names[c]}": 0.0 for c in sorted(present)})
    if not anns or not dets:
        return out
    quiet = io.StringIO()  # COCO and COCOeval print their progress
    with contextlib.redirect_stdout(quiet):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": c, "name": names[c]} for c in names]}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
    p = ev.eval["precision"]  # T (IoU) × R (recall) × K (class) × A (area) × M (max dets)
    p = p[:, :, :, 0, -1]  # all areas, 100 detections

    def mean(a):
        a = a[a > -1]
        return float(a.mean()) if a.size else 0.0

    out["map"] = mean(p)
    out["map50"] = mean(p[0])
    for k, c in enumerate(ev.params.catIds):
        if c in present:
            out[f"ap50.{names[c]}"] = mean(p[0, :, k])
    return out
