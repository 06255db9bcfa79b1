"""A detector judged on its held-out split (issue 28, item 1, "detection"). Every number comes
from pycocotools' COCOeval, the same run the epoch metrics make (runtime/detection/metrics.py
predict_detections, runtime/detection/evaluate.py coco_eval), so mAP50, mAP and each class's
AP50 equal the run's val_map50, val_map and val_ap50.<class> on the same predictions:

- each class's precision-recall curve at IoU 0.5: COCOeval's accumulated
  eval['precision'][IoU 0.5, :, class, area all, maxDets 100] over its recall thresholds
  (params.recThrs, 0 to 1 by 0.01; a precision of 0 beyond the highest recall reached);
- the images ordered by their errors, worst first: the objects COCOeval left unmatched at
  IoU 0.5 (missed) and the detections it left unmatched that score at least THRESHOLD
  (false), read from its evalImgs (area all, 100 detections an image: gtMatches and
  dtMatches at IoU 0.5, ignored ones aside). COCO matches within a class: a box on an object
  with the wrong class is both a false detection and a missed object."""
from __future__ import annotations

import numpy as np
import torch

from ..detection.evaluate import coco_eval
from ..detection.metrics import detectors, predict_detections
from .source import BATCH, EvaluateError

THRESHOLD = 0.5  # the score from which an unmatched detection counts as a false one


def _tensors(src) -> list[torch.Tensor]:
    if src.tensors is not None:
        return src.tensors
    parts = list(src.batches())  # streamed data: the split read whole, as training reads it
    if not parts:
        raise EvaluateError(f"the {src.split} split holds no images")
    return [torch.cat([b[k] for b in parts]) for k in range(len(parts[0]))]


def detection(src, threshold: float = THRESHOLD) -> dict:
    """The figures of the first detector of `src` (an open runtime.evaluate.source.Source)."""
    c = src.compiled
    found = detectors(c)
    if not found:
        raise EvaluateError("the model returns no detections (boxes, scores and labels each "
                            "wired to an Output)")
    try:
        p = predict_detections(c, _tensors(src), src.needed, BATCH)[0]
    except (RuntimeError, ValueError) as e:
        raise EvaluateError(f"the detector failed on the {src.split} split: "
                            f"{(str(e).splitlines() or [''])[0]}") from None
    return figures(p, src.classes, src.indices.numpy(), threshold)


def figures(p, classes: list[str] | None, positions: np.ndarray,
            threshold: float = THRESHOLD) -> dict:
    """The JSON-ready figures of predictions `p` (runtime.detection.metrics.Predicted), image
    i of which is the split's sample i, dataset row positions[i]."""
    args, extra = p.coco()
    m, ev, names = coco_eval(*args, classes, **extra)
    out: dict = {"samples": int(len(p.gt_labels)), "detector_node": p.node,
                 "score_threshold": threshold, "iou_threshold": 0.5,
                 "map50": m["map50"], "map": m["map"]}
    for k in ("mask_map50", "mask_map", "mask_iou"):
        if k in m:
            out[k] = m[k]
    out["per_class"] = per_class(m, ev, names)
    out["images"] = images(p, ev, positions, threshold, names)
    out["objects"] = int(sum(i["objects"] for i in out["images"]))
    out["missed"] = int(sum(i["missed"] for i in out["images"]))
    out["false"] = int(sum(i["false"] for i in out["images"]))
    return out


def _iou50(ev) -> int:
    return int(np.flatnonzero(np.isclose(ev.params.iouThrs, 0.5))[0])


