"""The user's NPZ and CSV files read lazily (runtime/data/stream.py): an .npz archive's arrays
memory-mapped, and a CSV file read by row offsets (an index of where each row starts, built
in one pass; each row parsed when a sample is asked for).

An .npz member can be memory-mapped only when it is stored uncompressed (np.savez writes
that); np.savez_compressed's members are deflated and are refused with that said (save with
np.savez, or let the data load whole with streaming 'off').

Base-level: imports the base and stream.py only. numpy and the standard library.
"""
from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .base import DataError, csv_header_problem
from . import stream
from .stream import Source, pid_changed, streamed

# NPZ ------------------------------------------------------------------------------------------


def _converted(dtype: np.dtype) -> str | None:
    """The dtype a member becomes (as tabular.load_npz converts it), None for non-numbers."""
    return "float32" if dtype.kind in "fc" else "int64" if dtype.kind in "iub" else None


def npz_members(p: Path) -> dict[str, dict]:
    """name -> {dtype, shape, fortran, offset (into the file, None when compressed)} of each
    array of an .npz archive, read from the headers alone; DataError naming the file."""
    try:
        with open(p, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise DataError(f"{p}: cannot be read: {e.strerror or e}") from None
    if not magic.startswith(b"PK"):
        raise DataError(f"{p}: not an .npz file (a NumPy archive of named arrays, as np.savez "
                        "writes)" if magic else f"{p}: the file is empty")
    out = {}
    try:
        with zipfile.ZipFile(p) as z, open(p, "rb") as raw:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as m:
                    version = np.lib.format.read_magic(m)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = read(m)
                    header_len = m.tell() if info.compress_type == zipfile.ZIP_STORED else None
                offset = None
                if info.compress_type == zipfile.ZIP_STORED:
                    raw.seek(info.header_offset)
                    local = raw.read(30)
                    name_len = int.from_bytes(local[26:28], "little")
                    extra_len = int.from_bytes(local[28:30], "little")
                    offset = info.header_offset + 30 + name_len + extra_len + header_len
                out[info.filename[:-4]] = {"dtype": dtype, "shape": tuple(shape),
                                           "fortran": fortran, "offset": offset}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{p}: damaged .npz file ({type(e).__name__}: {e})") from None
    return out


def npz_bytes(p: Path) -> int:
    """The memory the in-memory path would take for the archive's arrays (0 when the file
    cannot be read: the in-memory path says why)."""
    try:
        members = npz_members(p)
    except DataError:
        return 0
    total = 0
    for m in members.values():
        total += int(np.prod(m["shape"], dtype=np.int64)) * (4 if _converted(m["dtype"]) ==
                                                             "float32" else 8)
    return total


class NpzArrays(Source):
    """The members of an uncompressed .npz, memory-mapped (opened once per process)."""

    def __init__(self, p: Path, members: dict[str, dict]):
        self.path, self.members = str(p), members
        self.specs = {k: (m["shape"][1:], _converted(m["dtype"])) for k, m in members.items()}
        self.n = members[next(iter(members))]["shape"][0]
        self.whole = {}
        for k, m in members.items():
            size = int(np.prod(m["shape"], dtype=np.int64)) * 8
            if size <= stream.SMALL_FIELD:
                self.whole[k] = np.array(self._map(k))
        self._maps: dict = {}

    def __len__(self) -> int:
        return self.n

    def __getstate__(self):
        return {**self.__dict__, "_maps": {}, "_pid": None}

    def _map(self, k: str) -> np.ndarray:
        m = self.members[k]
        return np.memmap(self.path, m["dtype"], "r", m["offset"], m["shape"],
                         "F" if m["fortran"] else "C")

    def sample(self, i: int) -> dict[str, Any]:
        if pid_changed(self) or not self._maps:
            self._maps = {k: self._map(k) for k in self.members}
        out = {}
        for k, a in self._maps.items():
            v = np.asarray(a[i])
            out[k] = v.astype(np.float32 if self.specs[k][1] == "float32" else np.int64)
        return out


def stream_npz(p: Path):
    """The .npz as a StreamDataset; DataError (naming the file and array) for what cannot be
    memory-mapped."""
    members = npz_members(p)
    if not members:
        raise DataError(f"{p}: holds no arrays")
    for k, m in members.items():
        if m["dtype"].hasobject:
            raise DataError(f"{p}: array '{k}' holds Python objects, which are never unpickled")
        if _converted(m["dtype"]) is None:
            raise DataError(f"{p}: array '{k}' has dtype {m['dtype']}; numbers are needed")
        if not m["shape"]:
            raise DataError(f"{p}: array '{k}' is a single value, not one value per sample")
        if m["offset"] is None:
            raise DataError(f"{p}: array '{k}' is stored compressed (np.savez_compressed), "
                            "which cannot be memory-mapped: save it with np.savez, or set "
                            "the option streaming to 'off' to load it whole")
    sizes = {k: m["shape"][0] for k, m in members.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(f"{p}: arrays hold different numbers of samples: "
                        + ", ".join(f"{k} {n}" for k, n in sizes.items()))
    return streamed(p.name, NpzArrays(p, members), f"{p.name}: " + ", ".join(members))


# CSV ------------------------------------------------------------------------------------------

def csv_bytes(p: Path) -> int:
    """About the memory the in-memory path takes for a CSV file: every cell held as a Python
    string while it is read (several times the file's size)."""
    try:
        return os.path.getsize(p) * 8
    except OSError:
        return 0


class CsvRows(Source):
    """A CSV file's rows read on demand: offsets[i] is where data row i starts, lines[i] its
    line number; the label column, read in the index pass, is held whole."""

    def __init__(self, p: Path, header, cols, offsets, lines, y, label_kind):
        self.path, self.header, self.cols = str(p), header, cols
        self.index = {h: i for i, h in enumerate(header)}
        self.offsets, self.lines = offsets, lines
        self.specs = {"x": ((len(cols),), "float32"),
                      "y": ((), "int64" if label_kind == "class" else "float32")}
        self.whole = {"y": y}
        self._file = None

    def __len__(self) -> int:
        return len(self.offsets)

    def __getstate__(self):
        return {**self.__dict__, "_file": None, "_pid": None}

    def row(self, i: int) -> list[str]:
        """Data row i as the csv module reads it."""
        if pid_changed(self) or self._file is None:
            self._file = open(self.path, "rb")
        f = self._file
        f.seek(int(self.offsets[i]))
        return next(csv.reader(_lines(f)))

    def sample(self, i: int) -> dict[str, Any]:
        p, line = self.path, int(self.lines[i])
        try:
            row = self.row(i)
        except (UnicodeDecodeError, csv.Error, StopIteration) as e:
            raise DataError(f"{p}: line {line}: cannot be read ({type(e).__name__}: {e})") \
                from None
        if len(row) != len(self.header):
            raise DataError(f"{p}: line {line} has {len(row)} values, the header has "
                            f"{len(self.header)}")
        x = np.empty(len(self.cols), np.float32)
        for j, c in enumerate(self.cols):
            cell = row[self.index[c]].strip()
            try:
                x[j] = float(cell)
            except ValueError:
                raise DataError(f"{p}: line {line}, column '{c}': {cell!r} is not a number") \
                    from None
        return {"x": x, "y": self.whole["y"][i]}


def _lines(f, first=False):
    """The lines of a binary file from where it stands, decoded (a BOM dropped at the start)."""
    for raw in iter(f.readline, b""):
        yield raw.decode("utf-8-sig" if first else "utf-8")
        first = False


def stream_csv(p: Path, label: str, features, label_kind: str, natural):
    """The CSV file as a StreamDataset: one pass builds the row index and reads the label
    column (a DataError names the file and line, as the in-memory path's); features are
    parsed when a sample is read. `natural`: the sort key of class names."""
    starts: list[int] = []

    def lines(f):
        first = True
        for raw in iter(lambda: (starts.append(f.tell()), f.readline())[1], b""):
            yield raw.decode("utf-8-sig" if first else "utf-8")
            first = False

    offsets, line_nos, raw_labels = [], [], []
    header, reader = None, None
    try:
        with open(p, "rb") as f:
            reader = csv.reader(lines(f))
            done = 0
            for row in reader:  # the reader reads no further than its row: starts[0] is it
                start, line = starts[0], done + 1
                done = reader.line_num
                starts.clear()
                if not any(c.strip() for c in row):
                    continue
                if header is None:
                    header = [h.strip() for h in row]
                    problem = csv_header_problem(header)
                    if problem:
                        raise DataError(f"{p}: {problem}")
                    if label not in header:
                        raise DataError(f"{p}: no column '{label}' for the label (columns: "
                                        f"{', '.join(header)})")
                    li = header.index(label)
                    continue
                if len(row) != len(header):
                    raise DataError(f"{p}: line {line} has {len(row)} values, the header has "
                                    f"{len(header)}")
                offsets.append(start)
                line_nos.append(line)
                raw_labels.append(row[li].strip())
    except UnicodeDecodeError:
        raise DataError(f"{p}: not a text (CSV) file") from None
    except csv.Error as e:
        raise DataError(f"{p}: line {reader.line_num if reader else 1}: not valid CSV ({e})") \
            from None
    except OSError as e:
        raise DataError(f"{p}: cannot be read: {e.strerror or e}") from None
    if header is None or not offsets:
        raise DataError(f"{p}: needs a header row and at least one data row")
    cols = list(features) if features else [h for h in header if h != label]
    for c in cols:
        if c not in header:
            raise DataError(f"{p}: no feature column '{c}' (columns: {', '.join(header)})")
    if label in cols:
        raise DataError(f"{p}: column '{label}' is both the label and a feature")
    if label_kind == "class":
        classes = sorted(set(raw_labels), key=natural)
        lookup = {c: i for i, c in enumerate(classes)}
        y = np.array([lookup[v] for v in raw_labels], np.int64)
    else:
        classes = None
        y = np.empty(len(raw_labels), np.float32)
        for i, v in enumerate(raw_labels):
            try:
                y[i] = float(v)
            except ValueError:
                raise DataError(f"{p}: line {line_nos[i]}, column '{label}': {v!r} is not a "
                                "number (use label_kind 'class' for category labels)") from None
    rows = CsvRows(p, header, cols, np.array(offsets, np.int64), np.array(line_nos, np.int64),
                   y, label_kind)
    return streamed(p.name, rows, f"{p.name}: {len(cols)} features, label '{label}'", classes,
                    {"x": cols})
