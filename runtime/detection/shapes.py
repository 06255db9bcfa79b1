"""Generated detection data (issue 13): images holding 1 to `max_objects` circles, squares and
triangles, each with its box, class and instance mask. Seeded, never downloaded.

A detection dataset is an ordinary Dataset whose fields are padded to a fixed number of
objects K per image (runtime/detection/__init__.py says the layout):

- image   N × 3 × H × W  float32 in [0, 1]
- boxes   N × K × 4      float32, (x1, y1, x2, y2) in pixels, x2/y2 exclusive; padding rows 0
- labels  N × K          int64, 1..C (0 is the background), padding -1
- masks   N × K × H × W  uint8, the visible pixels of each object (for Mask R-CNN)

numpy only at import (the training panel reads the dataset catalogue before torch loads).
"""
from __future__ import annotations

import numpy as np

CLASSES = ["background", "circle", "square", "triangle"]


def _shape_mask(kind: int, cx: float, cy: float, r: float, xx, yy) -> np.ndarray:
    if kind == 1:  # circle
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if kind == 2:  # square
        return (abs(xx - cx) <= r * 0.85) & (abs(yy - cy) <= r * 0.85)
    top, base = cy - r, cy + r * 0.8  # upward triangle
    half = (yy - top) / (base - top) * r
    return (yy >= top) & (yy <= base) & (abs(xx - cx) <= half)


def box_of(mask: np.ndarray) -> list[float]:
    """The tight box of a mask's pixels: (x1, y1, x2, y2), a pixel (c, r) spanning
    [c, c + 1) × [r, r + 1)."""
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def draw_shapes(rng: np.random.Generator, n: int, size: int, max_objects: int,
                min_radius: float, max_radius: float, noise: float,
                min_visible: float = 0.6):
    """n images and their padded annotations (numpy arrays: image, boxes, labels, masks).
    Shapes are drawn in turn and may overlap; a shape that would leave an earlier one (or
    itself) less than `min_visible` of its pixels in view is drawn again elsewhere."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    images = np.empty((n, 3, size, size), np.float32)
    boxes = np.zeros((n, max_objects, 4), np.float32)
    labels = np.full((n, max_objects), -1, np.int64)
    masks = np.zeros((n, max_objects, size, size), np.uint8)
    for i in range(n):
        background = rng.uniform(0, 0.3, (3, 1, 1))
        img = background + rng.normal(0, noise, (3, size, size))
        count = int(rng.integers(1, max_objects + 1))
        visible: list[np.ndarray] = []  # each placed object's visible pixels
        full: list[int] = []  # each placed object's pixel count when drawn
        kinds: list[int] = []
        for _ in range(count):
            for _attempt in range(50):
                kind = int(rng.integers(1, len(CLASSES)))
                r = rng.uniform(min_radius, max_radius)
                cx, cy = rng.uniform(r * 0.9, size - r * 0.9, 2)
                m = _shape_mask(kind, cx, cy, r, xx, yy)
                if m.sum() < 16:
                    continue
                left = [v & ~m for v in visible]
                if all(lv.sum() >= min_visible * f for lv, f in zip(left, full)):
                    break
            else:
                break  # no room left: fewer objects in this image
            visible = left + [m]
            full.append(int(m.sum()))
            kinds.append(kind)
            colour = rng.uniform(0.45, 1.0, 3)
            img[:, m] = colour[:, None]
        images[i] = np.clip(img, 0, 1)
        for k, (kind, m) in enumerate(zip(kinds, visible)):
            boxes[i, k] = box_of(m)
            labels[i, k] = kind
            masks[i, k] = m
    return images, boxes, labels, masks


def make_shapes_detect(seed: int, n_samples: int = 1200, size: int = 64, max_objects: int = 4,
                       min_size: int = 12, max_size: int = 32, noise: float = 0.03):
    """Detection shapes: colour images (3 × size × size) holding 1 to max_objects circles,
    squares and triangles of varied sizes and colours, which may overlap (each keeps at least
    60 % of its pixels in view). Fields: image; boxes (max_objects × 4, x1 y1 x2 y2 in
    pixels), labels (1 circle, 2 square, 3 triangle; -1 where an image has fewer objects) and
    masks (the visible pixels of each object)."""
    import torch

    from runtime.data import DataError, Dataset
    if min_size > max_size:
        raise DataError(f"shapes_detect: min_size {min_size} is above max_size {max_size}")
    if max_size > size:
        raise DataError(f"shapes_detect: max_size {max_size} is larger than the image ({size})")
    rng = np.random.default_rng(seed)
    images, boxes, labels, masks = draw_shapes(rng, n_samples, size, max_objects,
                                               min_size / 2, max_size / 2, noise)
    objects = int((labels > 0).sum())
    return Dataset("shapes_detect",
                   {"image": torch.from_numpy(images), "boxes": torch.from_numpy(boxes),
                    "labels": torch.from_numpy(labels), "masks": torch.from_numpy(masks)},
                   f"Detection shapes: {n_samples:,} images 3 × {size} × {size}, {objects:,} "
                   f"objects (1 to {max_objects} per image)", classes=list(CLASSES))