def per_class(m: dict, ev, names: dict[int, str]) -> list[dict]:
    """Each class with objects in the split ({class, ap50, precision, recall, max_recall}),
    in class order: AP50 is coco_map's figure, the curve COCOeval's at IoU 0.5."""
    rows = []
    t = _iou50(ev) if ev is not None else 0
    for cid, name in names.items():
        key = f"ap50.{name}"
        if key not in m:  # no object of the class in the split: COCO leaves it out
            continue
        row = {"class": name, "ap50": m[key], "precision": [], "recall": [],
               "max_recall": 0.0}
        if ev is not None and cid in ev.params.catIds:
            k = list(ev.params.catIds).index(cid)
            prec = ev.eval["precision"][t, :, k, 0, -1]
            row["precision"] = [float(v) for v in prec]
            row["recall"] = [float(v) for v in ev.params.recThrs]
            row["max_recall"] = max(float(ev.eval["recall"][t, k, 0, -1]), 0.0)
        rows.append(row)
    return rows


def _box(b) -> list[float]:
    return [round(float(v), 2) for v in b]


def images(p, ev, positions: np.ndarray, threshold: float,
           names: dict[int, str]) -> list[dict]:
    """One row per image, worst first (missed + false, then missed, then the index): index
    among the split's images, dataset row, the missed objects and false detections counted
    and listed ({class, box[, score]}), its objects and its detections scoring ≥ threshold."""
    n = len(p.gt_labels)
    rows = []
    for i in range(n):
        gl = np.asarray(p.gt_labels[i])
        sc, lab = np.asarray(p.scores[i]), np.asarray(p.labels[i])
        rows.append({"index": i, "dataset_index": int(positions[i]), "missed": 0, "false": 0,
                     "objects": int((gl > 0).sum()),
                     "detections": int(((lab > 0) & (sc >= threshold)).sum()),
                     "missed_objects": [], "false_detections": []})
    if ev is not None:
        _errors(ev, rows, threshold, names)
    else:  # no object or no detection at all: every object missed, every detection false
        for i, r in enumerate(rows):
            gl, gb = np.asarray(p.gt_labels[i]), np.asarray(p.gt_boxes[i])
            sc, lab, db = (np.asarray(p.scores[i]), np.asarray(p.labels[i]),
                           np.asarray(p.boxes[i]))
            r["missed_objects"] = [{"class": names.get(int(gl[k]), str(int(gl[k]))),
                                    "box": _box(gb[k])} for k in np.flatnonzero(gl > 0)]
            r["false_detections"] = [
                {"class": names.get(int(lab[k]), str(int(lab[k]))), "score": float(sc[k]),
                 "box": _box(db[k])} for k in np.flatnonzero((lab > 0) & (sc >= threshold))]
    for r in rows:
        r["missed"], r["false"] = len(r["missed_objects"]), len(r["false_detections"])
    rows.sort(key=lambda r: (-(r["missed"] + r["false"]), -r["missed"], r["index"]))
    return rows


def _errors(ev, rows: list[dict], threshold: float, names: dict[int, str]) -> None:
    """Fill each row's missed objects and false detections from COCOeval's evalImgs."""
    t = _iou50(ev)
    everywhere = list(ev.params.areaRng[0])  # area 'all'
    gts, dts = ev.cocoGt.anns, ev.cocoDt.anns
    for e in ev.evalImgs:
        if e is None or list(e["aRng"]) != everywhere or \
                e["maxDet"] != ev.params.maxDets[-1]:
            continue
        r = rows[e["image_id"] - 1]
        cls = names.get(e["category_id"], str(e["category_id"]))
        for g, matched, ignored in zip(e["gtIds"], e["gtMatches"][t], e["gtIgnore"]):
            if not matched and not ignored:
                x, y, w, h = gts[g]["bbox"]
                r["missed_objects"].append({"class": cls, "box": _box([x, y, x + w, y + h])})
        for d, matched, ignored, s in zip(e["dtIds"], e["dtMatches"][t], e["dtIgnore"][t],
                                          e["dtScores"]):
            if not matched and not ignored and s >= threshold:
                x, y, w, h = dts[d]["bbox"]
                r["false_detections"].append({"class": cls, "score": float(s),
                                              "box": _box([x, y, x + w, y + h])})
