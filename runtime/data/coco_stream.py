"""COCO detection data read per image (issue 27): the pieces runtime/data/detection.py's
in-memory load shares with the streamed one (reading one picture, its objects' boxes and
labels, an object's mask), and the streamed dataset itself: a StreamDataset whose `image`
and `masks` fields are read lazily (runtime/data/stream.py, through the loader's DataLoader
workers), while boxes, labels and the selective-search proposals (a few numbers per image)
stay whole. Proposals are searched per image, each image read as it is searched, and cached
under a key made of the files' names, sizes and modification times (never their pixels).

A helper of the detection family (it registers nothing); it imports the base and stream.py,
and runtime/detection's pure helpers. Pillow inside the functions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from runtime.detection.segmentation import SegmentationError
from runtime.detection.segmentation import mask as segmentation_mask
from runtime.files import NotRegularFile, open_regular

from .base import DataError
from .stream import Source, streamed

TOLERANCE = 1.0  # pixels a box may stick out of its image (rounding in annotation tools)


def _unreadable(ann_path: Path, iid, f: Path, e: Exception) -> DataError:
    """The words for an image file that cannot be read (missing, not a file, damaged)."""
    from PIL import Image
    if isinstance(e, FileNotFoundError):
        return DataError(f"{ann_path}: image id {iid}: {f} does not exist")
    if isinstance(e, NotRegularFile):
        return DataError(f"{ann_path}: image id {iid}: {f} is {e}")
    if isinstance(e, Image.DecompressionBombError):
        return DataError(f"{ann_path}: image id {iid}: {f} is too large to read safely ({e})")
    return DataError(f"{ann_path}: image id {iid}: {f} cannot be read as an image ({e})")


def _read_errors():
    from PIL import Image, UnidentifiedImageError
    return (FileNotFoundError, NotRegularFile, Image.DecompressionBombError,
            UnidentifiedImageError, OSError, ValueError, SyntaxError)


def picture(ann_path: Path, iid, im: dict, f: Path, height: int, width: int
            ) -> tuple[np.ndarray, int, int]:
    """Image `f` (of image id `iid`, its JSON entry `im`) as 3 × height × width float32 in
    [0, 1], and its own width and height; DataError naming the file when it cannot be read
    or is not the size the JSON says."""
    from PIL import Image
    try:  # only a regular file: a named pipe would be waited on forever
        with open_regular(f) as fh, Image.open(fh) as pic:
            pic = pic.convert("RGB")
            w0, h0 = pic.size
            image = np.asarray(pic.resize((width, height), Image.BILINEAR),
                               np.float32).transpose(2, 0, 1) / 255
    except _read_errors() as e:
        raise _unreadable(ann_path, iid, f, e) from None
    same_size(ann_path, iid, im, w0, h0)
    return image, w0, h0


def same_size(ann_path: Path, iid, im: dict, w0: int, h0: int) -> None:
    for key, got in (("width", w0), ("height", h0)):
        if key in im and im[key] != got:
            raise DataError(f"{ann_path}: image id {iid} ({im['file_name']}) says {key} "
                            f"{int(im[key])} but the file is {got} pixels")


def header_size(ann_path: Path, iid, f: Path) -> tuple[int, int]:
    """An image's width and height from its header alone (nothing decoded)."""
    from PIL import Image
    try:
        with open_regular(f) as fh, Image.open(fh) as pic:
            return pic.size
    except _read_errors() as e:
        raise _unreadable(ann_path, iid, f, e) from None


def objects(ann_path: Path, iid, im: dict, anns: list, w0: int, h0: int, height: int,
            width: int, number: dict) -> list[tuple[tuple, int, dict]]:
    """Each annotation of an image w0 × h0 resized to width × height: (its box x1, y1, x2, y2
    at the new size, its class number, the annotation); DataError for a box outside."""
    sx, sy = width / w0, height / h0
    out = []
    for a in anns:
        x, y, bw, bh = (float(v) for v in a["bbox"])
        if bw <= 0 or bh <= 0 or x < -TOLERANCE or y < -TOLERANCE or \
                x + bw > w0 + TOLERANCE or y + bh > h0 + TOLERANCE:
            raise DataError(f"{ann_path}: annotation id {a.get('id', '?')} of image id "
                            f"{iid} ({im['file_name']}, {w0} × {h0}): bbox "
                            f"{a['bbox']} is empty or outside the image")
        x1, y1 = max(x, 0) * sx, max(y, 0) * sy
        x2, y2 = min(x + bw, w0) * sx, min(y + bh, h0) * sy
        out.append(((x1, y1, x2, y2), number[a["category_id"]], a))
    return out


