"""What the GPU checks share: the device parameter (cuda marked `gpu`, its CPU twin unmarked),
a template's project made small enough for a 20-step run, and the detail file that
tools/gpu_check.sh folds into its gpu_check.json."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from graph.project import load

ROOT = Path(__file__).resolve().parents[2]
HAS_CUDA = torch.cuda.is_available()
CUDA = [pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")]
# The detectors: their models sync by design (NMS keeps a data-dependent number of boxes, the
# RoI sampler draws from torch.where's indices), so only the loop's own syncs are held to
# the rule for them; their CPU twins take 20-60 s each.
DETECTORS = {"rcnn", "fast_rcnn", "faster_rcnn", "mask_rcnn"}


def devices(cpu_marks=()):
    """The device parameter of a check: 'cuda' (marked gpu, skipped without CUDA) and its
    CPU twin 'cpu' (with `cpu_marks`, e.g. slow)."""
    return [pytest.param("cuda", marks=CUDA, id="cuda"),
            pytest.param("cpu", marks=list(cpu_marks), id="cpu-twin")]


def small_project(path: Path, steps: int = 20):
    """The template's project with its generated data cut to what `steps` steps need (at
    least one epoch of them, so that log steps and epoch ends stay apart); files as shipped
    otherwise."""
    p = load(path)
    opts = dict(p.data.options)
    if "n_samples" in opts:
        need = math.ceil((steps + 1) * p.training.batch_size / max(1 - p.training.val_split,
                                                                    0.05))
        opts["n_samples"] = min(int(opts["n_samples"]), max(need, 64))
        p.data.options = opts
    return p


def needs_selective_search(project) -> bool:
    """Whether the project's data asks for selective-search proposals (OpenCV contrib)."""
    return int(dict(project.data.options).get("proposals", 0) or 0) > 0


def has_selective_search() -> bool:
    try:
        import cv2
        return hasattr(cv2, "ximgproc")
    except ImportError:
        return False


def record_detail(kind: str, **fields) -> None:
    """One JSON line into $GPU_CHECK_DETAIL (tools/gpu_check.sh sets it) on a GPU run; the
    figures land in gpu_check.json. Nothing is written when it is unset."""
    path = os.environ.get("GPU_CHECK_DETAIL")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": kind, **fields}, default=str) + "\n")
