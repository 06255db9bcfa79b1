"""A detector's mAP over a streamed split, batch by batch (issue 27): the images of the split
are read and forgotten batch after batch; only what COCO's mAP needs is kept (the detections,
the true boxes and labels, and for a detector with instance masks its binary masks and the
true ones, uint8). The figures equal runtime/detection/metrics.detection_metrics's on the
same split held whole: the model sees the same batches (`batch_size` images at a time, in
order) and the same scorer (runtime/detection/evaluate.coco_map) is called once."""
from __future__ import annotations

import torch

from .detection.evaluate import coco_map
from .detection.metrics import detectors, mask_output


def detection_metrics_batched(c, split, names: list[str], batch_size: int,
                              classes: list[str] | None, autocast=None) -> dict[str, float]:
    """detection_metrics for a split read batch by batch (runtime/loader.SplitBatches)."""
    found = detectors(c)
    if not found:
        return {}
    masked = mask_output(c) if len(found) == 1 else None
    keys = ["boxes", "scores", "labels", "gt_boxes", "gt_labels"] + \
        (["masks", "gt_masks"] if masked is not None else [])
    kept = {node: {k: [] for k in keys} for node, _, _ in found}
    model = c.model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in split.batches(batch_size):
                args = [batch[names.index(k)] for k in c.inputs]
                if autocast is not None:
                    with autocast():
                        got = model(*args)
                else:
                    got = model(*args)
                for node, idx, (tb, tl) in found:
                    k = kept[node]
                    k["boxes"].append(got[idx[0]].float().cpu())
                    k["scores"].append(got[idx[1]].float().cpu())
                    k["labels"].append(got[idx[2]].cpu())
                    k["gt_boxes"].append(batch[names.index(tb)].cpu())
                    k["gt_labels"].append(batch[names.index(tl)].cpu())
                    if masked is not None:
                        k["masks"].append((got[masked[0]] >= 0.5).cpu().to(torch.uint8))
                        k["gt_masks"].append(batch[names.index(masked[1])].cpu())
    finally:
        model.train(was_training)
    res: dict[str, float] = {}
    for node, _, _ in found:
        a = {k: torch.cat(v).numpy() for k, v in kept[node].items()}
        extra = {"gt_masks": a["gt_masks"], "det_masks": a["masks"]} if masked is not None \
            else {}
        m = coco_map(a["gt_boxes"], a["gt_labels"], a["boxes"], a["scores"], a["labels"],
                     classes, **extra)
        prefix = "" if len(found) == 1 else f"{node}."
        res.update({f"{prefix}{k}": v for k, v in m.items()})
    return res
