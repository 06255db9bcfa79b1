"""Region proposals by selective search (Uijlings et al.), the first stage of R-CNN and Fast
R-CNN: OpenCV's implementation (opencv-contrib-python-headless, cv2.ximgproc.segmentation).

Proposals are a step of the data pipeline: computed once per image set and setting, cached
in an .npz keyed by the images' bytes and the settings, and read back on every later run.
Each image's proposals are a P × 4 block (x1, y1, x2, y2) padded with zero rows.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

MODES = ("fast", "quality", "single")
VERSION = 2  # of what the cache holds: bump when the computation changes


class ProposalError(Exception):
    pass


def _cv2():
    try:
        import cv2
        cv2.ximgproc.segmentation.createSelectiveSearchSegmentation
    except (ImportError, AttributeError):
        raise ProposalError("selective search needs OpenCV's contrib modules: pip install "
                            "opencv-contrib-python-headless (and no other opencv package "
                            "beside it)") from None
    return cv2


def selective_search(image: np.ndarray, mode: str = "fast", scale: float = 1.0,
                     min_size: float = 2.0, seed: int = 0) -> np.ndarray:
    """An image's proposals, K × 4 float32 (x1, y1, x2, y2), ranked.
    `image` is H × W × 3 uint8 (RGB); `scale` enlarges it first (small images give few
    regions); boxes with a side under `min_size` pixels and repeats are dropped. The ranking
    is random (as the paper's), from `seed`: the same image always gives the same list."""
    cv2 = _cv2()
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    if scale != 1:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    ss.setBaseImage(bgr)
    {"fast": ss.switchToSelectiveSearchFast, "quality": ss.switchToSelectiveSearchQuality,
     "single": ss.switchToSingleStrategy}[mode]()
    rects = ss.process()
    if len(rects) == 0:
        return np.zeros((0, 4), np.float32)
    r = np.asarray(rects, np.float32) / scale
    boxes = np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], 1)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    boxes = boxes[keep]
    # OpenCV ranks the regions with unseeded random numbers (the paper's pseudo-random
    # ranking), so its order changes from call to call while the set stays the same: the
    # set, in a canonical order, is ranked again by a random permutation from `seed`.
    boxes = np.unique(np.round(boxes, 2), axis=0)
    return boxes[np.random.default_rng(seed).permutation(len(boxes))]


def _key(images: np.ndarray, mode: str, scale: float, count: int) -> str:
    h = hashlib.sha256()
    h.update(f"v{VERSION} {mode} {scale:g} {count} {images.shape} {images.dtype}".encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()[:20]


def default_cache() -> Path:
    """$LAYERLOOM_CACHE, else $LAYERLOOM_HOME/cache, else the user's cache folder."""
    if os.environ.get("LAYERLOOM_CACHE"):
        return Path(os.environ["LAYERLOOM_CACHE"]) / "proposals"
    base = os.environ.get("LAYERLOOM_HOME")
    if base:
        return Path(base) / "cache" / "proposals"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "layerloom" / \
        "proposals"


def proposals_for(images: np.ndarray, count: int, mode: str = "fast", scale: float = 2.0,
                  cache_dir: str | os.PathLike | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  workers: int | None = None) -> tuple[np.ndarray, bool]:
    """N × count × 4 float32 proposals for N images (N × 3 × H × W floats in [0, 1]), each
    image's first `count` (zero rows where it has fewer); and whether they came from the
    cache. `progress(done, total)` is called as images are searched."""
    if mode not in MODES:
        raise ProposalError(f"proposal mode {mode!r}: one of {', '.join(MODES)}")
    folder = Path(cache_dir) if cache_dir is not None else default_cache()
    u8 = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)
    path = folder / f"selective_search_{_key(u8, mode, scale, count)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                boxes = z["proposals"]
            if boxes.shape == (len(images), count, 4):
                return boxes, True
        except Exception:  # noqa: BLE001: a damaged cache file is computed again
            pass
    _cv2()
    out = np.zeros((len(images), count, 4), np.float32)

    def one(i):
        b = selective_search(u8[i], mode, scale, seed=zlib.crc32(u8[i].tobytes()))[:count]
        out[i, :len(b)] = b

    total = len(images)
    workers = workers or min(4, os.cpu_count() or 1)
    import cv2
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # one image per thread (OpenCV releases the GIL while it searches)
    try:
        with ThreadPoolExecutor(workers) as pool:
            for done, _ in enumerate(pool.map(one, range(total)), 1):
                if progress is not None and (done % 16 == 0 or done == total):
                    progress(done, total)
    finally:
        cv2.setNumThreads(threads)
    try:  # written whole or not at all
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, proposals=out)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache folder costs the next run the search again, nothing else
    return out, False


def recall(proposals: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
           iou: float = 0.5) -> float:
    """The share of objects some proposal overlaps with IoU >= iou (the ceiling of a
    detector that only rescores and refines proposals)."""
    import torch

    from .boxes import box_iou, valid_boxes
    hit = total = 0
    for p, b, lab in zip(proposals, boxes, labels):
        g = torch.from_numpy(b[lab > 0])
        p = torch.from_numpy(p)
        p = p[valid_boxes(p)]
        total += len(g)
        if len(g) and len(p):
            hit += int((box_iou(g, p).max(1).values >= iou).sum())
    return hit / max(total, 1)
