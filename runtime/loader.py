"""Streamed data through torch.utils.data.DataLoader (issue 27, item 1): a StreamDataset
(runtime/data/stream.py) is not loaded whole; the trainer's epoch asks `Stream.epoch` for its
batches instead of indexing tensors, and the evaluator takes a split batch by batch
(`Stream.split`).

The training order is the in-memory path's: one seeded permutation per epoch (the Trainer's
shuffle generator), taken from the run's position, so a streamed run with 0 workers makes the
same steps as the same data in memory, and a resumed run continues exactly; the batch sampler
takes an order made elsewhere, ready for a DistributedSampler's share. Worker processes
(settings: data.workers, 'auto' = min(4, CPUs − 1)) stay up across epochs, prefetch two
batches each, and on a GPU the batches are pinned and copied without blocking. With
data.cache the decoded samples are kept (in this process, as they arrive, within
CACHE_BUDGET): once every sample of a split was read, its batches come from memory.

A sample that cannot be read (a damaged image) ends the run with a TrainingError naming the
file, from a worker process as from this one.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import default_collate

from graph.settings import auto_bind

from .binding import bind_data
from .data import DataError, Dataset
from .devices import to_channels_last
from .errors import TrainingError

FIT_SAMPLES = 4096  # training samples read to fit a standardizer or check the augmentation
CACHE_BUDGET = 2 * 2 ** 30  # bytes of decoded samples data.cache may keep
PREFETCH = 2  # batches each worker reads ahead


def auto_workers() -> int:
    """'auto' workers: min(4, CPUs − 1) (the CPUs this process may use)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(0, min(4, cpus - 1))


def bound_columns(c, bind: dict, ds: Dataset, needed: list[str]) -> dict:
    """runtime/binding.bind_data for a streamed dataset: node -> the whole converted tensor
    (a small field) or a Column read as the node's dtype, checked as data in memory is:
    shapes and dtypes on a few samples, the small fields (class labels) entirely."""
    probe = {k: v if isinstance(v, torch.Tensor) else v[:min(len(v), 4)]
             for k, v in ds.fields.items()}
    tensors = bind_data(c, bind, Dataset(ds.name, probe), needed)
    if not bind:  # the same rule bind_data fills an empty binding with
        g = c.graph
        bind = auto_bind([n for n in needed if g.spec(n).role == "input"],
                         [n for n in needed if g.spec(n).role == "target"], list(ds.fields), {})
    return {n: tensors[n] if isinstance(ds.fields[bind[n]], torch.Tensor)
            else ds.fields[bind[n]].to(tensors[n].dtype) for n in needed}


def bind_stream(c, bind: dict, ds: Dataset, needed: list[str]) -> list[tuple]:
    """For each needed node: (field, dtype, the whole converted tensor or None for a Column)."""
    bound = bound_columns(c, bind, ds, needed)
    return [(getattr(t, "name", None), t.dtype, t if isinstance(t, torch.Tensor) else None)
            for t in (bound[n] for n in needed)]


class _Bad:
    """A sample (or batch) that could not be read: its message, raised in the trainer."""

    def __init__(self, message: str):
        self.message = message


def _collate(items):
    bad = next((x for x in items if isinstance(x, _Bad)), None)
    return bad if bad is not None else default_collate(items)


class SampleView(TorchDataset):
    """One sample's tensors in the batch order of `plan` (bind_stream), with its index first."""

    def __init__(self, ds, plan: list[tuple]):
        self.source, self.plan, self.name = ds.source, plan, ds.name
        self.lazy = any(w is None for _, _, w in plan)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int):
        try:
            s = self.source.sample(i) if self.lazy else None
            out = [i]
            for f, dtype, whole in self.plan:
                if whole is not None:
                    out.append(whole[i])
                    continue
                t = torch.as_tensor(np.asarray(s[f])).to(dtype)
                if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    return _Bad(f"field '{f}' of '{self.name}' holds NaN or infinite values "
                                f"(sample {i}); clean the data first")
                out.append(t)
            return tuple(out)
        except DataError as e:  # names the file (and line, column) at fault
            return _Bad(str(e))
        except Exception as e:  # noqa: BLE001 carried to the trainer, said in words there
            return _Bad(f"'{self.name}', sample {i}: {type(e).__name__}: {e}")


class _Batches(Sampler):
    """Batches of dataset indices: `order` (the indices in the order taken) from `start`, in
    steps of `size`. Set before each iteration (it runs in the trainer's process)."""

    def __init__(self):
        self.order, self.start, self.size = torch.zeros(0, dtype=torch.int64), 0, 1

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(self.start, len(self.order), self.size):
            yield self.order[i:i + self.size].tolist()

    def __len__(self) -> int:
        return math.ceil(max(0, len(self.order) - self.start) / self.size)


