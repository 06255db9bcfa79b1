"""The 1,797 handwritten 8 × 8 digits that ship with scikit-learn, and the quick classifier
that reads generated digits (ARCHITECTURE.md, "A dataset kind").

Shared by three families: the 'digits' kind (runtime/data/generated.py), 'digits_rows'
(runtime/data/sequences.py) and a digit GAN's judge (runtime/data/gan.py). Like the base, it
registers nothing and imports no family module. Light to import (numpy only).
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from .base import DataError, Dataset, xy_dataset


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
    ds = xy_dataset("digits", x, y, "Handwritten digits 0-9, 8 × 8 grey images",
                    [str(i) for i in range(10)])
    ds.judge = judge_digits  # generated digits, read by a quick classifier (GANs)
    return ds


_DIGIT_READER = None


def digit_reader():
    """A quick classifier of 8 × 8 digits (softmax regression on the pixels, fitted once to all
    1,797 real digits, seeded): what the live view and the epoch metrics judge a digit GAN's
    samples with. tests/benchmarks/bench_gan.py judges with the CNN template instead."""
    global _DIGIT_READER
    if _DIGIT_READER is None:
        import torch
        ds = make_digits(0)
        x, y = ds.fields["x"].reshape(-1, 64), ds.fields["y"]
        g = torch.Generator().manual_seed(0)
        w = (torch.randn(64, 10, generator=g) * 0.01).requires_grad_()
        b = torch.zeros(10, requires_grad=True)
        for _ in range(200):  # plain gradient descent (torch.optim's first step imports dynamo)
            loss = torch.nn.functional.cross_entropy(x @ w + b, y) + 1e-4 * (w * w).sum()
            gw, gb = torch.autograd.grad(loss, (w, b))
            with torch.no_grad():
                w -= 1.0 * gw
                b -= 1.0 * gb
        _DIGIT_READER = (w.detach(), b.detach())
    return _DIGIT_READER


def judge_digits(samples) -> dict:
    """'digits': how many of the 10 classes the samples are read as (by digit_reader);
    'confidence': the reader's mean probability of the class it reads; 'quality': the mean
    over the 10 classes of the confidence in the samples read as that class (0 for a class
    none is read as). A generator that collapsed onto one crisp digit reads with high
    confidence but scores ~0.1 quality: quality is what a best epoch is chosen by."""
    import torch
    w, b = digit_reader()
    x = torch.as_tensor(samples, dtype=torch.float32).reshape(-1, 64)
    p = torch.softmax(x @ w + b, 1)
    conf, cls = p.max(1)
    per_class = torch.zeros(10).index_add_(0, cls, conf)
    counts = torch.bincount(cls, minlength=10).clamp_min(1)
    return {"digits": int(torch.unique(cls).numel()), "confidence": float(conf.mean()),
            "quality": float((per_class / counts).mean())}
