"""The detection datasets (issue 13): generated shapes, and the user's own COCO JSON; both
with region proposals by selective search as a step of the pipeline (option `proposals`:
per image, 0 for none). Registers itself in runtime.data.DATASETS (numpy only at import).
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from runtime.data import (DATASETS, DataError, Dataset, DatasetSpec, Option, _int_in,
                          _num_in)

from .shapes import make_shapes_detect

# Set by the trainer while a dataset loads: (done, total) of the proposals being searched.
_progress = threading.local()


def report_progress(callback: Callable[[int, int], None] | None) -> None:
    """Where this thread's next proposal search reports its progress (None: nowhere)."""
    _progress.callback = callback


def add_proposals(ds: Dataset, count: int, mode: str, scale: float, cache_dir=None) -> Dataset:
    """Field `proposals` (N × count × 4): each image's first `count` selective-search
    boxes, computed once and cached (runtime/detection/proposals.py)."""
    if count == 0:
        return ds
    from .proposals import ProposalError, proposals_for
    images = ds.fields["image"].numpy()
    try:
        boxes, cached = proposals_for(images, count, mode, scale, cache_dir,
                                      getattr(_progress, "callback", None))
    except ProposalError as e:
        raise DataError(f"data.options.proposals: {e}") from None
    import torch
    ds.fields["proposals"] = torch.from_numpy(boxes)
    ds.description += f"; {count} selective-search proposals per image ({mode})"
    return ds


def _shapes(seed: int, n_samples: int = 1200, size: int = 64, max_objects: int = 4,
            min_size: int = 12, max_size: int = 32, noise: float = 0.03,
            proposals: int = 100, proposal_mode: str = "fast",
            proposal_scale: float = 2.0) -> Dataset:
    ds = make_shapes_detect(seed, n_samples, size, max_objects, min_size, max_size, noise)
    return add_proposals(ds, proposals, proposal_mode, proposal_scale)


_shapes.__doc__ = make_shapes_detect.__doc__ + (
    " With proposals > 0, field proposals holds each image's first region proposals by "
    "selective search (computed once, then read from the cache).")

_PROPOSALS = {
    "proposals": Option(100, "Region proposals per image by selective search (0: none); "
                             "computed once and cached.", _int_in(0, 5000), "0 to 5,000"),
    "proposal_mode": Option("fast", "Selective search's strategy: 'fast' (the paper's fast "
                                    "mode), 'quality' (more, slower), 'single'.",
                            lambda v: v in ("fast", "quality", "single"),
                            "'fast', 'quality' or 'single'"),
    "proposal_scale": Option(2.0, "Enlarge images by this factor before the search (small "
                                  "images give few regions).", _num_in(0.25, 8), "0.25 to 8"),
}

DATASETS["shapes_detect"] = DatasetSpec(
    "shapes_detect", "Shapes with boxes (detection)", _shapes.__doc__, _shapes,
    {"n_samples": Option(1200, "Number of images.", _int_in(4, 1_000_000),
                         "a whole number 4 to 1,000,000"),
     "size": Option(64, "Image side in pixels.", _int_in(32, 256), "32 to 256"),
     "max_objects": Option(4, "Most objects per image (each image has 1 to this many).",
                           _int_in(1, 20), "1 to 20"),
     "min_size": Option(12, "Smallest object side in pixels.", _int_in(4, 256), "4 to 256"),
     "max_size": Option(32, "Largest object side in pixels.", _int_in(4, 256), "4 to 256"),
     "noise": Option(0.03, "Background noise.", _num_in(0, 1), "0 to 1"),
     **_PROPOSALS},
    {"image": "3 × size × size image", "boxes": "max_objects × 4 boxes (x1, y1, x2, y2)",
     "labels": "max_objects classes (1 circle, 2 square, 3 triangle; -1 none)",
     "masks": "max_objects × size × size instance masks",
     "proposals": "proposals × 4 boxes (selective search)"})
