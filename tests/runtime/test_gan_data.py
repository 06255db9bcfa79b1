"""The ring of Gaussians and its mode-coverage measure (issue 12, item 5)."""
import numpy as np
import pytest

from runtime.data import DataError, load_dataset
from runtime.gan_data import make_ring, mode_coverage, ring_centres


def test_the_ring_has_its_points_around_eight_centres():
    d = load_dataset("ring", {"n_samples": 4000}, seed=1)
    x, mode = d.fields["x"].numpy(), d.fields["mode"].numpy()
    assert x.shape == (4000, 2) and x.dtype == np.float32
    c = ring_centres()
    assert np.allclose(np.linalg.norm(c, axis=1), 2.0)
    dist = np.linalg.norm(x - c[mode], axis=1)
    assert dist.max() < 0.02 * 6  # every point near its own centre
    assert sorted(set(mode.tolist())) == list(range(8))
    counts = np.bincount(mode, minlength=8)
    assert counts.min() > 400  # modes chosen uniformly


def test_the_real_samples_cover_every_mode_and_a_collapse_covers_one():
    real = make_ring(0, n_samples=2000).fields["x"].numpy()
    cov = mode_coverage(real)
    assert cov["modes"] == 8 and cov["high_quality"] > 0.98
    collapsed = ring_centres()[[3]] + 0.01 * np.random.default_rng(0).standard_normal((500, 2))
    cov = mode_coverage(collapsed)
    assert cov["modes"] == 1 and cov["per_mode"][3] > 0
    scattered = np.random.default_rng(0).uniform(-3, 3, (500, 2))  # mostly between modes
    assert mode_coverage(scattered)["high_quality"] < 0.05


def test_bad_options_are_refused_in_words():
    with pytest.raises(DataError, match="std"):
        load_dataset("ring", {"std": 0}, seed=0)
