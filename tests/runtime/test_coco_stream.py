"""COCO detection data streamed (issue 27): images (and masks) read per sample, boxes, labels
and the selective-search proposals held whole; the validation mAP batch by batch. A streamed
fast_rcnn run with 0 workers trains to the losses and mAP of the same data in memory."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from graph.project import load
from graph.settings import DataSettings
from runtime.data import DataError, load_dataset
from runtime.data import stream as S
from runtime.data.stream import Column, StreamDataset
from runtime.train import Trainer

TEMPLATES = Path(__import__("templates").FOLDER)


def coco_folder(root: Path, n: int = 24, side: int = 64, seed: int = 0) -> dict:
    """n JPEG/PNG pictures of 1-3 coloured shapes (squares: cat 4, discs: cat 9) with
    their COCO annotations (some with a polygon) in root/data; the dataset options."""
    rng = np.random.default_rng(seed)
    folder = root / "data" / "imgs"
    folder.mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        w, h = side + 8 * (i % 3), side  # sizes differ: boxes are rescaled
        pic = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 60, 3)))
        draw = ImageDraw.Draw(pic)
        for k in range(1 + i % 3):
            s = int(rng.integers(12, 24))
            x, y = int(rng.integers(0, w - s)), int(rng.integers(0, h - s))
            disc = bool(rng.integers(0, 2))
            colour = (230, 40, 40) if disc else (40, 220, 60)
            (draw.ellipse if disc else draw.rectangle)([x, y, x + s - 1, y + s - 1], colour)
            a = {"id": len(anns) + 1, "image_id": i + 1, "category_id": 9 if disc else 4,
                 "bbox": [x, y, s, s]}
            if k == 1:
                a["segmentation"] = [[x, y, x + s, y, x + s, y + s]]
            anns.append(a)
        name = f"{i}.{'jpg' if i % 2 else 'png'}"
        pic.save(folder / name)
        entry = {"id": i + 1, "file_name": name}
        if i % 4:  # some without their size: read from the file's header
            entry.update(width=w, height=h)
        images.append(entry)
    d = {"images": images, "annotations": anns,
         "categories": [{"id": 4, "name": "square"}, {"id": 9, "name": "disc"}]}
    (root / "data" / "ann.json").write_text(json.dumps(d))
    return {"path": "data/ann.json", "images": "imgs", "height": side, "width": side,
            "proposals": 0}


def test_streamed_fields_equal_the_in_memory_ones(tmp_path):
    opts = {**coco_folder(tmp_path, n=14), "proposals": 30}
    mem = load_dataset("coco", {**opts, "streaming": "off"}, 0, tmp_path)
    ds = load_dataset("coco", {**opts, "streaming": "on"}, 0, tmp_path)
    assert isinstance(ds, StreamDataset) and not isinstance(mem, StreamDataset)
    f = ds.fields
    assert isinstance(f["image"], Column) and isinstance(f["masks"], Column)
    for k in ("boxes", "labels", "proposals"):  # small: whole
        assert isinstance(f[k], torch.Tensor) and torch.equal(f[k], mem.fields[k]), k
    idx = torch.tensor([0, 5, 8, 13])
    assert torch.equal(f["image"][idx], mem.fields["image"][idx])
    assert torch.equal(f["masks"][idx], mem.fields["masks"][idx])
    assert ds.classes == mem.classes == ["background", "square", "disc"]
    assert f["proposals"].abs().sum() > 0


def test_over_the_budget_streams_and_reads_only_what_is_asked(tmp_path, monkeypatch):
    opts = coco_folder(tmp_path)
    monkeypatch.setattr(S, "STREAM_BUDGET", 4 * 3 * 64 * 64 * 4)  # four images' pixels
    ds = load_dataset("coco", opts, 0, tmp_path)  # 'auto'
    assert isinstance(ds, StreamDataset)
    read, masks = [], []
    src = ds.source
    image, make = src.image, src.masks
    monkeypatch.setattr(src, "image", lambda i: (read.append(i), image(i))[1])
    monkeypatch.setattr(src, "masks", lambda i: (masks.append(i), make(i))[1])
    x = ds.fields["image"][torch.tensor([3, 17])]
    assert x.shape == (2, 3, 64, 64) and read == [3, 17] and masks == []  # masks not made
    assert ds.fields["masks"][2].shape == (3, 64, 64) and masks == [2]
    monkeypatch.undo()
    assert not isinstance(load_dataset("coco", opts, 0, tmp_path), StreamDataset)  # in memory


def fast_rcnn(options: dict, template: str = "fast_rcnn", **data):
    p = load(TEMPLATES / f"{template}.json")
    p.data = DataSettings(dataset="coco", options=options, bind=dict(p.data.bind), **data)
    p.training.epochs = 2
    p.training.batch_size = 8
    return p


def run(p, tmp_path):
    return list(Trainer(p, base_dir=tmp_path, device="cpu", log_every=1).run())


@pytest.mark.slow
@pytest.mark.parametrize("template, proposals", [("fast_rcnn", 100), ("mask_rcnn", 0)])
def test_streamed_detector_trains_as_in_memory(tmp_path, template, proposals):
    n = 20 if template == "fast_rcnn" else 10  # a Mask R-CNN step is slower
    opts = {**coco_folder(tmp_path, n=n), "proposals": proposals, "max_objects": 4}
    mem = run(fast_rcnn({**opts, "streaming": "off"}, template), tmp_path)
    streamed = run(fast_rcnn({**opts, "streaming": "on"}, template, workers=0), tmp_path)
    for events in (mem, streamed):
        assert events[-1].kind == "finished", getattr(events[-1], "message", events[-1])
    a = [e.loss for e in mem if e.kind == "step"]
    b = [e.loss for e in streamed if e.kind == "step"]
    assert len(a) == len(b) > 0 and np.allclose(a, b, atol=1e-5, rtol=0)
    ends = [[e.metrics for e in ev if e.kind == "epochend"] for ev in (mem, streamed)]
    assert all("val_map50" in m for m in ends[0])
    for m1, m2 in zip(*ends):
        assert m1.keys() == m2.keys()
        assert all(abs(m1[k] - m2[k]) < 1e-5 for k in m1), (m1, m2)


def test_a_missing_or_damaged_image_is_named_when_it_is_read(tmp_path):
    opts = {**coco_folder(tmp_path, n=6), "streaming": "on"}
    imgs = tmp_path / "data" / "imgs"
    (imgs / "1.jpg").unlink()  # image id 2: its size is in the JSON
    (imgs / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ds = load_dataset("coco", opts, 0, tmp_path)  # nothing decoded yet: it loads
    assert ds.fields["image"][0].shape == (3, 64, 64)
    with pytest.raises(DataError, match=r"ann\.json: image id 2: .*1\.jpg does not exist"):
        ds.fields["image"][1]
    with pytest.raises(DataError, match=r"image id 3: .*2\.png cannot be read as an image"):
        ds.fields["image"][2]
    # with proposals, every image is read while they are searched (by threads: whichever
    # bad picture is read first is named), at once
    with pytest.raises(DataError, match=r"1\.jpg does not exist|2\.png cannot be read"):
        load_dataset("coco", {**opts, "proposals": 10}, 0, tmp_path)


def test_a_run_over_a_damaged_image_ends_naming_it(tmp_path):
    opts = {**coco_folder(tmp_path, n=10), "streaming": "on", "proposals": 0, "max_objects": 4}
    (tmp_path / "data" / "imgs" / "7.jpg").write_bytes(b"\xff\xd8\xff garbage")
    events = run(fast_rcnn(opts, "mask_rcnn", workers=0), tmp_path)
    assert events[-1].kind == "failed"
    assert "7.jpg" in events[-1].message and "Traceback" not in events[-1].message


def test_size_the_json_gives_wrongly_is_named_when_read(tmp_path):
    opts = {**coco_folder(tmp_path, n=4), "streaming": "on"}
    ann = tmp_path / "data" / "ann.json"
    d = json.loads(ann.read_text())
    d["images"][1]["width"] = 99
    ann.write_text(json.dumps(d))
    ds = load_dataset("coco", opts, 0, tmp_path)
    with pytest.raises(DataError, match=r"image id 2 \(1\.jpg\) says width 99 but the file is "
                                        r"72 pixels"):
        ds.fields["image"][1]


def test_one_sample_too_large_to_stream_is_refused(tmp_path):
    opts = coco_folder(tmp_path, n=2)
    with pytest.raises(DataError, match=r"one image of 3 × 4096 × 4096 with up to 10 objects "
                                        r"would take .* as a sample"):
        load_dataset("coco", {**opts, "height": 4096, "width": 4096, "max_objects": 10,
                                      "streaming": "on"}, 0,
                     tmp_path)
