"""A folder of images, one subfolder per class (PNG, JPEG, ...), read with Pillow (imported
only when loading): the 'images' dataset kind (ARCHITECTURE.md, "A dataset kind").

A family module of runtime/data/: registers its kind in the base's DATASETS when imported
(runtime/data/__init__.py imports it). Light to import (numpy only).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from runtime.files import NotRegularFile, open_regular

from .base import DataError, DataNote, Dataset, DatasetSpec, Option, int_in, register
from .stream import STREAMING_OPTION, ImageFiles, streamed, wants_stream


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_IMAGES = 200_000  # the most images one dataset loads (set limit_per_class for more)
MAX_ENTRIES = 2_000_000  # files and folders scanned before the folder is judged a wrong choice
MAX_IMAGE_BYTES = 4 * 2 ** 30  # the float32 pixels held in memory, all images together
FITS = ("stretch", "crop", "pad")
_DEEP = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")  # 16/32-bit grey and float images


def images_options_for_shape(shape) -> dict | None:
    """The options of the 'images' dataset whose samples fit an Input of `shape`
    ([C, H, W] with C 1 for grey or 3 for colour): {"channels": C, "height": H, "width": W};
    None when no image fits that shape (another rank, C not 1 or 3, a side over 4,096)."""
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        return None
    c, h, w = shape
    ok = int_in(1, 4096)
    if c not in (1, 3) or not ok(c) or not ok(h) or not ok(w):
        return None
    return {"channels": c, "height": h, "width": w}


def _natural_key(name: str):
    """'class2' before 'class10'; case ignored, then the name itself breaks ties."""
    parts = re.split(r"(\d+)", name.casefold())
    return [int(t) if i % 2 else t for i, t in enumerate(parts)], name


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in ("__MACOSX", "Thumbs.db", "desktop.ini")


class _Scan:
    """Walks the image folder: never leaves it through a link, counts what it skips."""

    def __init__(self, root: Path):
        self.root = root
        self.real_root = Path(os.path.realpath(root))
        self.entries = 0
        self.links_out = 0

    def entries_of(self, folder: Path) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                out = [e for e in it if not _hidden(e.name)]
        except OSError as e:
            raise DataError(f"{folder}: cannot be read: {e.strerror or e}") from None
        self.entries += len(out)
        if self.entries > MAX_ENTRIES:
            raise DataError(f"{self.root}: more than {MAX_ENTRIES:,} files and folders: choose "
                            "the folder that holds one subfolder per class")
        return out

    def inside(self, e: os.DirEntry) -> bool:
        """False for a link that leads out of the folder (it is not followed)."""
        if not e.is_symlink():
            return True
        if Path(os.path.realpath(e.path)).is_relative_to(self.real_root):
            return True
        self.links_out += 1
        return False

    def images(self, folder: Path) -> tuple[list[Path], int]:
        """The image files under a class folder (its subfolders too), in natural order, and
        the number of other files (skipped)."""
        found, others = [], 0
        seen = {os.path.realpath(folder)}  # a link back up is walked once
        stack = [folder]
        while stack:
            for e in self.entries_of(stack.pop()):
                if not self.inside(e):
                    continue
                try:
                    if e.is_dir():
                        real = os.path.realpath(e.path)
                        if real not in seen:
                            seen.add(real)
                            stack.append(Path(e.path))
                    elif e.is_file():
                        if e.name.lower().endswith(IMAGE_SUFFIXES):
                            found.append(Path(e.path))
                        else:
                            others += 1
                except OSError:  # a broken link, a file gone meanwhile
                    others += 1
        found.sort(key=lambda f: _natural_key(f.relative_to(folder).as_posix()))
        return found, others


def _is_dir(e: os.DirEntry) -> bool:
    """e.is_dir(), False for a link that cannot be followed (a loop: ELOOP, not a folder)."""
    try:
        return e.is_dir()
    except OSError:
        return False


def _is_file(e: os.DirEntry) -> bool:
    try:
        return e.is_file()
    except OSError:
        return False


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 'es' if noun.endswith('s') else 's'}"


def _resolve_folder(path: Any, base_dir) -> Path:
    if not isinstance(path, str) or not path:
        raise DataError("data.options.path: give the folder of images (one subfolder per class)")
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if p.is_file():
        raise DataError(f"{p}: a file, not a folder (choose the folder that holds one subfolder "
                        "of images per class)")
    if not p.is_dir():
        raise DataError(f"{p}: no such folder")
    return p


def image_folder_summary(path: str, base_dir=None) -> dict[str, int]:
    """The classes of an image folder and how many images each holds, in class order, read
    from the names alone (nothing decoded, no Pillow, no torch: cheap enough for a preview);
    raises DataError as loading would for a wrong folder or an empty class."""
    return {c: len(found) for c, found in _scan_image_folder(path, base_dir)[2].items()}


def _scan_image_folder(path, base_dir) -> tuple[Path, _Scan, dict[str, list[Path]]]:
    root = _resolve_folder(path, base_dir)
    scan = _Scan(root)
    top = scan.entries_of(root)
    dirs = sorted((e for e in top if scan.inside(e) and _is_dir(e)),
                  key=lambda e: _natural_key(e.name))
    if not dirs:
        loose = sum(1 for e in top if _is_file(e) and e.name.lower().endswith(IMAGE_SUFFIXES))
        raise DataError(f"{root}: no class subfolders: put the images of each class in a "
                        "subfolder named after it (e.g. cat/, dog/)"
                        + (f"; the {_count(loose, 'image')} directly in it "
                           f"{'is' if loose == 1 else 'are'} not used" if loose else ""))
    by_class = {}
    for d in dirs:
        found, others = scan.images(Path(d.path))
        if not found:
            raise DataError(f"{d.path}: the class folder '{d.name}' holds no images (PNG or "
                            "JPEG files" + (f"; {_count(others, 'other file')}" if others
                                            else "") + ")")
        by_class[d.name] = found
    return root, scan, by_class


def load_images(seed: int, path: str = "", channels: int = 3, height: int = 32, width: int = 32,
                fit: str = "stretch", limit_per_class: int = 0, streaming: str = "auto",
                base_dir=None) -> Dataset:
    """Your own images: a folder with one subfolder per class (its name is the class name;
    classes in natural order: 'class2' before 'class10'), PNG, JPEG, BMP, GIF, WebP or TIFF
    files in each (subfolders included). Field x: N × channels × height × width floats in
    [0, 1]; field y: the class index. Set channels, height and width to the Input's shape
    (the training panel fills them from the Input). Images are turned upright (EXIF), made
    grey (luma) or RGB (transparency over black, 16-bit grey scaled to [0, 1]) and resized
    with Pillow's bilinear filter, which averages over the whole source area when it shrinks:
    'stretch' to the size, 'crop' the centre to its shape first, or 'pad' with black bars.
    Hidden files and files of other kinds are skipped; links that lead out of the folder
    are not followed."""
    root, scan, by_class = _scan_image_folder(path, base_dir)
    classes = list(by_class)
    files: list[Path] = []
    labels: list[int] = []
    rng = np.random.default_rng(seed)
    for k, found in enumerate(by_class.values()):
        if limit_per_class and len(found) > limit_per_class:  # a seeded sample, in name order
            keep = np.sort(rng.choice(len(found), limit_per_class, replace=False))
            found = [found[i] for i in keep]
        files += found
        labels += [k] * len(found)
    n = len(files)
    if n > MAX_IMAGES:
        raise DataError(f"{root}: {n:,} images, more than the {MAX_IMAGES:,} one dataset "
                        "loads: set limit_per_class to take a sample of each class")
    size = n * channels * height * width * 4
    note = f"; {_count(scan.links_out, 'link')} leading out of the folder not followed" \
        if scan.links_out else ""
    name = scan.real_root.name or str(root)  # a path such as "." has no name of its own
    about = (f"{name}: {_count(n, 'image')} in {_count(len(classes), 'class')}, "
             f"{channels} × {height} × {width} ({fit}){note}")
    if wants_stream(streaming, size):  # decoded per sample (runtime/data/stream.py)
        from functools import partial
        return streamed(name, ImageFiles(files, labels, (channels, height, width), partial(
            _image_reader, channels, height, width, fit)), about, classes)
    if size > MAX_IMAGE_BYTES:
        raise DataError(f"{root}: {n:,} images of {channels} × {height} × {width} would take "
                        f"{size / 2 ** 30:.1f} GiB of memory (at most "
                        f"{MAX_IMAGE_BYTES / 2 ** 30:.0f} GiB): use smaller images, set "
                        "limit_per_class, or set streaming to 'auto' or 'on'")
    x = np.empty((n, channels, height, width), np.float32)
    read = _image_reader(channels, height, width, fit)
    for i, f in enumerate(files):
        x[i] = read(f)
    np.divide(x, 255, out=x)  # the reader gives 0-255
    import torch
    return Dataset(name, {"x": torch.from_numpy(x), "y": torch.tensor(labels)}, about, classes)


def _size(f: Path) -> int | None:
    try:
        return f.stat().st_size
    except OSError:
        return None


def _image_reader(channels: int, height: int, width: int, fit: str):
    """A function reading one file into a channels × height × width array of 0-255 values."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    mode = "L" if channels == 1 else "RGB"
    size = (width, height)
    side = max(width, height)  # EXIF may turn the picture: ask the JPEG draft for a square
    bilinear = Image.Resampling.BILINEAR

    def fitted(im):
        if im.size == size:
            return im
        if fit == "crop":  # cut first: the filter then sees nothing of the cut-off parts
            w0, h0 = im.size
            if w0 * height > h0 * width:
                cw = max(1, round(h0 * width / height))
                im = im.crop(((w0 - cw) // 2, 0, (w0 - cw) // 2 + cw, h0))
            else:
                ch = max(1, round(w0 * height / width))
                im = im.crop((0, (h0 - ch) // 2, w0, (h0 - ch) // 2 + ch))
        elif fit == "pad":
            return ImageOps.pad(im, size, method=bilinear, color=0)
        if im.size == size:
            return im
        return im.resize(size, bilinear, reducing_gap=3.0)  # a 3x box step first: fast, close

    def normalised(im):
        if im.mode in _DEEP:  # 16-bit PNG/TIFF grey or float TIFF: 0-255 floats
            a = np.asarray(im, np.float32)
            a = a * (255 / 65535) if im.mode != "F" else a * 255
            im = Image.fromarray(np.clip(a, 0, 255, out=a), "F")
            return im
        if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
            im = im.convert("RGBA")
            flat = Image.new("RGB", im.size)  # transparent parts: black
            flat.paste(im, mask=im.getchannel("A"))
            im = flat
        return im if im.mode == mode else im.convert(mode)

    def read(f: Path) -> np.ndarray:
        try:  # a named pipe put in a file's place since the scan is refused, not waited on
            with open_regular(f) as fh, Image.open(fh) as im:
                if im.format == "JPEG":
                    im.draft(mode, (side, side))  # decode at 1/2, 1/4, 1/8 when that is enough
                im.load()
                if im.getexif().get(0x0112, 1) != 1:  # EXIF orientation
                    im = ImageOps.exif_transpose(im)
                im = fitted(normalised(im))
                a = np.asarray(im)
        except DataError:
            raise
        except Image.DecompressionBombError as e:
            raise DataError(f"{f}: too large to read safely ({e})") from None
        except UnidentifiedImageError:
            if _size(f) == 0:
                raise DataError(f"{f}: the file is empty") from None
            raise DataError(f"{f}: not an image that can be read (damaged, or not really a "
                            f"{f.suffix[1:].upper() or 'picture'} file)") from None
        except NotRegularFile as e:
            raise DataError(f"{f}: {e}") from None
        except (PermissionError, FileNotFoundError) as e:
            raise DataError(f"{f}: cannot be read: {e.strerror or e}") from None
        except Exception as e:  # truncated data, a bad CRC, a colour mode with no conversion
            raise DataError(f"{f}: damaged or unsupported image ({type(e).__name__}: {e})") \
                from None
        if a.ndim == 2:
            a = a[None]
            if channels == 3:  # a deep grey image stays grey until here
                a = np.repeat(a, 3, 0)
        else:
            a = a.transpose(2, 0, 1)
        return a

    return read


def images_note(options: dict, base_dir=None) -> DataNote:
    """For an export: the classes (the subfolders' names, in the order load_images numbers
    them, read without decoding an image) and how a picture becomes x (what load_images and
    _image_reader do to it)."""
    c, h, w, fit = (options[k] for k in ("channels", "height", "width", "fit"))
    colour = ("grey (Pillow's luma: 0.299 R + 0.587 G + 0.114 B)" if c == 1 else "RGB")
    fitted = {"stretch": f"resized to {w} × {h} (width × height; the aspect ratio not kept)",
              "crop": f"its centre cut to the shape {w}:{h}, then resized to {w} × {h} "
                      "(width × height)",
              "pad": f"resized to fit inside {w} × {h} (width × height), black bars filling "
                     "the rest"}[fit]
    x = (f"each sample ({c} × {h} × {w}: channels × height × width) made from a picture: "
         f"turned upright (its EXIF orientation), made {colour} with transparent parts black, "
         f"{fitted} with a bilinear filter (Pillow's, which averages over the whole area it "
         "shrinks), each pixel value / 255 (so 0 to 1; 16-bit grey: / 65535)")
    return DataNote(list(image_folder_summary(options["path"], base_dir)), {"x": x})


register(DatasetSpec(
                "images", "Image folder (one subfolder per class)", load_images.__doc__,
                load_images,
                {"path": Option("", "The folder holding one subfolder of images per class "
                                    "(relative to the project's folder)."),
                 "channels": Option(3, "1 for grey, 3 for colour (RGB): the Input's first "
                                       "dimension.", lambda v: int_in(1, 3)(v) and v != 2,
                                    "1 (grey) or 3 (RGB)"),
                 "height": Option(32, "Image height after resizing: the Input's second "
                                      "dimension.", int_in(1, 4096), "a whole number 1 to 4,096"),
                 "width": Option(32, "Image width after resizing: the Input's third "
                                     "dimension.", int_in(1, 4096), "a whole number 1 to 4,096"),
                 "fit": Option("stretch", "'stretch' to the size, 'crop' the centre to its "
                                          "shape first, or 'pad' with black bars.",
                               lambda v: v in FITS, "'stretch', 'crop' or 'pad'"),
                 "limit_per_class": Option(0, "At most this many images of each class (a "
                                              "sample drawn with the seed); 0 for all.",
                                           int_in(0, MAX_IMAGES),
                                           f"a whole number 0 to {MAX_IMAGES:,}"),
                 "streaming": STREAMING_OPTION},
                {"x": "channels × height × width image, values 0 to 1",
                 "y": "class index (the subfolders in natural order)"}, note=images_note,
                takes_path=True))
