"""Data read lazily, one sample at a time (issue 27, item 1): a StreamDataset, whose heavy
fields are Columns (a shape, a dtype and a way to read any sample) instead of whole tensors,
for data larger than memory. The trainer reads it through torch.utils.data.DataLoader workers
(runtime/loader.py); small fields (class labels) stay whole tensors.

The families that can stream (images.py: an image folder decoded per sample; tabular.py: an
.npz memory-mapped, a CSV file read by row offsets, stream_sources.py) take the dataset option
`streaming`: 'auto' streams when the data would take more memory than STREAM_BUDGET, 'on'
always, 'off' never (the data is loaded whole, as before).

Base-level, like digits.py: it imports the base only and registers nothing. numpy and the
standard library at import; torch inside the functions that make tensors.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from .base import DataError, Dataset, Option

STREAMING = ("auto", "on", "off")
# Data larger than this (bytes, as the in-memory path would hold it) streams under 'auto'.
STREAM_BUDGET = 2 * 2 ** 30
# A field whose whole values take at most this many bytes is held whole even when the data
# streams (class labels, a few numbers per sample): binding checks read all of it.
SMALL_FIELD = 64 * 2 ** 20

STREAMING_OPTION = Option(
    "auto", "'auto' reads the samples lazily (one at a time, through DataLoader workers) when "
            "the data would take more memory than the budget (2 GiB), 'on' always, 'off' "
            "never (loaded whole).", lambda v: v in STREAMING, "'auto', 'on' or 'off'")


def wants_stream(choice: str, nbytes: int) -> bool:
    """Whether data taking `nbytes` in memory streams under the option's `choice`."""
    return choice == "on" or (choice == "auto" and nbytes > STREAM_BUDGET)


class Source:
    """What a StreamDataset reads: len() samples, `specs` (field -> (sample shape, dtype name:
    'float32' or 'int64')), `sample(i)` -> field -> numpy array (or number), and `whole`:
    the small fields held whole (field -> numpy array). It must survive pickling (a worker
    process started by 'spawn' gets a copy): open files lazily, per process."""

    specs: dict[str, tuple[tuple[int, ...], str]] = {}
    whole: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        raise NotImplementedError

    def sample(self, i: int) -> dict[str, Any]:
        raise NotImplementedError


class Column:
    """A field read lazily: `shape` (N × a sample's shape) and `dtype` as a tensor's; indexing
    with an int reads one sample, with indices (a slice, a list, a tensor) the samples stacked,
    so code written for a whole tensor works, reading only what it indexes."""

    def __init__(self, source: Source, name: str):
        import torch
        self.source, self.name = source, name
        sample, dtype = source.specs[name]
        self.shape = torch.Size((len(source), *sample))
        self.dtype = getattr(torch, dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def to(self, dtype) -> "Column":
        """The same samples read as another dtype (a binding's float or int64)."""
        c = Column.__new__(Column)
        c.__dict__.update(self.__dict__, dtype=dtype)
        return c

    def dim(self) -> int:
        return len(self.shape)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def one(self, i: int):
        import torch
        return torch.as_tensor(np.asarray(self.source.sample(int(i))[self.name]),
                               dtype=self.dtype)

    def __getitem__(self, key):
        import torch
        if isinstance(key, (int, np.integer)) or (isinstance(key, torch.Tensor) and key.dim() == 0):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"sample {i} of {len(self)}")
            return self.one(i % len(self))
        if isinstance(key, slice):
            idx = range(*key.indices(len(self)))
        else:
            idx = torch.as_tensor(key).reshape(-1).tolist()
        if not idx:
            return torch.empty((0, *self.shape[1:]), dtype=self.dtype)
        return torch.stack([self.one(i) for i in idx])


class StreamDataset(Dataset):
    """A Dataset whose heavy fields are Columns (read per sample); `source` reads them."""
    source: Source | None = None

    @property
    def streams(self) -> bool:
        return True

    def sample(self, i: int) -> dict[str, Any]:
        return self.source.sample(i)


def streamed(name: str, source: Source, description: str, classes=None,
             feature_names=None) -> StreamDataset:
    """The StreamDataset of a source: its small fields whole tensors, the rest Columns."""
    import torch
    fields: dict[str, Any] = {}
    for k in source.specs:
        if k in source.whole:
            dtype = getattr(torch, source.specs[k][1])
            fields[k] = torch.as_tensor(source.whole[k], dtype=dtype)
        else:
            fields[k] = Column(source, k)
    ds = StreamDataset(name, fields, description + " (streamed: read per sample)", classes,
                       feature_names=feature_names or {})
    ds.source = source
    return ds


def is_streamed(ds) -> bool:
    return isinstance(ds, StreamDataset)


# Image files ----------------------------------------------------------------------------------

class ImageFiles(Source):
    """Image files decoded one at a time: 'x' (channels × height × width, 0 to 1) by the reader
    `make_reader()` returns (made once per process: it holds Pillow), 'y' the class index."""

    def __init__(self, files: list, labels: list[int], shape: tuple[int, int, int],
                 make_reader: Callable[[], Callable]):
        self.files, self.make_reader = [str(f) for f in files], make_reader
        self.labels = np.asarray(labels, np.int64)
        self.specs = {"x": (tuple(shape), "float32"), "y": ((), "int64")}
        self.whole = {"y": self.labels}
        self._reader = None

    def __len__(self) -> int:
        return len(self.files)

    def __getstate__(self):
        return {**self.__dict__, "_reader": None}

    def sample(self, i: int) -> dict[str, Any]:
        if self._reader is None:
            self._reader = self.make_reader()
        from pathlib import Path
        x = self._reader(Path(self.files[i])).astype(np.float32)
        np.divide(x, 255, out=x)  # as the in-memory path does: the same float32 values
        return {"x": x, "y": self.labels[i]}


class SlowSource(Source):
    """Another source, read with a pause per sample (tests and benchmarks: a starved
    pipeline made on purpose)."""

    def __init__(self, inner: Source, seconds: float):
        self.inner, self.seconds = inner, seconds
        self.specs, self.whole = inner.specs, inner.whole

    def __len__(self) -> int:
        return len(self.inner)

    def sample(self, i: int) -> dict[str, Any]:
        import time
        time.sleep(self.seconds)
        return self.inner.sample(i)


def pid_changed(obj) -> bool:
    """True (and the new pid noted) when `obj` is used in another process than the one that
    opened its files: a forked DataLoader worker must open its own."""
    if getattr(obj, "_pid", None) != os.getpid():
        obj._pid = os.getpid()
        return True
    return False


def bad_sample(e: Exception) -> DataError:
    return e if isinstance(e, DataError) else DataError(str(e))
