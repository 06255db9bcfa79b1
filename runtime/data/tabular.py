"""The user's own CSV and NPZ files as datasets (ARCHITECTURE.md, "A dataset kind"): the 'csv'
kind (feature columns and a label column) and the 'npz' kind (every array a field).

A family module of runtime/data/: registers its kinds in the base's DATASETS when imported
(runtime/data/__init__.py imports it). Light to import (numpy only).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import (DataError, Dataset, DatasetSpec, Option, read_csv_rows, register,
                   resolve_file)
from .stream import STREAMING_OPTION, wants_stream


def load_csv(seed: int, path: str = "", label: str = "", features: list | None = None,
             label_kind: str = "class", streaming: str = "auto", base_dir=None) -> Dataset:
    """Numeric feature columns -> field x (N × F), the label column -> field y (class indices
    for label_kind 'class', values for 'value')."""
    import torch
    p = resolve_file(path, base_dir)
    from .stream_sources import csv_bytes, stream_csv
    if wants_stream(streaming, csv_bytes(p)):  # rows read by offset (stream_sources.py)
        return stream_csv(p, label, features, label_kind, _natural)
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
                   f"{p.name}: {len(cols)} features, label '{label}'", classes,
                   feature_names={"x": cols})


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _natural(v: str):
    return (0, float(v), v) if _is_float(v) else (1, 0.0, v)


def load_npz(seed: int, path: str = "", streaming: str = "auto", base_dir=None) -> Dataset:
    """Every array in the .npz is a field (float arrays as float32, integers as int64)."""
    import torch
    p = resolve_file(path, base_dir)
    from .stream_sources import npz_bytes, stream_npz
    if wants_stream(streaming, npz_bytes(p)):  # memory-mapped (stream_sources.py)
        return stream_npz(p)
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


SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec("csv", "CSV file", load_csv.__doc__, load_csv,
                {"path": Option("", "The .csv file (relative to the project's folder)."),
                 "label": Option("", "The label column."),
                 "features": Option(None, "Feature columns; empty for all but the label.",
                                    lambda v: v is None or (isinstance(v, list) and all(
                                        isinstance(c, str) for c in v)), "a list of column names"),
                 "label_kind": Option("class", "'class' for categories, 'value' for numbers.",
                                      lambda v: v in ("class", "value"), "'class' or 'value'"),
                 "streaming": STREAMING_OPTION},
                {"x": "feature columns", "y": "label column"}, takes_path=True),
    DatasetSpec("npz", "NumPy .npz file", load_npz.__doc__, load_npz,
                {"path": Option("", "The .npz file (relative to the project's folder)."),
                 "streaming": STREAMING_OPTION},
                {}, takes_path=True),
)

register(*SPECS)
