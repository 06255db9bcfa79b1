"""Detection data (issue 13): the generated shapes, selective-search proposals and their
cache, and COCO JSON files, good and bad."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from runtime.data import DataError, load_dataset
from runtime.detection import proposals as P
from runtime.detection.shapes import box_of, make_shapes_detect


def test_shapes_fields_and_padding():
    ds = make_shapes_detect(3, n_samples=40, max_objects=4)
    f = ds.fields
    assert f["image"].shape == (40, 3, 64, 64) and f["boxes"].shape == (40, 4, 4)
    assert f["labels"].dtype == torch.int64 and f["masks"].shape == (40, 4, 64, 64)
    counts = (f["labels"] > 0).sum(1)
    assert counts.min() >= 1 and counts.max() <= 4 and len(set(counts.tolist())) > 1
    for i in range(40):
        for k in range(4):
            if f["labels"][i, k] > 0:  # each box is its mask's tight box
                assert box_of(f["masks"][i, k].numpy().astype(bool)) == f["boxes"][i, k].tolist()
            else:  # padding: no box, no mask
                assert f["boxes"][i, k].abs().sum() == 0 and f["masks"][i, k].sum() == 0
    assert ds.classes == ["background", "circle", "square", "triangle"]
    assert set(f["labels"][f["labels"] > 0].tolist()) == {1, 2, 3}


def test_shapes_are_seeded():
    a, b = make_shapes_detect(5, n_samples=8), make_shapes_detect(5, n_samples=8)
    assert all(torch.equal(a.fields[k], b.fields[k]) for k in a.fields)
    assert not torch.equal(a.fields["image"], make_shapes_detect(6, n_samples=8).fields["image"])


def test_proposals_cover_the_objects_and_come_from_the_cache(tmp_path):
    ds = make_shapes_detect(0, n_samples=24)
    images = ds.fields["image"].numpy()
    seen = []
    boxes, cached = P.proposals_for(images, 100, "fast", 2.0, tmp_path,
                                    progress=lambda d, n: seen.append((d, n)))
    assert not cached and boxes.shape == (24, 100, 4) and seen[-1] == (24, 24)
    assert P.recall(boxes, ds.fields["boxes"].numpy(), ds.fields["labels"].numpy()) >= 0.9
    again, cached = P.proposals_for(images, 100, "fast", 2.0, tmp_path)
    assert cached and np.array_equal(again, boxes)
    # another setting is another cache entry
    _, cached = P.proposals_for(images, 10, "fast", 2.0, tmp_path)
    assert not cached


def test_damaged_cache_is_computed_again(tmp_path):
    images = make_shapes_detect(0, n_samples=4).fields["image"].numpy()
    boxes, _ = P.proposals_for(images, 20, "single", 1.0, tmp_path)
    for f in tmp_path.iterdir():
        f.write_bytes(b"junk")
    again, cached = P.proposals_for(images, 20, "single", 1.0, tmp_path)
    assert not cached and np.array_equal(again, boxes)


def test_dataset_option_adds_the_proposals_field(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_HOME", str(tmp_path))
    ds = load_dataset("shapes_detect", {"n_samples": 6, "proposals": 30}, 0)
    assert ds.fields["proposals"].shape == (6, 30, 4)
    assert "proposals" not in load_dataset("shapes_detect", {"n_samples": 6, "proposals": 0},
                                           0).fields


# COCO -----------------------------------------------------------------------------------

def _coco(tmp_path, annotations=None, images=None, files=True, **extra):
    from PIL import Image
    folder = tmp_path / "data"
    (folder / "imgs").mkdir(parents=True)
    images = images or [{"id": 1, "file_name": "a.png", "width": 40, "height": 20},
                        {"id": 7, "file_name": "b.png"}]
    if files:
        for im in images:
            if im["file_name"] in ("a.png", "b.png"):
                Image.new("RGB", (40, 20), (200, 10, 10)).save(folder / "imgs" / im["file_name"])
    annotations = annotations if annotations is not None else [
        {"id": 1, "image_id": 1, "category_id": 5, "bbox": [10, 5, 20, 10]},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [0, 0, 40, 20],
         "segmentation": [[0, 0, 40, 0, 40, 20]]},
        {"id": 3, "image_id": 7, "category_id": 5, "bbox": [1, 1, 4, 4]}]
    d = {"images": images, "annotations": annotations,
         "categories": [{"id": 9, "name": "dog"}, {"id": 5, "name": "cat"}], **extra}
    (folder / "ann.json").write_text(json.dumps(d))
    return {"path": "data/ann.json", "images": "imgs", "height": 32, "width": 64,
            "proposals": 0}


def test_coco_loads_boxes_labels_and_masks(tmp_path):
    ds = load_dataset("coco", _coco(tmp_path), 0, tmp_path)
    f = ds.fields
    assert ds.classes == ["background", "cat", "dog"]  # by category id: 5 then 9
    assert f["image"].shape == (2, 3, 32, 64) and f["boxes"].shape == (2, 2, 4)
    # 40 × 20 resized to 64 × 32: × 1.6 both ways
    assert f["boxes"][0, 0].tolist() == pytest.approx([16, 8, 48, 24])
    assert f["labels"].tolist() == [[1, 2], [1, -1]]
    tri = f["masks"][0, 1].float()
    assert 0.3 < tri.mean() < 0.7  # the polygon (a triangle), not its box
    assert f["masks"][0, 0].sum() == 32 * 16  # no segmentation: the box filled


@pytest.mark.parametrize("change, words", [
    (lambda a, i: i[0].update(file_name="../outside.png"), ["leaves the images folder",
                                                           "image id 1"]),
    (lambda a, i: i[0].update(file_name="/etc/passwd"), ["leaves the images folder"]),
    (lambda a, i: i[0].update(file_name="missing.png"), ["missing.png", "does not exist"]),
    (lambda a, i: a[0].update(bbox=[30, 5, 20, 10]), ["annotation id 1", "outside the image"]),
    (lambda a, i: a[0].update(bbox=[1, 1, 0, 5]), ["annotation id 1", "empty"]),
    (lambda a, i: a[0].update(bbox=[1, 2]), ["annotations[0]", "[x, y, width, height]"]),
    (lambda a, i: a[0].update(image_id=99), ["annotations[0]", "image_id 99"]),
    (lambda a, i: a[0].update(category_id=3), ["annotations[0]", "category_id 3"]),
    (lambda a, i: i[0].update(width=41), ["image id 1", "width 41", "40 pixels"]),
])
def test_coco_problems_name_the_culprit(tmp_path, change, words):
    images = [{"id": 1, "file_name": "a.png", "width": 40, "height": 20},
              {"id": 7, "file_name": "b.png"}]
    anns = [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [10, 5, 20, 10]}]
    change(anns, images)
    opts = _coco(tmp_path, anns, images)
    with pytest.raises(DataError) as e:
        load_dataset("coco", opts, 0, tmp_path)
    for w in words:
        assert w in str(e.value)


def test_coco_bad_files(tmp_path):
    opts = _coco(tmp_path)
    ann = tmp_path / "data" / "ann.json"
    ann.write_text('{"images": [}')
    with pytest.raises(DataError, match=r"ann.json: not valid JSON \(line 1"):
        load_dataset("coco", opts, 0, tmp_path)
    ann.write_text('{"images": []}')
    with pytest.raises(DataError, match="'annotations' is missing"):
        load_dataset("coco", opts, 0, tmp_path)
    with pytest.raises(DataError, match="nope.json: no such file"):
        load_dataset("coco", {**opts, "path": "data/nope.json"}, 0, tmp_path)
    (tmp_path / "data" / "imgs" / "a.png").write_bytes(b"not a png")
    _coco_again = json.dumps({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [],
                              "categories": [{"id": 1}]})
    ann.write_text(_coco_again)
    with pytest.raises(DataError, match="a.png cannot be read as an image"):
        load_dataset("coco", opts, 0, tmp_path)
    with pytest.raises(DataError, match="leaves the images folder"):
        load_dataset("coco", {**opts, "images": "../.."}, 0, tmp_path)
