"""Datasets: generated from a seed, shipped inside an installed package, or the user's own
CSV / NPZ file or folder of images. Nothing is ever downloaded.

A dataset is a set of named fields (tensors with the samples along dim 0). The project's data
binding says which field feeds which Input or Target node.
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

# torch is imported inside the functions that make tensors: the app's training panel reads the
# dataset catalogue below at start-up, while torch is still loading in the background.


class DataError(Exception):
    """Bad data or a bad binding; the message names the file, column, field or node."""


@dataclass
class Dataset:
    name: str
    fields: dict[str, "torch.Tensor"]  # noqa: F821
    description: str = ""
    classes: list[str] | None = None
    # What a trivial predictor scores on the validation metric, e.g. {"constant_mse": 0.167};
    # the key's suffix names the metric ('_mse', '_nats', '_accuracy'). runtime/sequences.py.
    baselines: dict[str, float] = field(default_factory=dict)
    vocab: list[str] | None = None  # token id -> character, for text datasets ('chars')

    def __len__(self) -> int:
        return len(next(iter(self.fields.values())))

    def describe(self) -> str:
        return ", ".join(f"{k} {_shape(v)}" for k, v in self.fields.items())


def _shape(t) -> str:
    dims = " × ".join(str(d) for d in t.shape)
    return f"({dims}, {str(t.dtype).replace('torch.', '')})"


@dataclass(frozen=True)
class Option:
    default: Any
    help: str
    check: Callable[[Any], bool] = lambda v: True
    rule: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    description: str
    make: Callable[..., Dataset]
    options: dict[str, Option] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


def _int_in(lo, hi):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _num_in(lo, hi):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi


def _xy(name, x, y, description, classes=None) -> Dataset:
    import torch
    return Dataset(name, {"x": torch.as_tensor(x, dtype=torch.float32),
                          "y": torch.as_tensor(y, dtype=torch.int64)}, description, classes)


# Generated sets -------------------------------------------------------------------------------

def make_blobs(seed: int, n_samples: int = 200, spread: float = 0.6,
               margin: float = 0.3) -> Dataset:
    """Two Gaussian blobs, guaranteed linearly separable: points closer than `margin` to the
    line x₁ + x₂ = 0 are drawn again."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % 2
    centers = np.where(y[:, None] == 1, 1.5, -1.5)
    x = centers + rng.normal(0, spread, (n_samples, 2))
    for _ in range(1000):
        side = (x.sum(1) / math.sqrt(2)) * np.where(y == 1, 1, -1)
        redo = side < margin
        if not redo.any():
            break
        x[redo] = centers[redo] + rng.normal(0, spread, (int(redo.sum()), 2))
    perm = rng.permutation(n_samples)
    return _xy("blobs", x[perm], y[perm], "Two linearly separable blobs in 2-D", ["0", "1"])


def make_xor(seed: int, n_samples: int = 400, noise: float = 0.1) -> Dataset:
    """Four clusters at (±1, ±1); the class is x₁ XOR x₂ (their signs differ)."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, (n_samples, 2))
    x = (corners * 2 - 1) + rng.normal(0, noise, (n_samples, 2))
    y = corners[:, 0] ^ corners[:, 1]
    return _xy("xor", x, y, "XOR: four clusters, not linearly separable", ["0", "1"])


def make_spirals(seed: int, n_samples: int = 1000, noise: float = 0.05,
                 turns: float = 1.5) -> Dataset:
    """Two interleaved spirals (class 0 and its mirror image, class 1)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_samples) % 2
    t = np.sqrt(rng.uniform(0.02, 1, n_samples)) * turns * 2 * math.pi
    r = t / (turns * 2 * math.pi)
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    x[y == 1] *= -1
    x += rng.normal(0, noise, x.shape)
    perm = rng.permutation(n_samples)
    return _xy("spirals", x[perm] * 2, y[perm], "Two interleaved spirals in 2-D", ["0", "1"])


