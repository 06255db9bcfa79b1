"""The dataset types and the registry (ARCHITECTURE.md, "A dataset kind"): Dataset, Option,
DataNote, DatasetSpec, DataError, DATASETS and load_dataset, with the helpers the dataset
families share (option checks, finding and reading the user's files, sizes for people).

The base of runtime/data/: it imports no family module; each family module imports it and
registers its kinds here. Light to import (numpy and the standard library): the app's
training panel reads the catalogue at start-up, while torch is still loading.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# torch is imported inside the functions that make tensors: the app's training panel reads the
# dataset catalogue at start-up, while torch is still loading in the background.


class DataError(Exception):
    """Bad data or a bad binding; the message names the file, column, field or node."""


@dataclass
class Dataset:
    name: str
    fields: dict[str, "torch.Tensor"]  # noqa: F821
    description: str = ""
    classes: list[str] | None = None
    # What a trivial predictor scores on the validation metric, e.g. {"constant_mse": 0.167};
    # the key's suffix names the metric ('_mse', '_nats', '_accuracy'). runtime/data/sequences.py.
    baselines: dict[str, float] = field(default_factory=dict)
    vocab: list[str] | None = None  # token id -> character, for text datasets ('chars')
    # What generated samples (M × a sample's shape) score against this data, e.g. the ring's
    # {"modes": 8, "quality": 0.97}: GAN runs report it per epoch and in the live view.
    judge: Callable[[Any], dict] | None = None
    # field -> the names of its features (its last axis), where the data names them: a CSV's
    # columns. The Try panel labels a 2-D classifier's axes with them (runtime/tryout/boundary.py)
    feature_names: dict[str, list[str]] = field(default_factory=dict)

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
class DataNote:
    """What the user of a model exported from this data must be told: the class names by
    index, and for a field, how a raw sample became its values (a picture's pixels / 255 ...)."""
    classes: list[str] | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    description: str
    make: Callable[..., Dataset]
    options: dict[str, Option] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    # The names its judge gives generated samples (Dataset.judge): a GAN's epoch metrics
    judged: tuple[str, ...] = ()
    # For exports: note(options, base_dir) -> DataNote, from the options (defaults filled in)
    # alone, cheaply (no image decoded); raises DataError where the data cannot be read
    note: Callable[[dict, Any], DataNote] | None = None
    # Its option `path` names a file or folder, relative to the project's folder: make is
    # given base_dir (that folder), and a copy of the project saved elsewhere must rewrite it
    takes_path: bool = False


def int_in(lo, hi):
    """An Option check: a whole number (not a bool) from lo to hi."""
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def num_in(lo, hi):
    """An Option check: a number (not a bool) from lo to hi."""
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi


def xy_dataset(name, x, y, description, classes=None) -> Dataset:
    """Fields x (float32) and y (int64, class indices) from arrays."""
    import torch
    return Dataset(name, {"x": torch.as_tensor(x, dtype=torch.float32),
                          "y": torch.as_tensor(y, dtype=torch.int64)}, description, classes)


def format_bytes(n: int) -> str:
    """A size for people: '1.5 GiB', '23 KiB', '10 bytes'."""
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            v = n / size
            return f"{v:.1f} {unit}".replace(".0 ", " ") if v < 10 else f"{v:.0f} {unit}"
    return f"{n} bytes"


# The user's files -----------------------------------------------------------------------------

def resolve_file(path: Any, base_dir: str | os.PathLike | None) -> Path:
    """The file option `path` names (relative to base_dir, the project's folder); DataError
    when it is missing or not a regular file."""
    if not isinstance(path, str) or not path:
        raise DataError("data.options.path: give the path of the file")
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if not p.is_file():
        from runtime.files import not_regular
        raise DataError(f"{p}: {not_regular(p) or 'no such file'}")
    return p


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


# The registry ---------------------------------------------------------------------------------

# Every dataset kind by name, in the order the families register them (runtime/data/__init__.py
# imports them): the training panel lists them in this order.
DATASETS: dict[str, DatasetSpec] = {}


def register(*specs: DatasetSpec) -> None:
    """Adds dataset kinds to DATASETS (each family module calls it once, at import)."""
    for s in specs:
        assert s.name not in DATASETS, f"dataset {s.name!r} registered twice"
        DATASETS[s.name] = s


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
    if spec.takes_path:
        kwargs["base_dir"] = base_dir
    return spec.make(seed, **kwargs)
