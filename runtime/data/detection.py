"""The detection datasets (issue 13; ARCHITECTURE.md, "A dataset kind"): generated shapes
('shapes_detect') and the user's own detection data in COCO's format ('coco'), both with region
proposals by selective search as a step of the pipeline (option `proposals`: per image, 0 for
none).

COCO's format: an annotations JSON file (images, annotations with [x, y, width, height] boxes,
categories) and a folder of images beside it. Image paths never leave that folder. The file is
untrusted (a shared dataset): every field is checked before any image is read or any memory is
taken (ids unique and of the right type, finite boxes, segmentations at their image's size, the
memory the fields need), and every problem is a DataError naming the file, the image or the
annotation at fault.

A family module of runtime/data/: registers its kinds in the base's DATASETS when imported
(runtime/data/__init__.py imports it). numpy and the standard library at import; Pillow and
pycocotools when loading. The trainer says where a load reports the proposal search's progress
through runtime/detection/datasets.py.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from runtime.detection.datasets import progress_hooks, stop_requested
from runtime.detection.segmentation import finite_number as _finite, shown as _short
from runtime.detection.shapes import make_shapes_detect
from runtime.files import NotRegularFile, open_regular

from .base import (DataError, Dataset, DatasetSpec, Option, format_bytes, int_in, num_in,
                   register, resolve_file)
from .coco_stream import object_mask, objects, picture, stream_coco
from .stream import STREAMING_OPTION, wants_stream


# Region proposals (both kinds) ----------------------------------------------------------------

def add_proposals(ds: Dataset, count: int, mode: str, scale: float, cache_dir=None) -> Dataset:
    """Field `proposals` (N × count × 4): each image's first `count` selective-search
    boxes, computed once and cached (runtime/detection/proposals.py)."""
    if count == 0:
        return ds
    from runtime.detection.proposals import ProposalError, proposals_for
    images = ds.fields["image"].numpy()
    callback, stop, notice = progress_hooks()
    try:
        boxes, cached = proposals_for(images, count, mode, scale, cache_dir, callback,
                                      stop=stop, notice=notice)
    except ProposalError as e:
        raise DataError(f"data.options.proposals: {e}") from None
    import torch
    ds.fields["proposals"] = torch.from_numpy(boxes)
    ds.description += f"; {count} selective-search proposals per image ({mode})"
    return ds


_PROPOSALS = {
    "proposals": Option(100, "Region proposals per image by selective search (0: none); "
                             "computed once and cached.", int_in(0, 5000), "0 to 5,000"),
    "proposal_mode": Option("fast", "Selective search's strategy: 'fast' (the paper's fast "
                                    "mode), 'quality' (more, slower), 'single'.",
                            lambda v: v in ("fast", "quality", "single"),
                            "'fast', 'quality' or 'single'"),
    "proposal_scale": Option(2.0, "Enlarge images by this factor before the search (small "
                                  "images give few regions).", num_in(0.25, 8), "0.25 to 8"),
}


# Generated shapes ------------------------------------------------------------------------------

def _shapes(seed: int, n_samples: int = 1200, size: int = 64, max_objects: int = 4,
            min_size: int = 12, max_size: int = 32, noise: float = 0.03,
            proposals: int = 100, proposal_mode: str = "fast",
            proposal_scale: float = 2.0) -> Dataset:
    ds = make_shapes_detect(seed, n_samples, size, max_objects, min_size, max_size, noise)
    return add_proposals(ds, proposals, proposal_mode, proposal_scale)


_shapes.__doc__ = make_shapes_detect.__doc__ + (
    " With proposals > 0, field proposals holds each image's first region proposals by "
    "selective search (computed once, then read from the cache).")

SHAPES_DETECT = DatasetSpec(
    "shapes_detect", "Shapes with boxes (detection)", _shapes.__doc__, _shapes,
    {"n_samples": Option(1200, "Number of images.", int_in(4, 1_000_000),
                         "a whole number 4 to 1,000,000"),
     "size": Option(64, "Image side in pixels.", int_in(32, 256), "32 to 256"),
     "max_objects": Option(4, "Most objects per image (each image has 1 to this many).",
                           int_in(1, 20), "1 to 20"),
     "min_size": Option(12, "Smallest object side in pixels.", int_in(4, 256), "4 to 256"),
     "max_size": Option(32, "Largest object side in pixels.", int_in(4, 256), "4 to 256"),
     "noise": Option(0.03, "Background noise.", num_in(0, 1), "0 to 1"),
     **_PROPOSALS},
    {"image": "3 × size × size image", "boxes": "max_objects × 4 boxes (x1, y1, x2, y2)",
     "labels": "max_objects classes (1 circle, 2 square, 3 triangle; -1 none)",
     "masks": "max_objects × size × size instance masks",
     "proposals": "proposals × 4 boxes (selective search)"})


# COCO ------------------------------------------------------------------------------------------

MAX_IMAGES = 200_000
# All fields together: the image folder's bound (runtime/data/images.py's MAX_IMAGE_BYTES,
# 4 GiB; not imported from there: a family module imports no other family).
MAX_BYTES = 4 * 2 ** 30
MAX_SAMPLE = 256 * 2 ** 20  # streamed: one image with its masks


def _inside(root: Path, rel: str, what: str, where: str) -> Path:
    if not isinstance(rel, str) or not rel:
        raise DataError(f"{where}: {what} must be a file name inside {root} (got "
                        f"{_short(rel)})")
    if "\x00" in rel:
        raise DataError(f"{where}: {what} {_short(rel)} holds a NUL character: not a file name")
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise DataError(f"{where}: {what} {rel!r} leaves the images folder {root}: give a "
                        "path inside it")
    full = root / p
    real = Path(os.path.realpath(full))
    if not real.is_relative_to(Path(os.path.realpath(root))):
        raise DataError(f"{where}: {what} {rel!r} links out of the images folder {root}")
    return full


def _is_id(v) -> bool:
    """COCO's ids are whole numbers (some files use text); not true/false, not 1.5."""
    return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))