class _Cache:
    """Decoded samples kept as they arrive (data.cache): per lazy field an N × sample tensor,
    and which samples are filled. Off (with `why`) when it would pass the budget."""

    def __init__(self, ds, plan, on: bool):
        self.store: dict[int, torch.Tensor] = {}
        self.filled = torch.zeros(len(ds), dtype=torch.bool)
        self.why = ""
        if not on:
            self.on = False
            return
        size = sum(len(ds) * math.prod(ds.fields[f].shape[1:])
                   * torch.empty((), dtype=d).element_size() for f, d, w in plan if w is None)
        self.on = size <= CACHE_BUDGET
        if not self.on:
            self.why = (f"data.cache: the decoded samples would take {size / 2 ** 30:.1f} GiB, "
                        f"more than the cache's {CACHE_BUDGET / 2 ** 30:.0f} GiB: not cached")
            return
        for k, (f, d, w) in enumerate(plan):
            if w is None:
                self.store[k] = torch.empty((len(ds), *ds.fields[f].shape[1:]), dtype=d)

    def put(self, idx: torch.Tensor, tensors: list[torch.Tensor]) -> None:
        if self.on:
            for k, store in self.store.items():
                store[idx] = tensors[k]
            self.filled[idx] = True

    def has(self, idx: torch.Tensor) -> bool:
        return self.on and bool(self.filled[idx].all())

    def get(self, idx: torch.Tensor, plan) -> list[torch.Tensor]:
        return [self.store[k][idx] if w is None else w[idx] for k, (_, _, w) in enumerate(plan)]


class Stream:
    """The loaders of a streamed run: the training split in the epoch's order, and either
    split in order for evaluation."""

    def __init__(self, ds, plan, train_idx: torch.Tensor, val_idx: torch.Tensor,
                 batch_size: int, workers, device: torch.device, cache: bool,
                 channels_last: bool):
        self.plan, self.device, self.channels_last = plan, device, channels_last
        self.train_idx, self.val_idx = train_idx, val_idx
        self.batch_size = batch_size
        self.workers = auto_workers() if workers == "auto" else int(workers)
        if self.workers and mp.current_process().daemon:
            # The app's training process is daemonic (it ends with the app), and a daemonic
            # process may not start children: DataLoader's workers watch their parent and
            # end with it, so the flag is lifted for them
            mp.current_process()._config["daemon"] = False
        self.view = SampleView(ds, plan)
        self.cache = _Cache(ds, plan, cache)
        self._train_batches, self._eval_batches = _Batches(), _Batches()
        self.train_loader = self._loader(self._train_batches)
        self.eval_loader = self._loader(self._eval_batches)

    def _loader(self, batches: _Batches) -> DataLoader:
        w = self.workers
        return DataLoader(self.view, batch_sampler=batches, num_workers=w,
                          collate_fn=_collate, pin_memory=self.device.type == "cuda",
                          persistent_workers=w > 0, prefetch_factor=PREFETCH if w else None,
                          generator=torch.Generator())  # the run's random state untouched

    def fit_sample(self, n: int = FIT_SAMPLES) -> list[torch.Tensor]:
        """The first `n` training samples, on the device: what a standardizer is fitted on
        and the augmentation checks (the whole training split is never held)."""
        idx = self.train_idx[:n]
        self._eval_batches.order, self._eval_batches.start = idx, 0
        self._eval_batches.size = max(self.batch_size, 256)
        parts = list(self._from(self.eval_loader, idx))
        return [torch.cat([p[k] for p in parts]) for k in range(len(self.plan))]

    def epoch(self, order: torch.Tensor, start: int, size: int) -> Iterator[list[torch.Tensor]]:
        """The training batches (of `size`) of an epoch whose order (positions in the training
        split) is `order`, from position `start`."""
        idx = self.train_idx[order.cpu()]
        self._train_batches.order, self._train_batches.start = idx, start
        self._train_batches.size = size
        return self._from(self.train_loader, idx[start:])

    def close(self) -> None:
        """Ends the worker processes (they stay up between epochs)."""
        for loader in (self.train_loader, self.eval_loader):
            it = getattr(loader, "_iterator", None)
            if it is not None and hasattr(it, "_shutdown_workers"):
                it._shutdown_workers()
            loader._iterator = None

    def split(self, which: str) -> "SplitBatches":
        return SplitBatches(self, self.val_idx if which == "val" else self.train_idx)

    def _from(self, loader: DataLoader, idx: torch.Tensor) -> Iterator[list[torch.Tensor]]:
        if self.cache.has(idx):  # every sample decoded before: from memory
            b = loader.batch_sampler
            for i in range(b.start, len(b.order), b.size):
                yield self._device(self.cache.get(b.order[i:i + b.size], self.plan))
            return
        for batch in loader:
            if isinstance(batch, _Bad):
                raise TrainingError(batch.message)
            i, *tensors = batch
            self.cache.put(i, tensors)
            yield self._device(tensors)

    def _device(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        out = [t.to(self.device, non_blocking=True) for t in tensors]
        return [to_channels_last(t) for t in out] if self.channels_last else out


class SplitBatches:
    """A split read batch by batch, in order (the evaluator's input for streamed data)."""

    def __init__(self, stream: Stream, idx: torch.Tensor):
        self.stream, self.idx, self.n = stream, idx, len(idx)

    def batches(self, size: int) -> Iterator[list[torch.Tensor]]:
        s = self.stream
        b = s._eval_batches
        b.order, b.start, b.size = self.idx, 0, size
        return s._from(s.eval_loader, self.idx)

    def whole(self, size: int = 256) -> list[torch.Tensor]:
        """The split held whole (a decoder's exact match reads it so; a detector's mAP reads
        it batch by batch, runtime/evaluation_detect.py)."""
        parts = list(self.batches(size))
        return [torch.cat([p[k] for p in parts]) for k in range(len(self.stream.plan))]
