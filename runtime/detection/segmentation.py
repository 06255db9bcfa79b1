"""COCO segmentations from untrusted files (issue 23): polygons and RLE masks, checked before
anything is decoded. An RLE mask is decoded here (numpy) at its image's size only, after its
run lengths are checked to cover exactly that image: pycocotools decodes at whatever size the
file claims (7 GB for a [60000, 60000] mask on a 48 x 48 image) and writes past its buffer
when the counts add up to more. Polygons are drawn by pycocotools (COCO's own rasterizer)
once their points are finite numbers, clipped to the image (a NaN point crashed it).

Every problem is a SegmentationError saying what is wrong with the segmentation; the caller
names the file and the annotation.
"""
from __future__ import annotations

import math

import numpy as np


class SegmentationError(ValueError):
    pass


def finite_number(v) -> bool:
    """A number as JSON gives it (not true/false) that is finite as a double: no NaN, no
    infinity, no 401-digit integer."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a double
        return False


def shown(v, n: int = 60) -> str:
    """A value from the file as it was given, cut short when long (a 401-digit number)."""
    try:
        r = repr(v)
    except ValueError:  # an int over Python's 4,300-digit limit for str()
        return "a number too long to print"
    return r if len(r) <= n else f"{r[:n - 24]}… ({len(r):,} characters)"


def decode_counts(s: str, limit: int) -> list[int]:
    """The run lengths of COCO's compressed RLE string (pycocotools' rleFrString: 6-bit
    groups offset by 48, 5 bits of value each, the 0x20 bit to continue, the 0x10 bit of the
    last group for the sign; from the third run on, a difference from the run two before).
    At most `limit` runs; raises SegmentationError for a string that is not one."""
    counts: list[int] = []
    x = k = 0
    for ch in s:
        c = ord(ch) - 48
        if not 0 <= c < 64:
            raise SegmentationError(f"counts is not COCO's compressed RLE string (a "
                                    f"character {ch!r})")
        x |= (c & 0x1F) << (5 * k)
        k += 1
        if c & 0x20:
            if k > 13:  # 65 bits: no run is that long
                raise SegmentationError("counts is not COCO's compressed RLE string (a run "
                                        "too long)")
            continue
        if c & 0x10:
            x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
        if len(counts) > limit:
            raise SegmentationError(f"counts holds more runs than the image has pixels "
                                    f"({limit - 1:,})")
        x = k = 0
    if k:
        raise SegmentationError("counts is not COCO's compressed RLE string (it ends inside "
                                "a run)")
    return counts


def rle_mask(seg: dict, h: int, w: int) -> np.ndarray:
    """An RLE segmentation ({'size': [height, width], 'counts': runs or string}) as an
    h × w uint8 mask; its size must be the image's and its runs must cover it exactly."""
    if "size" not in seg or "counts" not in seg:
        raise SegmentationError("an RLE mask needs 'size' [height, width] and 'counts' (got "
                                f"the keys {', '.join(map(repr, list(seg)[:6])) or 'none'})")
    size, counts = seg["size"], seg["counts"]
    if not (isinstance(size, list) and len(size) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in size)) or \
            size != [h, w]:
        raise SegmentationError(f"size {shown(size)} is not the image's size [{h}, {w}] "
                                f"(height, width: the file is {w} × {h} pixels)")
    if isinstance(counts, str):
        counts = decode_counts(counts, h * w + 1)
    elif isinstance(counts, list):
        if len(counts) > h * w + 1:
            raise SegmentationError(f"counts holds more runs than the image has pixels "
                                    f"({h * w:,})")
    else:
        raise SegmentationError(f"counts must be a list of run lengths or COCO's compressed "
                                f"string (got {shown(counts)})")
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        bad = next(c for c in counts if not (isinstance(c, int) and not isinstance(c, bool)
                                             and c >= 0))
        raise SegmentationError(f"counts must be whole numbers >= 0 (run lengths; got "
                                f"{shown(bad)})")
    total = sum(counts)
    if total != h * w:
        raise SegmentationError(f"counts cover {total:,} pixels, not the image's {h * w:,} "
                                f"({w} × {h})")
    values = (np.arange(len(counts)) % 2).astype(np.uint8)  # runs of 0, then 1, then 0, …
    flat = np.repeat(values, np.asarray(counts, np.int64))
    return np.ascontiguousarray(flat.reshape(w, h).T)  # COCO's runs go down the columns


def polygons(seg: list, h: int, w: int) -> list[list[float]]:
    """The polygons of a segmentation ([[x1, y1, x2, y2, …], …]): finite numbers in pairs,
    clipped to the image; polygons of fewer than three points are left out (they cover
    nothing)."""
    out = []
    for j, poly in enumerate(seg):
        if not isinstance(poly, list):
            raise SegmentationError(f"polygon {j} must be a list [x1, y1, x2, y2, …] (got "
                                    f"{shown(poly)}; segmentation is a list of polygons)")
        if len(poly) % 2 or not all(finite_number(v) for v in poly):
            raise SegmentationError(f"polygon {j} must be finite x, y numbers in pairs (got "
                                    f"{shown(poly)})")
        if len(poly) < 6:
            continue
        xy = np.asarray(poly, np.float64).reshape(-1, 2)
        np.clip(xy[:, 0], 0, w, out=xy[:, 0])
        np.clip(xy[:, 1], 0, h, out=xy[:, 1])
        out.append(xy.ravel().tolist())
    return out


def mask(seg, h: int, w: int) -> np.ndarray | None:
    """The h × w uint8 mask of a COCO segmentation; None when it has none (no segmentation,
    or only polygons too small to cover anything): the box is used instead."""
    if seg is None or seg == [] or seg == {}:
        return None
    if isinstance(seg, dict):
        return rle_mask(seg, h, w)
    if not isinstance(seg, list):
        raise SegmentationError(f"must be polygons [[x1, y1, x2, y2, …], …] or an RLE mask "
                                f"{{'size': [height, width], 'counts': …}} (got {shown(seg)})")
    polys = polygons(seg, h, w)
    if not polys:
        return None
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        return _draw(polys, h, w)
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))


def _draw(polys: list[list[float]], h: int, w: int) -> np.ndarray:
    """Polygons filled with Pillow (when pycocotools is missing)."""
    from PIL import Image, ImageDraw
    im = Image.new("L", (w, h))
    draw = ImageDraw.Draw(im)
    for p in polys:
        draw.polygon(p, fill=1)
    return np.asarray(im, np.uint8)
