"""Hostile COCO datasets (issue 23, items 6, 8, 9, 10): the annotations come from a shared
dataset and are untrusted. Every case is refused by a DataError naming the file and the
field, image id or annotation id at fault, at once and without allocating what the file
merely claims. The inputs are tiny: the JSON only *says* the sizes."""
from __future__ import annotations

import json
import math
import os
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

import runtime.data.detection as coco
from runtime.data import DataError, load_dataset

W = H = 48


def png(path: Path, w: int = W, h: int = H) -> None:
    from PIL import Image
    Image.new("RGB", (w, h), (200, 10, 10)).save(path)


def png_header(path: Path, w: int, h: int) -> None:
    """A PNG that claims w × h in its header and holds nothing else: a few dozen bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def dataset(tmp_path: Path, images=None, annotations=None, categories=None, text=None,
            files=("a.png",), **options) -> dict:
    """A COCO folder in tmp_path/data: ann.json and the images named in `files` (48 × 48)."""
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    for f in files:
        png(folder / f)
    d = {"images": images if images is not None else
         [{"id": 1, "file_name": "a.png", "width": W, "height": H}],
         "annotations": annotations if annotations is not None else
         [{"id": 5, "image_id": 1, "category_id": 3, "bbox": [4, 4, 10, 10]}],
         "categories": categories if categories is not None else [{"id": 3, "name": "cat"}]}
    (folder / "ann.json").write_text(text if text is not None else json.dumps(d))
    return {"path": "data/ann.json", "height": 32, "width": 32, "proposals": 0, **options}


def refused(tmp_path, opts, seconds: float = 5.0) -> str:
    t = time.perf_counter()
    with pytest.raises(DataError) as e:
        load_dataset("coco", opts, 0, tmp_path)
    took = time.perf_counter() - t
    assert took < seconds, f"{took:.1f} s to refuse"
    text = str(e.value)
    assert text.startswith(str(tmp_path / "data")), text  # names the file
    assert "Traceback" not in text and len(text) < 600, text
    return text


def test_the_good_case_loads(tmp_path):
    ds = load_dataset("coco", dataset(tmp_path), 0, tmp_path)
    assert ds.fields["image"].shape == (1, 3, 32, 32) and ds.classes == ["background", "cat"]


# 6. An RLE mask is decoded at the image's size, never at the size it claims --------------------

def rle(counts, size=(H, W)) -> dict:
    return {"size": list(size), "counts": counts}


def ann(**kw) -> list:
    return [{"id": 5, "image_id": 1, "category_id": 3, "bbox": [4, 4, 10, 10], **kw}]


@pytest.mark.parametrize("seg, words", [
    (rle([4800 * 4800], (4800, 4800)), ["size [4800, 4800]", "48 × 48"]),
    (rle([H * W], (W + 1, H)), ["size [49, 48]"]),
    (rle([H * W], (H,)), ["size [48]"]),
    (rle([H * W], ("48", "48")), ["size ['48', '48']"]),
    (rle([H * W - 1]), ["counts", "2,303 pixels", "2,304"]),
    (rle([H * W, 5]), ["counts", "2,309 pixels"]),
    (rle([-1, H * W + 1]), ["counts"]),
    (rle([1.5, H * W - 1.5]), ["counts"]),
    (rle("0"), ["counts"]),  # a compressed string that says 0 pixels
    (rle("\x00\x01"), ["counts"]),
    ({"counts": [H * W]}, ["size"]),
    ({"size": [H, W]}, ["counts"]),
    ([[1, 2, 3]], ["polygon"]),  # fewer than three points
    ([[1, 2, "3", 4, 5, 6]], ["polygon"]),
    ([[1, 2, math.nan, 4, 5, 6]], ["polygon"]),
    ([[1, 2, 10 ** 400, 4, 5, 6]], ["polygon"]),
    ([1, 2, 3, 4, 5, 6], ["polygon"]),  # not a list of polygons
    ({"size": [H, W], "counts": {"a": 1}}, ["counts"]),
    ("RLE", ["segmentation"]),
])
def test_a_bad_segmentation_names_the_annotation(tmp_path, seg, words):
    text = refused(tmp_path, dataset(tmp_path, annotations=ann(segmentation=seg)))
    assert "annotation id 5" in text and "segmentation" in text, text
    for w in words:
        assert w in text, (w, text)


def test_a_huge_rle_size_is_refused_at_once(tmp_path):
    """The issue's case: size [60000, 60000] on a 48 × 48 image (7 GB, 21 s to decode)."""
    opts = dataset(tmp_path, annotations=ann(segmentation=rle([60000 * 60000],
                                                              (60000, 60000))))
    tracemalloc.start()
    try:
        text = refused(tmp_path, opts, seconds=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "annotation id 5" in text and "size [60000, 60000]" in text
    assert peak < 50 * 2 ** 20


def _compress(counts: list[int]) -> str:
    """COCO's compressed RLE string (pycocotools' rleToString), written here as the oracle."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def test_good_rle_masks_decode_as_pycocotools_does(tmp_path):
    from pycocotools import mask as mask_utils
    rng = np.random.default_rng(0)
    m = np.zeros((H, W), np.uint8)
    m[5:30, 10:40] = 1
    m[rng.random((H, W)) < 0.05] = 1
    enc = mask_utils.encode(np.asfortranarray(m))
    flat = m.flatten(order="F")
    runs, v, n = [], 0, 0
    for px in flat:
        if px != v:
            runs.append(n)
            v, n = px, 0
        n += 1
    runs.append(n)
    assert _compress(runs) == enc["counts"].decode()
    for seg in (rle(runs), rle(enc["counts"].decode())):
        ds = load_dataset("coco", {**dataset(tmp_path, annotations=ann(segmentation=seg)),
                                   "height": H, "width": W}, 0, tmp_path)
        assert np.array_equal(ds.fields["masks"][0, 0].numpy(), m)


# 9. Fields of the wrong type: a message naming the file and the field -------------------------

IMAGE = {"id": 1, "file_name": "a.png", "width": W, "height": H}
CAT = {"id": 3, "name": "cat"}
ANN = {"id": 5, "image_id": 1, "category_id": 3, "bbox": [4, 4, 10, 10]}


@pytest.mark.parametrize("images, annotations, categories, words", [
    ([{**IMAGE, "id": [1]}], [{**ANN, "image_id": [1]}], None, ["images[0]", "id", "[1]"]),
    ([{**IMAGE, "id": {"a": 1}}], None, None, ["images[0]", "id"]),
    ([{**IMAGE, "id": True}], None, None, ["images[0]", "id"]),
    ([{**IMAGE, "id": 1.5}], None, None, ["images[0]", "id"]),
    (None, None, [{"id": [3], "name": "cat"}], ["categories[0]", "id"]),
    (None, None, [{"id": {"x": 3}}], ["categories[0]", "id"]),
    (None, None, [{"id": 3, "name": ["cat"]}], ["categories[0]", "name"]),
    (None, [{**ANN, "id": [5]}], None, ["annotations[0]", "id"]),
    (None, [{**ANN, "image_id": [1]}], None, ["annotations[0]", "image_id"]),
    (None, [{**ANN, "image_id": {"1": 1}}], None, ["annotations[0]", "image_id"]),
    (None, [{**ANN, "category_id": [3]}], None, ["annotations[0]", "category_id"]),
    (None, [{**ANN, "category_id": {}}], None, ["annotations[0]", "category_id"]),
    (None, [{**ANN, "bbox": [10 ** 400, 4, 10, 10]}], None, ["annotation id 5", "bbox",
                                                            "finite"]),
    (None, [{**ANN, "bbox": [4, 4, math.nan, 10]}], None, ["annotation id 5", "bbox",
                                                          "finite"]),
    (None, [{**ANN, "bbox": [4, math.inf, 10, 10]}], None, ["annotation id 5", "bbox"]),
    (None, [{**ANN, "bbox": [4, -math.inf, 10, 10]}], None, ["annotation id 5", "bbox"]),
    ([{**IMAGE, "width": "48"}], None, None, ["image id 1", "width", "'48'",
                                              "whole number"]),
    ([{**IMAGE, "height": [48]}], None, None, ["image id 1", "height"]),
    ([{**IMAGE, "width": 10 ** 400}], None, None, ["image id 1", "width"]),
    ([{**IMAGE, "file_name": "a\x00.png"}], None, None, ["image id 1", "file_name", "NUL"]),
    ([{**IMAGE, "file_name": ["a.png"]}], None, None, ["image id 1", "file_name"]),
    ([IMAGE, {**IMAGE, "file_name": "b.png"}], None, None, ["images[1]", "id 1",
                                                           "images[0]", "twice"]),
    (None, None, [CAT, {"id": 3, "name": "dog"}], ["categories[1]", "id 3", "twice"]),
    (None, [ANN, {**ANN, "bbox": [1, 1, 2, 2]}], None, ["annotations[1]", "id 5", "twice"]),
    ([{**IMAGE, "id": "x"}, {**IMAGE, "id": "x", "file_name": "b.png"}], None, None,
     ["images[1]", "id 'x'", "twice"]),
])
def test_wrong_fields_name_file_and_field(tmp_path, images, annotations, categories, words):
    if annotations is None and images is not None and not isinstance(images[0]["id"], int):
        annotations = []  # the images' own problem, not their annotations'
    opts = dataset(tmp_path, images, annotations, categories, files=("a.png", "b.png"))
    text = refused(tmp_path, opts)
    for w in words:
        assert w in text, (w, text)


def test_a_number_of_5000_digits(tmp_path):
    text = refused(tmp_path, dataset(tmp_path, text='{"images": [{"id": ' + "9" * 5000 +
                                     '}], "annotations": [], "categories": []}'))
    assert "ann.json: not valid JSON" in text and "4300" in text.replace(",", ""), text


def test_json_nested_100000_deep(tmp_path):
    deep = '{"images": ' + "[" * 100_000 + "]" * 100_000 + "}"
    text = refused(tmp_path, dataset(tmp_path, text=deep))
    assert "ann.json" in text and "nested" in text


def test_a_png_claiming_100000_by_100000(tmp_path):
    opts = dataset(tmp_path)
    png_header(tmp_path / "data" / "a.png", 100_000, 100_000)
    text = refused(tmp_path, opts)
    assert "image id 1" in text and "a.png" in text and "too large" in text


# 8. Anything that is not a regular file is refused, never waited on ---------------------------

from tests.waiting import in_time  # noqa: E402


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_in_place_of_an_image(tmp_path):
    opts = dataset(tmp_path, files=())
    fifo = tmp_path / "data" / "a.png"
    os.mkfifo(fifo)
    with pytest.raises(DataError) as e:
        in_time(lambda: load_dataset("coco", opts, 0, tmp_path), fifos=[fifo])
    assert str(e.value) == f"{tmp_path / 'data' / 'ann.json'}: image id 1: {fifo} is not a " \
                           "regular file (a named pipe)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_in_place_of_the_annotations(tmp_path):
    opts = dataset(tmp_path)
    f = tmp_path / "data" / "ann.json"
    f.unlink()
    os.mkfifo(f)
    with pytest.raises(DataError) as e:
        in_time(lambda: load_dataset("coco", opts, 0, tmp_path), fifos=[f])
    assert str(e.value) == f"{f}: not a regular file (a named pipe)"


# 10. A memory bound, estimated before anything is allocated -----------------------------------

def test_5000_images_of_4096_by_4096_are_refused_before_allocating(tmp_path):
    images = [{"id": i, "file_name": f"{i}.png"} for i in range(5000)]
    opts = dataset(tmp_path, images, [], files=(), height=4096, width=4096, streaming="off")
    text = refused(tmp_path, opts)
    assert text.startswith(f"{tmp_path / 'data' / 'ann.json'}: 5,000 images of 3 × 4096 × "
                           "4096 with up to 1 object each would take 1016 GiB of memory (at "
                           "most 4 GiB; images 938 GiB, masks 78 GiB)"), text


def test_20000_objects_on_one_image_are_refused_before_allocating(tmp_path):
    anns = [{"id": i, "image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2]}
            for i in range(20_000)]
    opts = dataset(tmp_path, annotations=anns, height=512, width=512, streaming="off")
    text = refused(tmp_path, opts)
    assert "1 image of 3 × 512 × 512 with up to 20,000 objects each would take 4.9 GiB" \
        in text and "masks 4.9 GiB" in text, text
    assert "max_objects" in text


def test_the_bound_is_the_image_folders():
    from runtime.data.images import MAX_IMAGE_BYTES
    assert coco.MAX_BYTES == MAX_IMAGE_BYTES


def test_the_bound_counts_the_proposals(tmp_path, monkeypatch):
    monkeypatch.setattr(coco, "MAX_BYTES", 2 ** 19)
    opts = dataset(tmp_path, [{"id": i, "file_name": "a.png"} for i in range(10)], [],
                   height=16, width=16, proposals=5000)
    text = refused(tmp_path, opts)
    assert "(at most 512 KiB; proposals 781 KiB, images 30 KiB" in text, text
    assert text.endswith("fewer proposals per image (proposals), or fewer images"), text


def test_loading_stops_between_images_when_the_run_is_stopped(tmp_path):
    from runtime.detection.datasets import report_progress
    from runtime.detection.proposals import SearchStopped
    opts = dataset(tmp_path)
    report_progress(None, stop=lambda: True)
    try:
        with pytest.raises(SearchStopped):
            load_dataset("coco", opts, 0, tmp_path)
    finally:
        report_progress(None)
    assert len(load_dataset("coco", opts, 0, tmp_path)) == 1
