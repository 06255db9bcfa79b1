"""Trying a detector (ARCHITECTURE.md, "A Try-panel mode"): a validation image, the model's
detections in it, its true objects, its region proposals and, for a detector that lays
anchors, the anchors of each feature-map cell. The app draws them (app/detection_view.py)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from graph.spec import ParamRole, PortRole

from .base import TryError


@dataclass
class Detections:
    index: int
    image: torch.Tensor | None  # C × H × W
    boxes: torch.Tensor  # D × 4, best first
    scores: torch.Tensor
    labels: torch.Tensor
    true_boxes: torch.Tensor  # K × 4, the image's objects
    true_labels: torch.Tensor
    proposals: torch.Tensor  # P × 4, what the detector scored
    classes: list[str]
    masks: torch.Tensor | None = None  # D × H × W: each detection's mask probabilities
    true_masks: torch.Tensor | None = None  # K × H × W: the objects' masks
    anchors: "AnchorGrid | None" = None  # a Faster R-CNN's anchors (its AnchorGenerator)

    def name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else str(label)


@dataclass
class AnchorGrid:
    """The anchors an AnchorGenerator node lays over one image (issue 14), cell by cell:
    `boxes` is rows × cols × k × 4, the cell (i, j) centred on (j · stride_w, i · stride_h)."""
    node: str
    boxes: torch.Tensor
    stride: tuple[int, int]  # (rows, columns) in image pixels
    fg_iou: float = 0.7  # the RPN's matching settings (its MatchAnchors node's, if any)
    bg_iou: float = 0.3
    low_quality: bool = True

    @property
    def shape(self) -> tuple[int, int, int]:
        r, c, k, _ = self.boxes.shape
        return r, c, k

    def cell_at(self, x: float, y: float) -> tuple[int, int]:
        """The cell whose centre is nearest to image point (x, y)."""
        rows, cols, _ = self.shape
        i = min(max(round(y / self.stride[0]), 0), rows - 1)
        j = min(max(round(x / self.stride[1]), 0), cols - 1)
        return i, j

    def centre(self, i: int, j: int) -> tuple[float, float]:
        return float(j * self.stride[1]), float(i * self.stride[0])

    def cell(self, i: int, j: int) -> torch.Tensor:
        """The k anchors of cell (i, j), k × 4 (x1, y1, x2, y2)."""
        return self.boxes[i, j]

    def labels(self, i: int, j: int, true_boxes: torch.Tensor) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
        """Each anchor of the cell: its best IoU with a true box, and the label the RPN's
        matching gives it over the whole grid (runtime.detection.rpn.label_anchors, before
        the balanced draw): 1 object, 0 background, -1 ignored."""
        from ..detection.rpn import label_anchors
        rows, cols, k = self.shape
        lab, best, _ = label_anchors(self.boxes.reshape(-1, 4), true_boxes.float(),
                                     self.fg_iou, self.bg_iou, self.low_quality)
        at = (i * cols + j) * k
        return best[at:at + k], lab[at:at + k]


def _anchor_layer(g, node: str) -> bool:
    """Whether the node lays anchors: it gives anchors, from sizes and ratios it holds."""
    spec = g.spec(node)
    return (spec.out_role_or_none(PortRole.ANCHORS) is not None
            and spec.param_role(ParamRole.ANCHOR_SIZES) is not None)


def anchor_grid(compiled, image: torch.Tensor) -> AnchorGrid | None:
    """The anchors of the model's first anchor layer over `image` (C × H × W), computed as
    the node computes them (runtime.detection.rpn.grid_anchors), from its parameters and the
    size of the feature map it reads; None for a model without one."""
    from ..detection.rpn import grid_anchors
    g, a = compiled.graph, compiled.analysis
    node = next((n for n in a.order if _anchor_layer(g, n)), None)
    if node is None:
        return None
    spec = g.spec(node)
    e = g.in_edges(node, spec.in_role(PortRole.FEATURE_MAP))
    t = a.edge_type(e[0]) if e else None
    if t is None or len(t.shape) != 4 or not all(isinstance(d, int) for d in t.shape[-2:]):
        return None
    rows, cols = t.shape[-2:]
    p = g.params(node)
    boxes = grid_anchors(torch.zeros(1, 1, rows, cols), image[None],
                         [float(s) for s in spec.role_value(p, ParamRole.ANCHOR_SIZES)],
                         [float(r) for r in spec.role_value(p, ParamRole.ANCHOR_RATIOS)])
    grid = AnchorGrid(node, boxes.reshape(rows, cols, -1, 4),
                      (image.shape[-2] // rows, image.shape[-1] // cols))
    # The RPN's matching: the node that reads the anchors and holds an object IoU
    match = next((m for m in a.order if g.spec(m).in_role_or_none(PortRole.ANCHORS)
                  and g.spec(m).param_role(ParamRole.OBJECT_IOU)), None)
    if match is not None:
        ms, mp = g.spec(match), g.params(match)
        grid.fg_iou = float(ms.role_value(mp, ParamRole.OBJECT_IOU))
        grid.bg_iou = float(ms.role_value(mp, ParamRole.BACKGROUND_IOU))
        grid.low_quality = bool(ms.role_value(mp, ParamRole.KEEP_BEST_MATCH))
    return grid


def _detections_title() -> str:
    """The catalogue's name for the node that gives a detector's boxes."""
    from graph import catalogue
    return next((s.title for s in catalogue.SPECS.values()
                 if s.out_role_or_none(PortRole.DET_BOXES)), "detections")


class DetectionMode:
    """Tryout's detector methods (a mixin: `self` is the Tryout)."""

    @property
    def detector(self) -> bool:
        """Whether the model returns a detector's boxes, scores and labels (issue 13)."""
        from ..detection.metrics import detectors
        return self.dataset is not None and bool(detectors(self.compiled))

    @property
    def anchored(self) -> bool:
        """Whether the detector lays anchors (an anchor layer: Faster, Mask R-CNN)."""
        g = self.compiled.graph
        return self.detector and any(_anchor_layer(g, n) for n in g.nodes())

    @torch.no_grad()
    def detections(self, i: int) -> Detections:
        """Validation image i, the model's detections in it (padding dropped, best first),
        its true objects and its region proposals."""
        from ..detection.boxes import valid_boxes
        from ..detection.metrics import mask_output, detectors
        c = self.compiled
        found = detectors(c)
        if not found:
            raise TryError(f"this model returns no detections (boxes, scores and labels from "
                           f"a {_detections_title()} node, each wired to an Output)")
        if not 0 <= i < len(self):
            raise TryError(f"sample {i} is not among the {len(self):,} validation samples")
        _node, idx, (tb, tl) = found[0]
        ins = [self.val[n][i:i + 1] for n in c.inputs]
        # The proposals: an input (R-CNN, Fast R-CNN) or what an RPN proposed (Faster R-CNN)
        props = next((v[0] for n, v in zip(c.inputs, ins)
                      if c.graph.feeds(n, PortRole.PROPOSALS)), None)
        proposed = []
        # The nodes that propose (an RPN's, inside a block too: c.module finds it nested)
        rpn = [c.module(n) for n in c.analysis.order
               if c.graph.spec(n).out_role_or_none(PortRole.PROPOSALS)]
        rpn = [m for m in rpn if m is not None]
        hooks = [m.register_forward_hook(lambda _m, _i, o: proposed.append(o)) for m in rpn]
        try:
            out = c.model(*ins)
        finally:
            for h in hooks:
                h.remove()
        if props is None:
            props = proposed[0][0] if proposed else torch.zeros(0, 4)
        boxes, scores, labels = out[idx[0]][0], out[idx[1]][0], out[idx[2]][0]
        keep = (scores > 0) & (labels > 0)
        image = next((v[0] for n, v in zip(c.inputs, ins) if c.graph.feeds(n, PortRole.IMAGE)),
                     None)
        gl = self.val[tl][i]
        masks = true_masks = None
        masked = mask_output(c)
        if masked is not None:
            masks = out[masked[0]][0][keep]
            true_masks = self.val[masked[1]][i][gl > 0] if masked[1] in self.val else None
        return Detections(i, image, boxes[keep], scores[keep], labels[keep],
                          self.val[tb][i][gl > 0], gl[gl > 0], props[valid_boxes(props)],
                          list(self.classes or []), masks, true_masks,
                          anchor_grid(c, image) if image is not None else None)
