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
    # What generated samples (M × a sample's shape) score against this data, e.g. the ring's
    # {"modes": 8, "quality": 0.97}: GAN runs report it per epoch and in the live view.
    judge: Callable[[Any], dict] | None = None

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
    ds = _xy("digits", x, y, "Handwritten digits 0-9, 8 × 8 grey images",
             [str(i) for i in range(10)])
    ds.judge = _judge_digits  # generated digits, read by a quick classifier (GANs)
    return ds


def _judge_digits(samples) -> dict:
    from .gan_data import judge_digits
    return judge_digits(samples)


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
)}


# The datasets whose option `path` names a file or folder, relative to the project's folder
# (a copy of the project saved elsewhere must rewrite it).
PATH_DATASETS = ("csv", "npz", "images", "csv_series", "coco")


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


# The image folders, the sequence datasets (adding, sine, chars, digits_rows, csv_series),
# the sequence-to-sequence ones (dates, reverse, copy) and the GAN ring live in their own
# modules, which add them to DATASETS when imported (they need the names above, so they
# come last). The image names are re-exported for the training panel.
from runtime import imagefolder as _imagefolder  # noqa: E402,F401
from runtime import sequences as _sequences  # noqa: E402,F401
from runtime import seq2seq as _seq2seq  # noqa: E402,F401
from runtime import gan_data as _gan_data  # noqa: E402,F401
from runtime.detection import datasets as _detection  # noqa: E402,F401
from runtime.detection import coco as _coco  # noqa: E402,F401

_IMAGE_NAMES = ("FITS", "image_folder_summary", "images_options_for_shape", "load_images")


def __getattr__(name: str):
    """The image folder's names, read from its module when asked for (importing them here at
    once would fail when runtime.imagefolder is the module imported first)."""
    if name in _IMAGE_NAMES:
        return getattr(_imagefolder, name)
    raise AttributeError(f"module 'runtime.data' has no attribute {name!r}")
