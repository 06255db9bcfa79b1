"""The 'images' dataset: a folder with one subfolder of PNG / JPEG files per class."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import runtime.data.images as data
from graph.project import load
from graph.settings import DataSettings
from runtime.data import (DataError, image_folder_summary, images_options_for_shape,
                          load_dataset)
from runtime.train import Trainer

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
COLOURS = {"c1": (255, 0, 0), "c2": (0, 255, 0), "c10": (0, 0, 255)}


def save(path: Path, im: Image.Image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def squares(root: Path) -> Path:
    """Three classes of plain colour squares, of several sizes, formats and colour modes."""
    for name, rgb in COLOURS.items():
        save(root / name / "a.png", Image.new("RGB", (5, 7), rgb))
        save(root / name / "b.jpg", Image.new("RGB", (40, 30), rgb), quality=95)
        save(root / name / "c.png", Image.new("RGBA", (16, 16), rgb + (255,)))
        save(root / name / "d.png", Image.new("RGB", (9, 9), rgb).convert("P"))
    return root


def load_images(root, **options):
    return load_dataset("images", {"path": str(root), **options})


def test_fields_shapes_range_and_class_order(tmp_path):
    d = load_images(squares(tmp_path / "imgs"), height=8, width=6)
    x, y = d.fields["x"], d.fields["y"]
    assert x.shape == (12, 3, 8, 6) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0 and x.max() <= 1
    assert d.classes == ["c1", "c2", "c10"]  # natural order, not c1, c10, c2
    assert y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    for k, name in enumerate(d.classes):
        want = torch.tensor(COLOURS[name], dtype=torch.float32) / 255
        got = x[y == k].mean(dim=(2, 3))  # per image, per channel
        assert torch.allclose(got, want.expand_as(got), atol=0.03), (name, got)
    assert d.name == "imgs" and "12 images in 3 classes, 3 × 8 × 6" in d.description


def test_grey_is_luma_and_grey_files_become_rgb(tmp_path):
    root = squares(tmp_path / "imgs")
    save(root / "c1" / "grey.png", Image.new("L", (4, 4), 128))
    d = load_images(root, channels=1, height=4, width=4)
    assert d.fields["x"].shape == (13, 1, 4, 4)
    red = d.fields["x"][1]  # a.png, grey.png, b.jpg, ...: natural order of the names
    assert abs(float(red.mean()) - 76 / 255) < 0.01  # ITU-R 601-2 luma of pure red
    d = load_images(root, channels=3, height=4, width=4)
    grey = d.fields["x"][4]  # c.png, d.png, grey.png of class c1
    assert torch.allclose(grey, torch.full((3, 4, 4), 128 / 255))


def test_resizing_stretch_crop_and_pad(tmp_path):
    root = tmp_path / "imgs"
    wide = np.zeros((20, 40), np.uint8)
    wide[:, 10:30] = 255  # the centre square white, black at the sides
    save(root / "a" / "wide.png", Image.fromarray(wide))
    opts = {"channels": 1, "height": 8, "width": 8}
    stretched = load_images(root, **opts).fields["x"][0, 0]
    assert stretched[:, 3:5].min() == 1 and stretched[:, 0].max() == 0  # sides squeezed in
    cropped = load_images(root, fit="crop", **opts).fields["x"][0, 0]
    assert cropped.min() > 0.99  # only the white centre is left
    save(root / "a" / "wide.png", Image.new("L", (40, 20), 255))
    padded = load_images(root, fit="pad", **opts).fields["x"][0, 0]
    assert padded[2:6].min() == 1 and padded[:2].max() == 0 and padded[6:].max() == 0
    big = load_images(root, channels=1, height=64, width=48).fields["x"]  # enlarged too
    assert big.shape == (1, 1, 64, 48) and big.min() == 1


def test_transparency_palettes_cmyk_and_deep_images(tmp_path):
    root = tmp_path / "imgs"
    half = Image.new("RGBA", (8, 8), (255, 255, 255, 255))
    half.paste((255, 255, 255, 0), (0, 0, 8, 4))  # top half transparent
    save(root / "a" / "1_rgba.png", half)
    save(root / "a" / "2_la.png", half.convert("LA"))
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 255, 255, 255])
    pal.paste(0, (0, 0, 8, 4))
    save(root / "a" / "3_p.png", pal, transparency=0)
    save(root / "a" / "4_cmyk.jpg", Image.new("CMYK", (8, 8), (0, 0, 0, 0)), quality=95)
    deep = np.full((8, 8), 65535, np.uint16)
    deep[:4] = 32768
    save(root / "a" / "5_16bit.png", Image.fromarray(deep))
    save(root / "a" / "6_bits.png", Image.new("1", (8, 8), 1))
    d = load_images(root, height=8, width=8)
    x = d.fields["x"]
    assert x.shape == (6, 3, 8, 8)
    for i in range(3):  # transparent: black; opaque white stays white
        assert x[i, :, :4].max() == 0 and x[i, :, 4:].min() == 1, i
    assert x[3].min() > 0.95  # CMYK paper white
    assert abs(float(x[4, :, :4].mean()) - 0.5) < 0.01 and x[4, :, 4:].min() == 1
    assert x[5].min() == 1
    assert torch.equal(load_images(root, channels=1, height=8, width=8).fields["x"][4, 0],
                       x[4, 0])  # the 16-bit grey: the same either way


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((8, 16), np.uint8)
    a[:, :8] = 255  # stored 16 wide: the left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: 8 wide, the top half white
    save(tmp_path / "imgs" / "a" / "turned.png", Image.fromarray(a), exif=exif)
    x = load_images(tmp_path / "imgs", channels=1, height=16, width=8).fields["x"][0, 0]
    assert x[:8].min() == 1 and x[8:].max() == 0


def test_skips_hidden_and_other_files_walks_subfolders(tmp_path):
    root = squares(tmp_path / "imgs")
    (root / "c1" / "notes.txt").write_text("not an image")
    (root / "c1" / ".hidden.png").write_bytes(b"junk")  # e.g. macOS ._ files
    (root / "c1" / "Thumbs.db").write_bytes(b"junk")
    (root / ".git").mkdir()
    save(root / ".git" / "x.png", Image.new("RGB", (4, 4)))
    save(root / "__MACOSX" / "c1" / "._a.png", Image.new("RGB", (4, 4)))
    save(root / "c2" / "more" / "deeper" / "e.PNG", Image.new("RGB", (4, 4), COLOURS["c2"]))
    d = load_images(root, height=4, width=4)
    assert d.classes == ["c1", "c2", "c10"] and d.fields["y"].bincount().tolist() == [4, 5, 4]


def test_limit_per_class_takes_a_seeded_sample(tmp_path):
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        for i in range(10):
            save(root / c / f"{i}.png", Image.new("L", (2, 2), i * 20))
    first = load_dataset("images", {"path": str(root), "limit_per_class": 3, "channels": 1},
                         seed=1)
    again = load_dataset("images", {"path": str(root), "limit_per_class": 3, "channels": 1},
                         seed=1)
    other = load_dataset("images", {"path": str(root), "limit_per_class": 3, "channels": 1},
                         seed=2)
    assert first.fields["y"].tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(first.fields["x"], again.fields["x"])
    assert not torch.equal(first.fields["x"], other.fields["x"])
    assert len(load_images(root, limit_per_class=50)) == 20


def test_path_is_relative_to_the_project_folder(tmp_path):
    squares(tmp_path / "proj" / "imgs")
    d = load_dataset("images", {"path": "imgs"}, base_dir=tmp_path / "proj")
    assert len(d) == 12
    d = load_dataset("images", {"path": "."}, base_dir=tmp_path / "proj" / "imgs")
    assert d.name == "imgs" and d.description.startswith("imgs: 12 images in 3 classes")


def test_options_for_an_input_shape(tmp_path):
    assert images_options_for_shape([1, 8, 8]) == {"channels": 1, "height": 8, "width": 8}
    assert images_options_for_shape((3, 32, 24)) == {"channels": 3, "height": 32, "width": 24}
    for bad in ([2, 8, 8], [8, 8], [64], [1, 0, 8], [3, 8, 5000], [3, 8.0, 8], None, "3x8x8"):
        assert images_options_for_shape(bad) is None, bad
    opts = images_options_for_shape([1, 12, 10])
    assert load_images(squares(tmp_path / "imgs"), **opts).fields["x"].shape[1:] == (1, 12, 10)


def links_allowed(tmp_path) -> bool:
    try:
        (tmp_path / "probe").symlink_to(tmp_path)
        return True
    except OSError:
        return False


def test_links_that_leave_the_folder_are_not_followed(tmp_path):
    if not links_allowed(tmp_path):
        pytest.skip("no symbolic links here")
    root = squares(tmp_path / "imgs")
    secret = tmp_path / "elsewhere"
    save(secret / "private.png", Image.new("RGB", (4, 4)))
    (root / "outside").symlink_to(secret, target_is_directory=True)  # a class leading out
    (root / "c1" / "leak.png").symlink_to(secret / "private.png")
    (root / "c2" / "loop").symlink_to(root / "c2", target_is_directory=True)
    (root / "c10" / "copy.png").symlink_to(root / "c10" / "a.png")  # inside: followed
    (root / "alias").symlink_to(root / "c1", target_is_directory=True)  # inside: a class
    d = load_images(root, height=4, width=4)
    assert d.classes == ["alias", "c1", "c2", "c10"]
    assert d.fields["y"].bincount().tolist() == [4, 4, 4, 5]
    # outside/, and leak.png twice: through c1/ and through alias/
    assert "3 links leading out of the folder not followed" in d.description


def corrupt_files(tmp_path) -> dict:
    good = save(tmp_path / "good.png", Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)))
    data_ = good.read_bytes()
    crc = bytearray(data_)
    crc[60] ^= 0xFF  # a byte inside the image data: its CRC no longer matches
    jpeg = save(tmp_path / "good.jpg", Image.new("RGB", (32, 32), (9, 99, 199))).read_bytes()
    return {"noise.png": os.urandom(200), "empty.jpg": b"", "text.png": b"a,b\n1,2\n",
            "cut.png": data_[:len(data_) // 2], "crc.png": bytes(crc),
            "cut.jpg": jpeg[:len(jpeg) // 3]}


@pytest.mark.parametrize("case", ["noise.png", "empty.jpg", "text.png", "cut.png", "crc.png",
                                  "cut.jpg"])
def test_a_damaged_image_is_an_error_naming_it(tmp_path, case):
    root = squares(tmp_path / "imgs")
    f = root / "c2" / case
    f.write_bytes(corrupt_files(tmp_path)[case])
    with pytest.raises(DataError) as info:
        load_images(root)
    text = str(info.value)
    expected = {"noise.png": "not an image that can be read (damaged, or not really a PNG",
                "empty.jpg": "the file is empty",
                "text.png": "not an image that can be read",
                "cut.png": "damaged or unsupported image (OSError: image file is truncated",
                "crc.png": "damaged or unsupported image (OSError",
                "cut.jpg": "damaged or unsupported image (OSError"}[case]
    assert text.startswith(f"{f}: {expected}"), text


def test_folder_errors(tmp_path, monkeypatch):
    def error(path, **options) -> str:
        with pytest.raises(DataError) as info:
            load_images(path, **options)
        return str(info.value)

    assert error(tmp_path / "none") == f"{tmp_path / 'none'}: no such folder"
    (tmp_path / "file.png").write_bytes(b"x")
    assert error(tmp_path / "file.png").startswith(f"{tmp_path / 'file.png'}: a file, not a folder")
    with pytest.raises(DataError, match="data.options.path: give the folder of images"):
        load_dataset("images", {})
    flat = tmp_path / "flat"
    save(flat / "a.png", Image.new("RGB", (4, 4)))
    assert error(flat) == (f"{flat}: no class subfolders: put the images of each class in a "
                           "subfolder named after it (e.g. cat/, dog/); the 1 image directly "
                           "in it is not used")
    save(flat / "b.png", Image.new("RGB", (4, 4)))
    assert error(flat).endswith("; the 2 images directly in it are not used")
    root = squares(tmp_path / "imgs")
    (root / "empty").mkdir()
    assert error(root) == (f"{root / 'empty'}: the class folder 'empty' holds no images "
                           "(PNG or JPEG files)")
    (root / "empty" / "readme.txt").write_text("x")
    assert error(root).endswith("holds no images (PNG or JPEG files; 1 other file)")
    (root / "empty" / "readme.txt").unlink()
    (root / "empty").rmdir()
    monkeypatch.setattr(data, "MAX_IMAGES", 11)
    assert error(root) == (f"{root}: 12 images, more than the 11 one dataset loads: set "
                           "limit_per_class to take a sample of each class")
    assert len(load_images(root, limit_per_class=3)) == 9
    monkeypatch.undo()
    monkeypatch.setattr(data, "MAX_IMAGE_BYTES", 2 ** 30)
    assert error(root, height=4096, width=4096, streaming="off").startswith(
        f"{root}: 12 images of 3 × 4096 × 4096 would take 2.2 GiB of memory (at most 1 GiB)")
    monkeypatch.setattr(data, "MAX_ENTRIES", 10)
    assert "more than 10 files and folders: choose the folder that holds one" in error(root)


@pytest.mark.parametrize("options, message", [
    ({"channels": 2}, "data.options.channels: must be 1 (grey) or 3 (RGB) (got 2)"),
    ({"channels": True}, "data.options.channels: must be 1 (grey) or 3 (RGB)"),
    ({"channels": 1.0}, "data.options.channels: must be 1 (grey) or 3 (RGB)"),
    ({"height": 0}, "data.options.height: must be a whole number 1 to 4,096 (got 0)"),
    ({"fit": "zoom"}, "data.options.fit: must be 'stretch', 'crop' or 'pad'"),
    ({"limit_per_class": -1}, "data.options.limit_per_class: must be a whole number 0 to"),
    ({"size": 8}, "data.options.size: dataset 'images' has no such option (it takes: path, "
                  "channels, height, width, fit, limit_per_class, streaming)"),
])
def test_option_checks(options, message):
    with pytest.raises(DataError) as info:
        load_dataset("images", {"path": "x", **options})
    assert str(info.value).startswith(message), str(info.value)


def test_summary_counts_without_decoding(tmp_path):
    root = squares(tmp_path / "proj" / "imgs")
    (root / "c2" / "broken.png").write_bytes(b"not decoded by the summary")
    assert image_folder_summary("imgs", tmp_path / "proj") == {"c1": 4, "c2": 5, "c10": 4}
    (root / "none").mkdir()
    with pytest.raises(DataError, match="the class folder 'none' holds no images"):
        image_folder_summary(str(root))


def test_importing_the_catalogue_does_not_load_pillow(tmp_path):
    squares(tmp_path / "imgs")
    code = ("import sys, runtime.data as d; print(d.image_folder_summary(sys.argv[1])); "
            "print('PIL' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "imgs")], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "False False"


def stripes(root: Path, per_class: int = 40) -> Path:
    """Three classes a small CNN tells apart: horizontal, vertical and diagonal stripes, in
    several sizes, colours and formats, with noise."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(["horizontal", "vertical", "diagonal"]):
        for i in range(per_class):
            side = int(rng.integers(8, 24))
            yy, xx = np.mgrid[0:side, 0:side] * 8 // side
            pattern = [yy % 2, xx % 2, (xx + yy) % 2][k].astype(np.float32)
            a = np.clip(pattern * 200 + rng.normal(30, 20, (side, side)), 0, 255).astype(np.uint8)
            im = Image.fromarray(a)
            if i % 3 == 1:
                im = im.convert("RGB")
            save(root / name / f"{i}.{'jpg' if i % 3 == 2 else 'png'}", im)
    return root