def _sklearn_file(name: str) -> Path:
    """A data file shipped inside scikit-learn's wheel, found without importing sklearn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the 'digits' dataset ships with scikit-learn, which is not installed "
                        "(pip install scikit-learn)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


def make_digits(seed: int) -> Dataset:
    """The 1,797 handwritten 8 × 8 digits from scikit-learn (UCI), pixels scaled to [0, 1]."""
    path = _sklearn_file("digits.csv.gz")
    with gzip.open(path, "rt") as f:
        arr = np.loadtxt(f, delimiter=",", dtype=np.float32)
    x = arr[:, :64].reshape(-1, 1, 8, 8) / 16.0
    y = arr[:, 64].astype(np.int64)
    return _xy("digits", x, y, "Handwritten digits 0-9, 8 × 8 grey images",
               [str(i) for i in range(10)])


def make_shapes(seed: int, n_samples: int = 1500, size: int = 32, noise: float = 0.05) -> Dataset:
    """Colour images (3 × size × size) of a circle, a square or a triangle, at random places,
    sizes and colours, over a noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    x = rng.uniform(0, 0.3, (n_samples, 3, 1, 1)) + rng.normal(0, noise, (n_samples, 3, size, size))
    y = np.arange(n_samples) % 3
    for i in range(n_samples):
        r = rng.uniform(size * 0.15, size * 0.3)
        cx, cy = rng.uniform(r, size - r, 2)
        if y[i] == 0:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        elif y[i] == 1:
            mask = (abs(xx - cx) <= r * 0.85) & (abs(yy - cy) <= r * 0.85)
        else:  # upward triangle
            top, base = cy - r, cy + r * 0.8
            half = (yy - top) / (base - top) * r
            mask = (yy >= top) & (yy <= base) & (abs(xx - cx) <= half)
        colour = rng.uniform(0.5, 1.0, 3)
        x[i][:, mask] = colour[:, None]
    x = np.clip(x, 0, 1).astype(np.float32)
    return _xy("shapes", x, y, f"Circles, squares and triangles, 3 × {size} × {size} images",
               ["circle", "square", "triangle"])


# The user's files -----------------------------------------------------------------------------

def _resolve(path: Any, base_dir: str | os.PathLike | None) -> Path:
    if not isinstance(path, str) or not path:
        raise DataError("data.options.path: give the path of the file")
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    return p


def load_csv(seed: int, path: str = "", label: str = "", features: list | None = None,
             label_kind: str = "class", base_dir=None) -> Dataset:
    """Numeric feature columns -> field x (N × F), the label column -> field y (class indices
    for label_kind 'class', values for 'value')."""
    import torch
    p = _resolve(path, base_dir)
    header, rows, lines = read_csv_rows(p)
    index = {h: i for i, h in enumerate(header)}
    if label not in index:
        raise DataError(f"{p}: no column '{label}' for the label (columns: {', '.join(header)})")
    cols = list(features) if features else [h for h in header if h != label]
    for c in cols:
        if c not in index:
            raise DataError(f"{p}: no feature column '{c}' (columns: {', '.join(header)})")
    if label in cols:
        raise DataError(f"{p}: column '{label}' is both the label and a feature")
    x = np.empty((len(rows), len(cols)), np.float32)
    for r, (row, line) in enumerate(zip(rows, lines)):
        for j, c in enumerate(cols):
            cell = row[index[c]].strip()
            try:
                x[r, j] = float(cell)
            except ValueError:
                raise DataError(f"{p}: line {line}, column '{c}': {cell!r} is not a number") \
                    from None
    raw = [row[index[label]].strip() for row in rows]
    if label_kind == "class":
        classes = sorted(set(raw), key=_natural)
        lookup = {c: i for i, c in enumerate(classes)}
        y = torch.tensor([lookup[v] for v in raw], dtype=torch.int64)
    else:
        classes = None
        try:
            y = torch.tensor([float(v) for v in raw], dtype=torch.float32)
        except ValueError:
            bad = next(i for i, v in enumerate(raw) if not _is_float(v))
            raise DataError(f"{p}: line {lines[bad]}, column '{label}': {raw[bad]!r} is not a number "
                            "(use label_kind 'class' for category labels)") from None
    return Dataset(p.name, {"x": torch.from_numpy(x), "y": y},
                   f"{p.name}: {len(cols)} features, label '{label}'", classes)