def _pixels(v) -> bool:
    """A width or height as COCO writes it: a whole number of pixels (48, or 48.0)."""
    if isinstance(v, float) and _finite(v) and v.is_integer():
        v = int(v)
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 2 ** 31 - 1


def _read_json(p: Path) -> dict:
    try:
        with open_regular(p) as f:
            text = f.read().decode("utf-8")
    except NotRegularFile as e:
        raise DataError(f"{p}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: cannot be read: {getattr(e, 'strerror', None) or e}") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") \
            from None
    except RecursionError:
        raise DataError(f"{p}: not a COCO annotations file: its JSON is nested too deeply to "
                        "read (lists or objects inside each other about a thousand deep)") \
            from None
    except ValueError as e:  # a number of over 4,300 digits
        raise DataError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise DataError(f"{p}: a COCO annotations file is a JSON object with 'images', "
                        "'annotations' and 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(d.get(key), list):
            raise DataError(f"{p}: '{key}' is missing or not a list (COCO's format: images, "
                            "annotations, categories)")
    return d


def _unique_id(ann_path: Path, key: str, i: int, item, first: dict) -> object:
    """item['id'] of key[i], checked to be an id and not one an earlier item has."""
    v = item["id"]
    if not _is_id(v):
        raise DataError(f"{ann_path}: {key}[{i}]: id must be a whole number or text (got "
                        f"{_short(v)})")
    if v in first:
        raise DataError(f"{ann_path}: {key}[{i}]: id {v!r} is given twice ({key}[{first[v]}] "
                        "has it too): each id must be unique")
    first[v] = i
    return v


def _parts(n: int, k: int, height: int, width: int, proposals: int) -> dict[str, int]:
    """The bytes each field takes in memory."""
    return {"images": n * 3 * height * width * 4, "masks": n * k * height * width,
            "boxes": n * k * 4 * 4, "labels": n * k * 8, "proposals": n * proposals * 4 * 4}


def _memory(ann_path: Path, n: int, k: int, height: int, width: int, proposals: int,
            streams: bool = False, off: bool = False) -> None:
    """Refuses (before anything is allocated) a dataset whose fields would take more than
    MAX_BYTES, as the image folder does, saying which field takes what (streamed: the
    fields held whole, boxes, labels and proposals)."""
    parts = _parts(n, k, height, width, proposals)
    if streams:
        one = (3 * 4 + k) * height * width  # one sample's image and masks, read together
        if one > MAX_SAMPLE:
            raise DataError(f"{ann_path}: one image of 3 × {height} × {width} with up to "
                            f"{k:,} object{'s' if k != 1 else ''} would take "
                            f"{format_bytes(one)} of memory as a sample (at most "
                            f"{format_bytes(MAX_SAMPLE)}; its masks "
                            f"{format_bytes(k * height * width)}): use smaller images (height, width) or fewer objects per image "
                            "(max_objects)")
        parts = {k: v for k, v in parts.items() if k not in ("images", "masks")}
    total = sum(parts.values())
    if total <= MAX_BYTES:
        return
    big = ", ".join(f"{name} {format_bytes(b)}"
                    for name, b in sorted(parts.items(), key=lambda t: -t[1])
                    if b * 100 >= total)
    raise DataError(f"{ann_path}: {n:,} image{'s' if n != 1 else ''} of 3 × {height} × "
                    f"{width} with up to {k:,} object{'s' if k != 1 else ''} each would take "
                    f"{format_bytes(total)} of memory (at most {format_bytes(MAX_BYTES)}; "
                    f"{big}): use smaller images (height, width), fewer objects per image "
                    "(max_objects), fewer proposals per image (proposals), or fewer images"
                    + (", or let the images stream (option streaming 'auto' or 'on')" if off
                       else ""))


def load_coco(seed: int, path: str = "", images: str = "", height: int = 64, width: int = 64,
              max_objects: int = 0, proposals: int = 100, proposal_mode: str = "fast",
              proposal_scale: float = 2.0, streaming: str = "auto", base_dir=None) -> Dataset:
    """Your own detection data in COCO's format: `path` the annotations JSON (relative to
    the project's folder), `images` the folder of its images (relative to the annotations
    file's folder, inside it; empty: that folder). Images are resized to height × width
    (boxes with them). Fields as the generated shapes: image, boxes, labels (categories
    numbered 1, 2, … in the order of their ids), masks (from polygons or RLE, else the box),
    proposals (selective search, cached beside the annotations file). Streamed (option
    streaming, as the image folder's): images and masks read per sample, boxes, labels and
    proposals held whole."""
    import torch

    ann_path = resolve_file(path, base_dir)
    d = _read_json(ann_path)
    root = ann_path.parent
    folder = _inside(root, images, "the images folder", "data.options.images") if images \
        else root
    if not folder.is_dir():
        raise DataError(f"data.options.images: {folder} is not a folder")
    # Everything the file says is checked before any image is read or memory is taken.
    cats, first = {}, {}
    for i, c in enumerate(d["categories"]):
        if not isinstance(c, dict) or "id" not in c:
            raise DataError(f"{ann_path}: categories[{i}] has no 'id'")
        cid = _unique_id(ann_path, "categories", i, c, first)
        name = c.get("name", cid)
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            raise DataError(f"{ann_path}: categories[{i}] (id {cid!r}): name must be text "
                            f"(got {_short(name)})")
        cats[cid] = str(name)
    if not cats:
        raise DataError(f"{ann_path}: no categories")
    number = {cid: k + 1 for k, cid in enumerate(sorted(cats, key=lambda v: (str(type(v)), v)))}
    imgs, first = {}, {}
    for i, im in enumerate(d["images"]):
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise DataError(f"{ann_path}: images[{i}] needs an 'id' and a 'file_name'")
        iid = _unique_id(ann_path, "images", i, im, first)
        where = f"{ann_path}: image id {iid}"
        if not isinstance(im["file_name"], str) or "\x00" in im["file_name"]:
            _inside(folder, im["file_name"], "file_name", where)  # says what is wrong
        for key in ("width", "height"):
            if key in im and not _pixels(im[key]):
                raise DataError(f"{where} ({im['file_name']}): {key} must be a whole number "
                                f"of pixels (got {_short(im[key])})")
        imgs[iid] = im
    if not imgs:
        raise DataError(f"{ann_path}: no images")
    if len(imgs) > MAX_IMAGES:
        raise DataError(f"{ann_path}: {len(imgs):,} images; at most {MAX_IMAGES:,} load")
    per_image: dict = {k: [] for k in imgs}
    first = {}
    for i, a in enumerate(d["annotations"]):
        if not isinstance(a, dict):
            raise DataError(f"{ann_path}: annotations[{i}]: not an object")
        where = f"{ann_path}: annotations[{i}]"
        if "id" in a:
            aid = _unique_id(ann_path, "annotations", i, a, first)
            where = f"{ann_path}: annotation id {aid} (annotations[{i}])"
        for key, known, what in (("image_id", imgs, "images"),
                                 ("category_id", cats, "categories")):
            v = a.get(key)
            if not _is_id(v):
                raise DataError(f"{where}: {key} must be a whole number or text, the id of "
                                f"one of the {what} (got {_short(v)})")
            if v not in known:
                raise DataError(f"{where}: {key} {v!r} is not among the {what}")
        box = a.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(_finite(v) for v in box)):
            raise DataError(f"{where}: bbox must be [x, y, width, height], four finite "
                            f"numbers (got {_short(box)})")
        per_image[a["image_id"]].append(a)
    most = max(len(v) for v in per_image.values())
    k_max = max_objects or max(most, 1)
    if most > k_max:
        raise DataError(f"{ann_path}: an image has {most} objects, more than max_objects "
                        f"({k_max}): raise max_objects or set it to 0 (the most in any image)")

    n = len(imgs)
    classes = ["background"] + [cats[c] for c in sorted(number, key=number.get)]
    cache_dir = root / ".layerloom-cache"
    if wants_stream(streaming, sum(_parts(n, k_max, height, width, proposals).values())):
        _memory(ann_path, n, k_max, height, width, proposals, streams=True)
        return stream_coco(ann_path, folder, imgs, per_image, number, classes, k_max, height,
                           width, proposals, proposal_mode, proposal_scale, cache_dir, _inside)
    _memory(ann_path, n, k_max, height, width, proposals, off=streaming == "off")
    image = np.zeros((n, 3, height, width), np.float32)
    boxes = np.zeros((n, k_max, 4), np.float32)
    labels = np.full((n, k_max), -1, np.int64)
    masks = np.zeros((n, k_max, height, width), np.uint8)
    from runtime.detection.proposals import SearchStopped
    for row, (iid, im) in enumerate(imgs.items()):
        if stop_requested():  # the run was stopped while its data loads
            raise SearchStopped()
        f = _inside(folder, im["file_name"], "file_name", f"{ann_path}: image id {iid}")
        image[row], w0, h0 = picture(ann_path, iid, im, f, height, width)
        for k, (box, label, a) in enumerate(objects(ann_path, iid, im, per_image[iid], w0, h0,
                                                    height, width, number)):
            boxes[row, k], labels[row, k] = box, label
            masks[row, k] = object_mask(ann_path, iid, im, a, h0, w0, (height, width), box)
    ds = Dataset(ann_path.name, {"image": torch.from_numpy(image),
                                 "boxes": torch.from_numpy(boxes),
                                 "labels": torch.from_numpy(labels),
                                 "masks": torch.from_numpy(masks)},
                 f"{ann_path.name}: {n:,} images, {int((labels > 0).sum()):,} objects",
                 classes=classes)
    return add_proposals(ds, proposals, proposal_mode, proposal_scale, cache_dir=cache_dir)


COCO = DatasetSpec(
    "coco", "COCO detection (annotations JSON + images)", load_coco.__doc__, load_coco,
    {"path": Option("", "The annotations .json file (relative to the project's folder)."),
     "images": Option("", "The images folder, relative to the annotations file's folder "
                          "(empty: that folder).", lambda v: isinstance(v, str),
                      "a folder name"),
     "height": Option(64, "Image height after resizing.", int_in(8, 4096), "8 to 4,096"),
     "width": Option(64, "Image width after resizing.", int_in(8, 4096), "8 to 4,096"),
     "max_objects": Option(0, "Objects per image K the boxes are padded to (0: the most "
                              "in any image).", int_in(0, 10_000), "0 to 10,000"),
     **_PROPOSALS, "streaming": STREAMING_OPTION},
    {"image": "3 × height × width image", "boxes": "K × 4 boxes (x1, y1, x2, y2)",
     "labels": "K classes (1, 2, …; -1 none)", "masks": "K × height × width masks",
     "proposals": "proposals × 4 boxes (selective search)"}, takes_path=True)

register(SHAPES_DETECT, COCO)
