"""The small built-in datasets (ARCHITECTURE.md, "A dataset kind"): blobs, XOR, circles and
spirals in 2-D and colour shapes, generated from the seed, and the handwritten digits shipped
inside scikit-learn. Nothing is ever downloaded.

A family module of runtime/data/: registers its kinds in the base's DATASETS when imported
(runtime/data/__init__.py imports it). Light to import (numpy only: scikit-learn is imported
when the circles are made).
"""
from __future__ import annotations

import math

import numpy as np

from .base import DataError, Dataset, DatasetSpec, Option, int_in, num_in, register, xy_dataset
from .digits import make_digits


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
    return xy_dataset("blobs", x[perm], y[perm], "Two linearly separable blobs in 2-D",
                      ["0", "1"])


def make_xor(seed: int, n_samples: int = 400, noise: float = 0.1) -> Dataset:
    """Four clusters at (±1, ±1); the class is x₁ XOR x₂ (their signs differ)."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, (n_samples, 2))
    x = (corners * 2 - 1) + rng.normal(0, noise, (n_samples, 2))
    y = corners[:, 0] ^ corners[:, 1]
    return xy_dataset("xor", x, y, "XOR: four clusters, not linearly separable", ["0", "1"])


def make_circles(seed: int, n_samples: int = 500, noise: float = 0.1,
                 factor: float = 0.5) -> Dataset:
    """Two concentric noisy circles: the inner one (radius `factor`) is class 0, the outer one
    (radius 1) class 1, half the samples each. No straight line separates them (a single
    perceptron scores about chance); an MLP with one hidden layer learns the ring between."""
    try:
        from sklearn.datasets import make_circles as sk_circles
    except ImportError:
        raise DataError("the 'circles' dataset is made by scikit-learn, which is not installed "
                        "(pip install scikit-learn)") from None
    x, outer = sk_circles(n_samples, shuffle=True, noise=noise, random_state=seed,
                          factor=factor)
    y = 1 - outer  # scikit-learn labels the outer circle 0: here the inner one is class 0
    ds = xy_dataset("circles", x, y, f"Two concentric circles in 2-D (inner radius {factor:g} "
                    "of the outer), not linearly separable", ["inner", "outer"])
    ds.baselines = {"majority_accuracy": float(np.bincount(y, minlength=2).max() / n_samples)}
    return ds


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
    return xy_dataset("spirals", x[perm] * 2, y[perm], "Two interleaved spirals in 2-D",
                      ["0", "1"])


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
    return xy_dataset("shapes", x, y, f"Circles, squares and triangles, 3 × {size} × {size} "
                      "images", ["circle", "square", "triangle"])


_SAMPLES = Option(1000, "Number of samples.", int_in(4, 1_000_000), "a whole number 4 to 1,000,000")

SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec("blobs", "Blobs (linearly separable)", make_blobs.__doc__, make_blobs,
                {"n_samples": Option(200, _SAMPLES.help, _SAMPLES.check, _SAMPLES.rule),
                 "spread": Option(0.6, "Standard deviation of each blob.", num_in(0.01, 5),
                                  "a number 0.01 to 5"),
                 "margin": Option(0.3, "Empty band around the separating line.",
                                  num_in(0, 2), "a number 0 to 2")},
                {"x": "2 features", "y": "class 0 or 1"}),
    DatasetSpec("xor", "XOR", make_xor.__doc__, make_xor,
                {"n_samples": Option(400, _SAMPLES.help, _SAMPLES.check, _SAMPLES.rule),
                 "noise": Option(0.1, "Spread around each corner.", num_in(0, 2), "0 to 2")},
                {"x": "2 features", "y": "class 0 or 1"}),
    DatasetSpec("circles", "Two circles", make_circles.__doc__, make_circles,
                {"n_samples": Option(500, _SAMPLES.help, _SAMPLES.check, _SAMPLES.rule),
                 "noise": Option(0.1, "Gaussian noise added to each point (the outer radius is "
                                 "1).", num_in(0, 1), "0 to 1"),
                 "factor": Option(0.5, "Inner radius / outer radius.",
                                  lambda v: num_in(0, 1)(v) and 0 < v < 1,
                                  "a number between 0 and 1 (both excluded)")},
                {"x": "2 features", "y": "0 inner circle, 1 outer circle"}),
    DatasetSpec("spirals", "Two spirals", make_spirals.__doc__, make_spirals,
                {"n_samples": _SAMPLES,
                 "noise": Option(0.05, "Gaussian noise added to each point.", num_in(0, 2),
                                 "0 to 2"),
                 "turns": Option(1.5, "Turns of each spiral.", num_in(0.25, 5), "0.25 to 5")},
                {"x": "2 features", "y": "class 0 or 1"}),
    DatasetSpec("digits", "Handwritten digits (8 × 8)", make_digits.__doc__, make_digits, {},
                {"x": "1 × 8 × 8 image", "y": "digit 0-9"}, judged=("digits", "confidence", "quality")),
    DatasetSpec("shapes", "Shapes (colour images)", make_shapes.__doc__, make_shapes,
                {"n_samples": Option(1500, _SAMPLES.help, _SAMPLES.check, _SAMPLES.rule),
                 "size": Option(32, "Image side in pixels (the seeds use 32 and 64).",
                                int_in(16, 128), "16 to 128"),
                 "noise": Option(0.05, "Background noise.", num_in(0, 1), "0 to 1")},
                {"x": "3 × size × size image", "y": "0 circle, 1 square, 2 triangle"}),
)

register(*SPECS)