def read_csv_rows(p: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """A CSV file's header (names stripped and checked), its data rows and each row's line
    number in the file (blank lines skipped); DataError naming the file and line."""
    reader = None
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows, lines = [], []
            for row in reader:
                if any(c.strip() for c in row):
                    rows.append(row)
                    lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise DataError(f"{p}: not a text (CSV) file") from None
    except csv.Error as e:
        raise DataError(f"{p}: line {reader.line_num if reader else 1}: not valid CSV ({e})") \
            from None
    except OSError as e:
        raise DataError(f"{p}: cannot be read: {e.strerror or e}") from None
    if len(rows) < 2:
        raise DataError(f"{p}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    problem = csv_header_problem(header)
    if problem:
        raise DataError(f"{p}: {problem}")
    for row, line in zip(rows[1:], lines[1:]):
        if len(row) != len(header):
            raise DataError(f"{p}: line {line} has {len(row)} values, the header has "
                            f"{len(header)}")
    return header, rows[1:], lines[1:]


def csv_header_problem(header: list[str]) -> str | None:
    """Why a CSV header cannot name its columns (a nameless or a duplicated column: which
    one a name means would be a guess), or None. The names as read, stripped."""
    empty = [i + 1 for i, h in enumerate(header) if not h]
    if empty:
        which = ", ".join(map(str, empty))
        return (f"column{'s' if len(empty) > 1 else ''} {which} of the header "
                f"{'have' if len(empty) > 1 else 'has'} no name: every column needs one")
    seen: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        seen.setdefault(h, []).append(i + 1)
    twice = {h: cols for h, cols in seen.items() if len(cols) > 1}
    if twice:
        names = "; ".join(f"'{h}' (columns {', '.join(map(str, cols))})"
                          for h, cols in twice.items())
        return (f"the header names {'a column' if len(twice) == 1 else 'columns'} more than "
                f"once: {names}; every column needs its own name")
    return None


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _natural(v: str):
    return (0, float(v), v) if _is_float(v) else (1, 0.0, v)


def load_npz(seed: int, path: str = "", base_dir=None) -> Dataset:
    """Every array in the .npz is a field (float arrays as float32, integers as int64)."""
    import torch
    p = _resolve(path, base_dir)
    arrays = _read_npz(p)
    if not arrays:
        raise DataError(f"{p}: holds no arrays")
    fields = {}
    for k, a in arrays.items():
        if a.ndim == 0:
            raise DataError(f"{p}: array '{k}' is a single value, not one value per sample")
        if a.dtype.kind in "fc":
            fields[k] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        elif a.dtype.kind in "iub":
            fields[k] = torch.from_numpy(a.astype(np.int64))
        else:
            raise DataError(f"{p}: array '{k}' has dtype {a.dtype}; numbers are needed")
    sizes = {k: v.shape[0] for k, v in fields.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(f"{p}: arrays hold different numbers of samples: "
                        + ", ".join(f"{k} {n}" for k, n in sizes.items()))
    return Dataset(p.name, fields, f"{p.name}: " + ", ".join(arrays))


def _read_npz(p: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz file; a damaged or foreign file is a DataError naming it."""
    try:
        with open(p, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise DataError(f"{p}: cannot be read: {e.strerror or e}") from None
    if magic.startswith(b"\x93NUMPY"):
        raise DataError(f"{p}: a single .npy array, not an .npz archive of named arrays "
                        "(np.savez writes one)")
    if not magic.startswith(b"PK"):
        raise DataError(f"{p}: not an .npz file (a NumPy archive of named arrays, as np.savez "
                        "writes)" if magic else f"{p}: the file is empty")
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"{p}: holds Python objects, which are never unpickled: {e}") \
                from None
        raise DataError(f"{p}: damaged .npz file ({e})") from None
    except Exception as e:  # zipfile.BadZipFile (cut short, bad CRC), zlib.error, EOFError, ...
        raise DataError(f"{p}: damaged .npz file ({type(e).__name__}: {e})") from None


# A folder of images, one subfolder per class ------------------------------------------------

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
    ok = _int_in(1, 4096)
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
    dirs = sorted((e for e in top if scan.inside(e) and e.is_dir()),
                  key=lambda e: _natural_key(e.name))
    if not dirs:
        loose = sum(1 for e in top if e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES))
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
                fit: str = "stretch", limit_per_class: int = 0, base_dir=None) -> Dataset:
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
    if size > MAX_IMAGE_BYTES:
        raise DataError(f"{root}: {n:,} images of {channels} × {height} × {width} would take "
                        f"{size / 2 ** 30:.1f} GiB of memory (at most "
                        f"{MAX_IMAGE_BYTES / 2 ** 30:.0f} GiB): use smaller images or set "
                        "limit_per_class")
    x = np.empty((n, channels, height, width), np.float32)
    read = _image_reader(channels, height, width, fit)
    for i, f in enumerate(files):
        x[i] = read(f)
    np.divide(x, 255, out=x)  # the reader gives 0-255
    import torch
    note = f"; {_count(scan.links_out, 'link')} leading out of the folder not followed" \
        if scan.links_out else ""
    name = scan.real_root.name or str(root)  # a path such as "." has no name of its own
    return Dataset(name, {"x": torch.from_numpy(x), "y": torch.tensor(labels)},
                   f"{name}: {_count(n, 'image')} in {_count(len(classes), 'class')}, "
                   f"{channels} × {height} × {width} ({fit}){note}", classes)


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
        try:
            with Image.open(f) as im:
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
        except PermissionError as e:
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


_SAMPLES = Option(1000, "Number of samples.", _int_in(4, 1_000_000), "a whole number 4 to 1,000,000")
DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec("blobs", "Blobs (linearly separable)", make_blobs.__doc__, make_blobs,
                {"n_samples": Option(200, _SAMPLES.help, _SAMPLES.check, _SAMPLES.rule),
                 "spread": Option(0.6, "Standard deviation of each blob.", _num_in(0.01, 5),
                                  "a number 0.01 to 5"),
                 "margin": Option(0.3, "Empty band around the separating line.",
                                  _num_in(0, 2), "a number 0 to 2")},
                {"x": "2 features", "y": "class 0 or 1"}),
    DatasetSpec("xor", "XOR", make_xor.__doc__, make_xor,
                {"n_samples": Option(400, _SAMPLES.help, _SAMPLES.check, _SAMPLES.rule),
                 "noise": Option(0.1, "Spread around each corner.", _num_in(0, 2), "0 to 2")},
                {"x": "2 features", "y": "class 0 or 1"}),
    DatasetSpec("spirals", "Two spirals", make_spirals.__doc__, make_spirals,
                {"n_samples": _SAMPLES,
                 "noise": Option(0.05, "Gaussian noise added to each point.", _num_in(0, 2),
                                 "0 to 2"),
                 "turns": Option(1.5, "Turns of each spiral.", _num_in(0.25, 5), "0.25 to 5")},
                {"x": "2 features", "y": "class 0 or 1"}),
    DatasetSpec("digits", "Handwritten digits (8 × 8)", make_digits.__doc__, make_digits, {},
                {"x": "1 × 8 × 8 image", "y": "digit 0-9"}),
    DatasetSpec("shapes", "Shapes (colour images)", make_shapes.__doc__, make_shapes,
                {"n_samples": Option(1500, _SAMPLES.help, _SAMPLES.check, _SAMPLES.rule),
                 "size": Option(32, "Image side in pixels (the seeds use 32 and 64).",
                                _int_in(16, 128), "16 to 128"),
                 "noise": Option(0.05, "Background noise.", _num_in(0, 1), "0 to 1")},
                {"x": "3 × size × size image", "y": "0 circle, 1 square, 2 triangle"}),
    DatasetSpec("csv", "CSV file", load_csv.__doc__, load_csv,
                {"path": Option("", "The .csv file (relative to the project's folder)."),
                 "label": Option("", "The label column."),
                 "features": Option(None, "Feature columns; empty for all but the label.",
                                    lambda v: v is None or (isinstance(v, list) and all(
                                        isinstance(c, str) for c in v)), "a list of column names"),
                 "label_kind": Option("class", "'class' for categories, 'value' for numbers.",
                                      lambda v: v in ("class", "value"), "'class' or 'value'")},
                {"x": "feature columns", "y": "label column"}),
    DatasetSpec("npz", "NumPy .npz file", load_npz.__doc__, load_npz,
                {"path": Option("", "The .npz file (relative to the project's folder).")},
                {}),
    DatasetSpec("images", "Image folder (one subfolder per class)", load_images.__doc__,
                load_images,
                {"path": Option("", "The folder holding one subfolder of images per class "
                                    "(relative to the project's folder)."),
                 "channels": Option(3, "1 for grey, 3 for colour (RGB): the Input's first "
                                       "dimension.", lambda v: _int_in(1, 3)(v) and v != 2,
                                    "1 (grey) or 3 (RGB)"),
                 "height": Option(32, "Image height after resizing: the Input's second "
                                      "dimension.", _int_in(1, 4096), "a whole number 1 to 4,096"),
                 "width": Option(32, "Image width after resizing: the Input's third "
                                     "dimension.", _int_in(1, 4096), "a whole number 1 to 4,096"),
                 "fit": Option("stretch", "'stretch' to the size, 'crop' the centre to its "
                                          "shape first, or 'pad' with black bars.",
                               lambda v: v in FITS, "'stretch', 'crop' or 'pad'"),
                 "limit_per_class": Option(0, "At most this many images of each class (a "
                                              "sample drawn with the seed); 0 for all.",
                                           _int_in(0, MAX_IMAGES),
                                           f"a whole number 0 to {MAX_IMAGES:,}")},
                {"x": "channels × height × width image, values 0 to 1",
                 "y": "class index (the subfolders in natural order)"}),
)}


# The datasets whose option `path` names a file or folder, relative to the project's folder
# (a copy of the project saved elsewhere must rewrite it).
PATH_DATASETS = ("csv", "npz", "images", "csv_series")


def load_dataset(name: str, options: dict, seed: int = 0, base_dir=None) -> Dataset:
    """Make or read the dataset the project names; raises DataError with a clear message."""
    spec = DATASETS.get(name)
    if spec is None:
        known = ", ".join(DATASETS)
        raise DataError(f"data.dataset: unknown dataset {name!r} (known: {known})" if name
                        else f"data.dataset: no dataset chosen (one of: {known})")
    kwargs = {}
    for k, v in options.items():
        opt = spec.options.get(k)
        if opt is None:
            raise DataError(f"data.options.{k}: dataset '{name}' has no such option (it takes: "
                            f"{', '.join(spec.options) or 'none'})")
        if not opt.check(v):
            raise DataError(f"data.options.{k}: must be {opt.rule} (got {v!r})")
        kwargs[k] = v
    if name in PATH_DATASETS:
        kwargs["base_dir"] = base_dir
    return spec.make(seed, **kwargs)


# The sequence datasets (adding, sine, chars, digits_rows, csv_series) live in their own module,
# which adds them to DATASETS when imported (it needs the names above, so it comes last).
from runtime import sequences as _sequences  # noqa: E402,F401