def test_the_cnn_template_trains_on_an_image_folder(tmp_path):
    stripes(tmp_path / "imgs")
    p = load(TEMPLATES / "cnn.json")
    shape = p.graph.params("image")["shape"]  # what the panel reads from the Input
    options = {"path": "imgs", **images_options_for_shape(shape)}
    p.data = DataSettings(dataset="images", options=options, bind={"image": "x", "label": "y"})
    p.training.epochs = 8
    events = list(Trainer(p, base_dir=tmp_path, device="cpu").run())
    assert events[-1].kind == "finished", getattr(events[-1], "message", events[-1])
    steps = [e.loss for e in events if e.kind == "step"]
    assert steps[-1] < steps[0] * 0.5
    assert events[-1].metrics["val_accuracy"] > 0.8


def test_cli_trains_a_project_whose_images_sit_beside_it(tmp_path):
    folder = tmp_path / "my project"
    stripes(folder / "pictures", per_class=10)
    p = load(TEMPLATES / "cnn.json")
    p.data = DataSettings(dataset="images",
                          options={"path": "pictures", "channels": 1, "height": 8, "width": 8},
                          bind={"image": "x", "label": "y"})
    p.save(folder / "mine.json")
    r = subprocess.run([sys.executable, "-m", "app.cli", "train", str(folder / "mine.json"),
                        "--max-steps", "5", "--json", "--device", "cpu"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["steps"] == 5 and np.isfinite(result["final_loss"])


def test_cli_out_copy_still_finds_its_images(tmp_path):
    a = tmp_path / "A"
    stripes(a / "pictures", per_class=4)
    p = load(TEMPLATES / "cnn.json")
    p.data = DataSettings(dataset="images",
                          options={"path": "pictures", "channels": 1, "height": 8, "width": 8},
                          bind={"image": "x", "label": "y"})
    p.save(a / "mine.json")
    r = subprocess.run([sys.executable, "-m", "app.cli", "train", str(a / "mine.json"),
                        "--out", str(tmp_path / "B"), "--max-steps", "2", "--device", "cpu",
                        "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert load(tmp_path / "B" / "mine.json").data.options["path"] == "../A/pictures"


def test_either_module_may_be_imported_first():
    import subprocess
    import sys
    for first in ("runtime.data.images", "runtime.data"):
        code = f"import {first}\nfrom runtime.data import FITS, DATASETS\nassert 'images' in DATASETS"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[2])
        assert r.returncode == 0, r.stderr


# Hostile folders (issue 23, items 8 and 11) ----------------------------------------------------

from tests.waiting import in_time  # noqa: E402


def test_a_symlink_loop_at_the_top_level_is_skipped(tmp_path):
    if not links_allowed(tmp_path):
        pytest.skip("no symbolic links here")
    root = squares(tmp_path / "imgs")
    (root / "loop").symlink_to(root / "loop")  # stat() says ELOOP
    (root / "a").symlink_to(root / "b")  # a cycle of two
    (root / "b").symlink_to(root / "a")
    (root / "c2" / "self.png").symlink_to(root / "c2" / "self.png")
    assert image_folder_summary(str(root)) == {"c1": 4, "c2": 4, "c10": 4}
    d = load_images(root, height=4, width=4)
    assert d.classes == ["c1", "c2", "c10"] and len(d) == 12
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "loop.png").symlink_to(flat / "loop.png")
    with pytest.raises(DataError, match="no class subfolders"):
        load_images(flat)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipes_are_not_read(tmp_path):
    root = squares(tmp_path / "imgs")
    fifo = root / "c1" / "pipe.png"
    os.mkfifo(fifo)
    if links_allowed(tmp_path):
        (root / "c2" / "to-pipe.png").symlink_to(fifo)
    os.mkfifo(root / "pipe")  # a class folder? no: not a folder
    d = in_time(lambda: load_images(root, height=4, width=4), fifos=[fifo])
    assert d.fields["y"].bincount().tolist() == [4, 4, 4]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_file_that_becomes_a_pipe_after_the_scan_is_refused(tmp_path, monkeypatch):
    root = squares(tmp_path / "imgs")
    fifo = root / "c1" / "a.png"
    real = data._Scan.images

    def swapped(self, folder):  # the file is replaced between the scan and the read
        found = real(self, folder)
        if folder.name == "c1":
            fifo.unlink()
            os.mkfifo(fifo)
        return found
    monkeypatch.setattr(data._Scan, "images", swapped)
    with pytest.raises(DataError) as e:
        in_time(lambda: load_images(root, height=4, width=4), fifos=[fifo])
    assert str(e.value).startswith(f"{fifo}: not a regular file")
