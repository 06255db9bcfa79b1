"""Real samples for generative models (issue 12), generated from the seed, never downloaded:
the 8-Gaussian ring, and how many of its modes a set of samples covers. (The digits a digit
GAN learns, and the classifier that judges its samples, are in runtime/data/digits.py.)

A family module of runtime/data/ (ARCHITECTURE.md, "A dataset kind"): registers its kind in the
base's DATASETS when imported (runtime/data/__init__.py imports it). Light to import (numpy
only).
"""
from __future__ import annotations

import math

import numpy as np

from .base import DataError, Dataset, DatasetSpec, Option, int_in, num_in, register


def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """modes × 2: the centres, evenly spaced on a circle, the first on the positive x axis."""
    angles = 2 * math.pi * np.arange(modes) / modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1).astype(np.float32)


def make_ring(seed: int, n_samples: int = 10000, modes: int = 8, radius: float = 2.0,
              std: float = 0.02) -> Dataset:
    """The ring of Gaussians (Metz et al., 2017), the usual test of a GAN's mode coverage:
    field x holds N points in 2-D, each drawn from one of `modes` Gaussians of standard
    deviation `std` whose centres lie evenly on a circle of `radius` (a mode chosen uniformly
    for each point); field mode is that Gaussian's index. A generator that covers the ring
    puts samples near every centre; one that collapses puts them all near one or two."""
    if std <= 0:
        raise DataError(f"ring: std must be above 0 (got {std})")
    rng = np.random.default_rng(seed)
    which = rng.integers(0, modes, n_samples)
    x = ring_centres(modes, radius)[which] + std * rng.standard_normal((n_samples, 2),
                                                                       dtype=np.float32)
    import torch
    return Dataset("ring", {"x": torch.from_numpy(x.astype(np.float32)),
                            "mode": torch.from_numpy(which.astype(np.int64))},
                   f"Ring: {n_samples:,} points from {modes} Gaussians (σ = {std:g}) on a circle "
                   f"of radius {radius:g}", classes=[f"mode {i}" for i in range(modes)],
                   judge=lambda samples: _judge(samples, modes, radius, std))


def _judge(samples, modes: int, radius: float, std: float) -> dict:
    cov = mode_coverage(samples, modes, radius, std)
    return {"modes": cov["modes"], "quality": cov["high_quality"]}


def mode_coverage(samples, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                  within: float = 3.0) -> dict:
    """How well `samples` (M × 2) cover the ring: 'modes' is how many centres have at least
    one sample within `within` standard deviations, 'high_quality' the share of samples within
    that distance of some centre, 'per_mode' the count of such samples per centre."""
    s = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
    c = ring_centres(modes, radius).astype(np.float64)
    d = np.linalg.norm(s[:, None, :] - c[None, :, :], axis=-1)  # M × modes
    nearest = d.argmin(1)
    close = d[np.arange(len(s)), nearest] <= within * std
    per_mode = np.bincount(nearest[close], minlength=modes)
    return {"modes": int((per_mode > 0).sum()), "of": modes,
            "high_quality": float(close.mean()) if len(s) else 0.0,
            "per_mode": per_mode.tolist()}


SPECS = (
    DatasetSpec("ring", "Ring of 8 Gaussians (2-D, for GANs)", make_ring.__doc__, make_ring,
                {"n_samples": Option(10000, "Number of points.", int_in(4, 10_000_000),
                                     "a whole number 4 to 10,000,000"),
                 "modes": Option(8, "Number of Gaussians on the circle.", int_in(1, 1000),
                                 "a whole number 1 to 1,000"),
                 "radius": Option(2.0, "Radius of the circle.", num_in(0.01, 1000),
                                  "a number 0.01 to 1,000"),
                 "std": Option(0.02, "Standard deviation of each Gaussian.",
                               num_in(1e-4, 100), "a number 0.0001 to 100")},
                {"x": "2 coordinates", "mode": "which Gaussian (0 to modes - 1)"},
                judged=("modes", "quality")),
)

register(*SPECS)
