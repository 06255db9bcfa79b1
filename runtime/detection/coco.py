"""The user's own detection data in COCO's format: an annotations JSON file (images,
annotations with [x, y, width, height] boxes, categories) and a folder of images beside it.
Image paths never leave that folder. Every problem is a DataError naming the file, the image
or the annotation at fault. Registers the 'coco' dataset kind (numpy and the standard
library at import; Pillow and pycocotools when loading).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from runtime.data import DATASETS, DataError, Dataset, DatasetSpec, Option, _int_in, _resolve

MAX_IMAGES = 200_000
TOLERANCE = 1.0  # pixels a box may stick out of its image (rounding in annotation tools)


def _inside(root: Path, rel: str, what: str, where: str) -> Path:
    if not isinstance(rel, str) or not rel:
        raise DataError(f"{where}: {what} must be a file name inside {root}")
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise DataError(f"{where}: {what} {rel!r} leaves the images folder {root}: give a "
                        "path inside it")
    full = root / p
    real = Path(os.path.realpath(full))
    if not real.is_relative_to(Path(os.path.realpath(root))):
        raise DataError(f"{where}: {what} {rel!r} links out of the images folder {root}")
    return full


def _read_json(p: Path) -> dict:
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: cannot be read: {getattr(e, 'strerror', None) or e}") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{p}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") \
            from None
    if not isinstance(d, dict):
        raise DataError(f"{p}: a COCO annotations file is a JSON object with 'images', "
                        "'annotations' and 'categories'")
    for key in ("images", "annotations", "categories"):
        if not isinstance(d.get(key), list):
            raise DataError(f"{p}: '{key}' is missing or not a list (COCO's format: images, "
                            "annotations, categories)")
    return d


def load_coco(seed: int, path: str = "", images: str = "", height: int = 64, width: int = 64,
              max_objects: int = 0, proposals: int = 100, proposal_mode: str = "fast",
              proposal_scale: float = 2.0, base_dir=None) -> Dataset:
    """Your own detection data in COCO's format: `path` the annotations JSON (relative to
    the project's folder), `images` the folder of its images (relative to the annotations
    file's folder, inside it; empty: that folder). Images are resized to height × width
    (boxes with them). Fields as the generated shapes: image, boxes, labels (categories
    numbered 1, 2, … in the order of their ids), masks (from polygons, else the box),
    proposals (selective search, cached beside the annotations file)."""
    import torch
    from PIL import Image, UnidentifiedImageError

    ann_path = _resolve(path, base_dir)
    d = _read_json(ann_path)
    root = ann_path.parent
    folder = _inside(root, images, "the images folder", "data.options.images") if images \
        else root
    if not folder.is_dir():
        raise DataError(f"data.options.images: {folder} is not a folder")
    cats = {}
    for i, c in enumerate(d["categories"]):
        if not isinstance(c, dict) or "id" not in c:
            raise DataError(f"{ann_path}: categories[{i}] has no 'id'")
        cats[c["id"]] = str(c.get("name", c["id"]))
    if not cats:
        raise DataError(f"{ann_path}: no categories")
    number = {cid: k + 1 for k, cid in enumerate(sorted(cats, key=lambda v: (str(type(v)), v)))}
    imgs = {}
    for i, im in enumerate(d["images"]):
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise DataError(f"{ann_path}: images[{i}] needs an 'id' and a 'file_name'")
        imgs[im["id"]] = im
    if not imgs:
        raise DataError(f"{ann_path}: no images")
    if len(imgs) > MAX_IMAGES:
        raise DataError(f"{ann_path}: {len(imgs):,} images; at most {MAX_IMAGES:,} load")
    per_image: dict = {k: [] for k in imgs}
    for i, a in enumerate(d["annotations"]):
        where = f"{ann_path}: annotations[{i}]" + (f" (id {a['id']})" if isinstance(a, dict)
                                                    and "id" in a else "")
        if not isinstance(a, dict):
            raise DataError(f"{where}: not an object")
        if a.get("image_id") not in imgs:
            raise DataError(f"{where}: image_id {a.get('image_id')!r} is not among the images")
        if a.get("category_id") not in cats:
            raise DataError(f"{where}: category_id {a.get('category_id')!r} is not among the "
                            "categories")
        box = a.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
            raise DataError(f"{where}: bbox must be [x, y, width, height] (got {box!r})")
        per_image[a["image_id"]].append(a)
    most = max(len(v) for v in per_image.values())
    k_max = max_objects or max(most, 1)
    if most > k_max:
        raise DataError(f"{ann_path}: an image has {most} objects, more than max_objects "
                        f"({k_max}): raise max_objects or set it to 0 (the most in any image)")

    n = len(imgs)
    image = np.zeros((n, 3, height, width), np.float32)
    boxes = np.zeros((n, k_max, 4), np.float32)
    labels = np.full((n, k_max), -1, np.int64)
    masks = np.zeros((n, k_max, height, width), np.uint8)
    for row, (iid, im) in enumerate(imgs.items()):
        f = _inside(folder, im["file_name"], "file_name", f"{ann_path}: image id {iid}")
        try:
            with Image.open(f) as pic:
                pic = pic.convert("RGB")
                w0, h0 = pic.size
                image[row] = np.asarray(pic.resize((width, height), Image.BILINEAR),
                                        np.float32).transpose(2, 0, 1) / 255
        except FileNotFoundError:
            raise DataError(f"{ann_path}: image id {iid}: {f} does not exist") from None
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise DataError(f"{ann_path}: image id {iid}: {f} cannot be read as an image "
                            f"({e})") from None
        for key, got in (("width", w0), ("height", h0)):
            if key in im and im[key] != got:
                raise DataError(f"{ann_path}: image id {iid} ({im['file_name']}) says {key} "
                                f"{im[key]} but the file is {got} pixels")
        sx, sy = width / w0, height / h0
        for k, a in enumerate(per_image[iid]):
            x, y, bw, bh = (float(v) for v in a["bbox"])
            if bw <= 0 or bh <= 0 or x < -TOLERANCE or y < -TOLERANCE or \
                    x + bw > w0 + TOLERANCE or y + bh > h0 + TOLERANCE:
                raise DataError(f"{ann_path}: annotation id {a.get('id', '?')} of image id "
                                f"{iid} ({im['file_name']}, {w0} × {h0}): bbox "
                                f"{a['bbox']} is empty or outside the image")
            x1, y1 = max(x, 0) * sx, max(y, 0) * sy
            x2, y2 = min(x + bw, w0) * sx, min(y + bh, h0) * sy
            boxes[row, k] = (x1, y1, x2, y2)
            labels[row, k] = number[a["category_id"]]
            masks[row, k] = _mask(a, h0, w0, (height, width), (x1, y1, x2, y2))
    ds = Dataset(ann_path.name, {"image": torch.from_numpy(image),
                                 "boxes": torch.from_numpy(boxes),
                                 "labels": torch.from_numpy(labels),
                                 "masks": torch.from_numpy(masks)},
                 f"{ann_path.name}: {n:,} images, {int((labels > 0).sum()):,} objects",
                 classes=["background"] + [cats[c] for c in sorted(number, key=number.get)])
    from .datasets import add_proposals
    return add_proposals(ds, proposals, proposal_mode, proposal_scale,
                         cache_dir=root / ".layerloom-cache")


def _mask(a: dict, h0: int, w0: int, size: tuple[int, int], box) -> np.ndarray:
    """The object's mask at the dataset's size: its polygons (or RLE) if it has them, else
    its box filled."""
    seg = a.get("segmentation")
    h, w = size
    if seg:
        try:
            from pycocotools import mask as mask_utils
            if isinstance(seg, list):
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h0, w0))
            elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):
                rle = mask_utils.frPyObjects(seg, h0, w0)
            else:
                rle = seg
            m = mask_utils.decode(rle)
            from PIL import Image
            return (np.asarray(Image.fromarray(m * 255).resize((w, h), Image.NEAREST)) > 127
                    ).astype(np.uint8)
        except Exception:  # noqa: BLE001: a malformed polygon falls back to the box
            pass
    out = np.zeros((h, w), np.uint8)
    x1, y1, x2, y2 = box
    out[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = 1
    return out


def _register() -> None:
    from .datasets import _PROPOSALS
    DATASETS["coco"] = DatasetSpec(
        "coco", "COCO detection (annotations JSON + images)", load_coco.__doc__, load_coco,
        {"path": Option("", "The annotations .json file (relative to the project's folder)."),
         "images": Option("", "The images folder, relative to the annotations file's folder "
                              "(empty: that folder).", lambda v: isinstance(v, str),
                          "a folder name"),
         "height": Option(64, "Image height after resizing.", _int_in(8, 4096), "8 to 4,096"),
         "width": Option(64, "Image width after resizing.", _int_in(8, 4096), "8 to 4,096"),
         "max_objects": Option(0, "Objects per image K the boxes are padded to (0: the most "
                                  "in any image).", _int_in(0, 10_000), "0 to 10,000"),
         **_PROPOSALS},
        {"image": "3 × height × width image", "boxes": "K × 4 boxes (x1, y1, x2, y2)",
         "labels": "K classes (1, 2, …; -1 none)", "masks": "K × height × width masks",
         "proposals": "proposals × 4 boxes (selective search)"})


_register()
