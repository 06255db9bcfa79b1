"""A detector's epoch metrics: its inference model run on held-out images, its detections
scored against the true boxes by COCO's mAP (runtime/detection/evaluate.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from runtime.compile import Compiled

from .evaluate import coco_map

_DET = ("det_boxes", "det_scores", "det_labels")


def detectors(c: Compiled) -> list[tuple[str, list[int], tuple[str, str]]]:
    """Each detections node whose boxes, scores and labels the model returns: (node, the
    model's output indices of the three, (the Targets of the true boxes, and labels))."""
    g = c.graph
    out = []
    for n in c.analysis.order:
        spec = g.spec(n)
        ports = {p.role: p.name for p in spec.outputs if p.role in _DET}
        if len(ports) != 3:
            continue
        idx = []
        for role in _DET:
            o = next((e.dst for e in g.out_edges(n)
                      if e.src_port == ports[role] and e.dst in c.outputs), None)
            idx.append(c.outputs.index(o) if o is not None else -1)
        truth = _truth(c, n)
        if -1 not in idx and truth is not None:
            out.append((n, idx, truth))
    return out


def _truth(c: Compiled, n: str) -> tuple[str, str] | None:
    """The Targets feeding the ground-truth ports of the matching node before `n`."""
    g = c.graph
    seen, stack = {n}, [n]
    while stack:
        m = stack.pop()
        spec = g.spec(m)
        roles = {p.role: p.name for p in spec.inputs if p.role in ("gt_boxes", "gt_labels")}
        if len(roles) == 2:
            srcs = [g.in_edges(m, roles[r]) for r in ("gt_boxes", "gt_labels")]
            if all(srcs) and all(g.spec(s[0].src).role == "target" for s in srcs):
                return srcs[0][0].src, srcs[1][0].src
        for e in g.in_edges(m):
            if e.src not in seen:
                seen.add(e.src)
                stack.append(e.src)
    return None


def mask_output(c: Compiled) -> tuple[int, str] | None:
    """The model's output index of the instance masks (a "det_masks" port wired to an
    Output) and the Target of the objects' true masks (a "gt_masks" port's source)."""
    g = c.graph
    out = gt = None
    for n in c.analysis.order:
        spec = g.spec(n)
        for p in spec.outputs:
            if p.role == "det_masks":
                o = next((e.dst for e in g.out_edges(n, p.name) if e.dst in c.outputs), None)
                if o is not None:
                    out = c.outputs.index(o)
        for p in spec.inputs:
            if p.role == "gt_masks":
                src = next((e.src for e in g.in_edges(n, p.name)), None)
                if src is not None and g.spec(src).role == "target":
                    gt = src
    return (out, gt) if out is not None and gt is not None else None


@dataclass
class Predicted:
    """One detections node's answers over a split, image by image (padded arrays: labels ≤ 0
    or scores ≤ 0 are padding) and the truth beside them, as numpy arrays for coco_map."""
    node: str
    gt_boxes: np.ndarray  # N × K × 4
    gt_labels: np.ndarray  # N × K
    boxes: np.ndarray  # N × D × 4
    scores: np.ndarray  # N × D
    labels: np.ndarray  # N × D
    gt_masks: np.ndarray | None = None  # N × K × H × W (a detector with instance masks)
    masks: np.ndarray | None = None  # N × D × H × W, binary

    def coco(self) -> tuple:
        """coco_map's / coco_eval's positional and mask arguments."""
        extra = {} if self.masks is None else {"gt_masks": self.gt_masks,
                                                "det_masks": self.masks}
        return (self.gt_boxes, self.gt_labels, self.boxes, self.scores, self.labels), extra


def predict_detections(c: Compiled, tensors: list, names: list[str], batch_size: int,
                       autocast=None) -> list[Predicted]:
    """Each detector's (detectors(c)) detections of the inference model, in evaluation mode,
    on `tensors` (named by `names`), `batch_size` images at a time; the instance masks too
    when the model has one detector and a mask output."""
    found = detectors(c)
    if not found:
        return []
    model = c.model
    was_training = model.training
    model.eval()
    n = tensors[0].shape[0]
    masked = mask_output(c) if len(found) == 1 else None
    res = []
    try:
        for node, idx, (tb, tl) in found:
            boxes, scores, labels, masks = [], [], [], []
            with torch.no_grad():
                for i in range(0, n, batch_size):
                    args = [tensors[names.index(k)][i:i + batch_size] for k in c.inputs]
                    if autocast is not None:
                        with autocast():
                            got = model(*args)
                    else:
                        got = model(*args)
                    boxes.append(got[idx[0]].float().cpu())
                    scores.append(got[idx[1]].float().cpu())
                    labels.append(got[idx[2]].cpu())
                    if masked is not None:
                        masks.append((got[masked[0]] >= 0.5).cpu().to(torch.uint8))
            p = Predicted(node, tensors[names.index(tb)].cpu().numpy(),
                          tensors[names.index(tl)].cpu().numpy(), torch.cat(boxes).numpy(),
                          torch.cat(scores).numpy(), torch.cat(labels).numpy())
            if masked is not None:
                p.gt_masks = tensors[names.index(masked[1])].cpu().numpy()
                p.masks = torch.cat(masks).numpy()
            res.append(p)
    finally:
        model.train(was_training)
    return res


def detection_metrics(c: Compiled, tensors: list, names: list[str], batch_size: int,
                      classes: list[str] | None, autocast=None) -> dict[str, float]:
    """{'map50', 'map', 'ap50.<class>', …} (and 'mask_map50', 'mask_map', 'mask_iou' for
    a detector with instance masks) of each detector (prefixed by its node's id when
    there are several) on `tensors` (named by `names`)."""
    found = predict_detections(c, tensors, names, batch_size, autocast)
    res: dict[str, float] = {}
    for p in found:
        args, extra = p.coco()
        m = coco_map(*args, classes, **extra)
        prefix = "" if len(found) == 1 else f"{p.node}."
        res.update({f"{prefix}{k}": v for k, v in m.items()})
    return res