def object_mask(ann_path: Path, iid, im: dict, a: dict, h0: int, w0: int,
                size: tuple[int, int], box) -> np.ndarray:
    """The object's mask at the dataset's size: its polygons or RLE mask (checked, decoded
    at the image's own size h0 × w0) if it has them, else its box filled."""
    h, w = size
    try:
        m = segmentation_mask(a.get("segmentation"), h0, w0)
    except SegmentationError as e:
        raise DataError(f"{ann_path}: annotation id {a.get('id', '?')} of image id "
                        f"{iid} ({im['file_name']}): segmentation: {e}") from None
    if m is not None:
        from PIL import Image
        return (np.asarray(Image.fromarray(m * 255).resize((w, h), Image.NEAREST)) > 127
                ).astype(np.uint8)
    out = np.zeros((h, w), np.uint8)
    x1, y1, x2, y2 = box
    out[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = 1
    return out


class _Sample(dict):
    """A sample whose masks are made only when asked for (a Fast R-CNN binds none)."""

    def __init__(self, make_masks, **fields):
        super().__init__(**fields)
        self._make_masks = make_masks

    def __missing__(self, key):
        if key != "masks":
            raise KeyError(key)
        self["masks"] = m = self._make_masks()
        return m


class CocoImages(Source):
    """A COCO set's images, each read (and resized) when its sample is asked for; boxes,
    labels (and proposals) whole. `entries[i]`: (image id, its JSON entry, its file, its
    width and height as the JSON or the file's header says, its objects)."""

    def __init__(self, ann_path: Path, entries: list, height: int, width: int,
                 boxes: np.ndarray, labels: np.ndarray, proposals: np.ndarray | None):
        self.ann_path, self.entries = ann_path, entries
        self.height, self.width = height, width
        k = boxes.shape[1]
        self.specs = {"image": ((3, height, width), "float32"),
                      "boxes": ((k, 4), "float32"), "labels": ((k,), "int64"),
                      "masks": ((k, height, width), "uint8")}
        self.whole = {"boxes": boxes, "labels": labels}
        if proposals is not None:
            self.specs["proposals"] = (proposals.shape[1:], "float32")
            self.whole["proposals"] = proposals

    def __len__(self) -> int:
        return len(self.entries)

    def image(self, i: int) -> np.ndarray:
        iid, im, f, w0, h0, _ = self.entries[i]
        return picture(self.ann_path, iid, im, f, self.height, self.width)[0]

    def masks(self, i: int) -> np.ndarray:
        iid, im, _, w0, h0, objs = self.entries[i]
        out = np.zeros(self.specs["masks"][0], np.uint8)
        for k, (box, _, a) in enumerate(objs):
            out[k] = object_mask(self.ann_path, iid, im, a, h0, w0,
                                 (self.height, self.width), box)
        return out

    def sample(self, i: int) -> dict[str, Any]:
        fields = {k: v[i] for k, v in self.whole.items()}
        return _Sample(lambda: self.masks(i), image=self.image(i), **fields)


def stream_coco(ann_path: Path, folder: Path, imgs: dict, per_image: dict, number: dict,
                classes: list[str], k_max: int, height: int, width: int, proposals: int,
                mode: str, scale: float, cache_dir: Path, inside) -> Any:
    """The COCO set as a StreamDataset (its annotations already checked by load_coco):
    sizes from the JSON (or each file's header when the JSON has none), boxes and labels
    whole, proposals searched per image and cached; images and masks read per sample."""
    from runtime.detection.datasets import progress_hooks, stop_requested
    from runtime.detection.proposals import SearchStopped
    n = len(imgs)
    boxes = np.zeros((n, k_max, 4), np.float32)
    labels = np.full((n, k_max), -1, np.int64)
    entries = []
    for row, (iid, im) in enumerate(imgs.items()):
        if stop_requested():
            raise SearchStopped()
        f = inside(folder, im["file_name"], "file_name", f"{ann_path}: image id {iid}")
        if "width" in im and "height" in im:
            w0, h0 = int(im["width"]), int(im["height"])
        else:
            w0, h0 = header_size(ann_path, iid, f)
        objs = objects(ann_path, iid, im, per_image[iid], w0, h0, height, width, number)
        for k, (box, label, _) in enumerate(objs):
            boxes[row, k], labels[row, k] = box, label
        entries.append((iid, im, f, w0, h0, objs))
    source = CocoImages(ann_path, entries, height, width, boxes, labels, None)
    about = f"{ann_path.name}: {n:,} images, {int((labels > 0).sum()):,} objects"
    if proposals:
        from runtime.detection.proposals import (ProposalError, as_u8, proposals_of,
                                                 stream_key)
        callback, stop, notice = progress_hooks()
        key = stream_key([str(e[2]) for e in entries], mode, scale, proposals, height, width)
        try:
            found, _ = proposals_of(n, lambda i: as_u8(source.image(i)), key, proposals,
                                    mode, scale, height, width, cache_dir, callback,
                                    stop=stop, notice=notice)
        except ProposalError as e:
            raise DataError(f"data.options.proposals: {e}") from None
        source = CocoImages(ann_path, entries, height, width, boxes, labels, found)
        about += f"; {proposals} selective-search proposals per image ({mode})"
    return streamed(ann_path.name, source, about, classes)
