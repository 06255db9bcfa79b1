"""The augmentation preview of an image-folder project (issue 27 item 2): each row a training
sample with its class name (the subfolder's), its first cell the sample as read, then the
augmented ones; pictures larger than a cell scaled down to fit the panel."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.augment_form import SAMPLES, WAYS, AugmentBox
from runtime.data import load_dataset
from runtime.train import split

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ("circle", "square", "triangle")


def folder(root: Path, side: int) -> None:
    """Three classes of side × side pictures, each its own colour, JPEG and PNG mixed."""
    rng = np.random.default_rng(0)
    for k, cls in enumerate(CLASSES):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            a = rng.integers(0, 60, (side, side, 3)).astype(np.uint8)
            a[side // 4:3 * side // 4, side // 4:side // 2, k] = 230  # a block, off-centre
            Image.fromarray(a).save(root / cls / f"{i}.{'jpg' if i % 2 else 'png'}",
                                    quality=95)


def project(tmp_path: Path, side: int) -> tuple[Path, dict]:
    folder(tmp_path / "shapes", side)
    d = json.loads((ROOT / "templates" / "resnet.json").read_text())
    for n in d["nodes"]:
        if n["id"] == "image":
            n["params"]["shape"] = [3, side, side]
    options = {"path": "shapes", "channels": 3, "height": side, "width": side}
    d["data"] = {"dataset": "images", "options": options, "bind": {"image": "x", "label": "y"},
                 "augment": {"hflip": 0.5, "rotation": 30, "brightness": 0.3,
                             "random_resized_crop": {"scale": [0.6, 1.0],
                                                     "ratio": [0.75, 1.333]},
                             "normalize": "from data"}}
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(d))
    return path, options


def previewed(win, qtbot, path):
    assert win.open_path(path, ask=False)
    win.docks["training"].show()
    win.docks["training"].raise_()
    b = win.training.findChild(AugmentBox, "augment")
    qtbot.mouseClick(b.preview_button, Qt.LeftButton)
    assert b.job.wait(60)
    qtbot.waitUntil(b.grid.isVisible)
    image = b.grid.pixmap().toImage().convertToFormat(QImage.Format_RGB888)
    w, h = image.width(), image.height()
    pixels = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * h)
    pixels = pixels.reshape(h, image.bytesPerLine())[:, :3 * w].reshape(h, w, 3).copy()
    return b, pixels  # a copy: the QImage's memory goes with it


def first_samples(tmp_path, options):
    t = json.loads((tmp_path / "shapes.json").read_text())["training"]
    ds = load_dataset("images", options, t["seed"], tmp_path)
    _, train_idx = split(len(ds), t["seed"], t["val_split"], ds.name)
    idx = train_idx[:SAMPLES]
    return ds.fields["x"][idx].numpy(), [ds.classes[int(v)] for v in ds.fields["y"][idx]]


def cell(pixels, r):
    return pixels[r.top():r.bottom() + 1, r.left():r.right() + 1]


def test_rows_name_their_class_and_begin_with_the_sample_as_read(win, qtbot, tmp_path):
    path, options = project(tmp_path, 8)
    b, pixels = previewed(win, qtbot, path)
    originals, names = first_samples(tmp_path, options)
    assert b.row_labels == names and set(names) <= set(CLASSES)
    assert len(b.cells) == SAMPLES and all(len(row) == 1 + WAYS for row in b.cells)
    for i, row in enumerate(b.cells):
        got = cell(pixels, row[0])
        f = got.shape[0] // 8  # small pictures are enlarged by whole pixels
        want = (originals[i].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
        assert f >= 1 and got.shape == (8 * f, 8 * f, 3)
        assert np.array_equal(got, want.repeat(f, 0).repeat(f, 1))
        augmented = {cell(pixels, r).tobytes() for r in row[1:]}
        assert len(augmented) == WAYS and got.tobytes() not in augmented
    assert "as read" in b.preview_note.text() and "their classes" in b.preview_note.text()
    assert pixels.shape[1] <= b.contentsRect().width()


def test_large_pictures_are_scaled_down_to_fit_the_panel(win, qtbot, tmp_path):
    path, options = project(tmp_path, 120)  # 9 columns of 120 px would not fit
    b, pixels = previewed(win, qtbot, path)
    assert pixels.shape[1] <= b.contentsRect().width()
    originals, names = first_samples(tmp_path, options)
    assert b.row_labels == names
    for i, row in enumerate(b.cells):
        got = cell(pixels, row[0]).astype(np.float32)
        assert 8 <= got.shape[0] < 120
        want = Image.fromarray((originals[i].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))
        want = np.asarray(want.resize((got.shape[1], got.shape[0]), Image.BILINEAR),
                          np.float32)
        assert np.abs(got - want).mean() < 12  # the same picture, smaller


@pytest.mark.parametrize("streaming", ["on"])
def test_a_streamed_folder_previews_too(win, qtbot, tmp_path, streaming):
    path, options = project(tmp_path, 16)
    d = json.loads(path.read_text())
    d["data"]["options"]["streaming"] = streaming
    path.write_text(json.dumps(d))
    b, pixels = previewed(win, qtbot, path)
    originals, names = first_samples(tmp_path, options)
    assert b.row_labels == names and len(b.cells) == SAMPLES
