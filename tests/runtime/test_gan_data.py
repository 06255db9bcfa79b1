"""The ring of Gaussians and its mode-coverage measure (issue 12, item 5)."""
import numpy as np
import pytest

from runtime.data import DataError, load_dataset
from runtime.data.gan import make_ring, mode_coverage, ring_centres


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


def test_a_collapsed_digit_generator_scores_low_quality_though_confident():
    """The gan_digits template chose its best checkpoint by confidence, which kept an epoch
    where the generator made one crisp digit (1 of 10 read, confidence 0.90): the Try panel
    and every export got a collapsed generator. Quality, the classes' mean, is chosen by."""
    import json
    from runtime.data import make_digits
    from runtime.data.digits import judge_digits
    from templates import FOLDER
    real = make_digits(0).fields["x"][:500]
    one = real[make_digits(0).fields["y"][:500] == 3][:1].repeat(500, 1, 1, 1)
    good, collapsed = judge_digits(real), judge_digits(one)
    assert good["digits"] == 10 and good["quality"] > 0.7
    assert collapsed["digits"] == 1 and collapsed["confidence"] > 0.5
    assert collapsed["quality"] < 0.1 * collapsed["confidence"] + 1e-6
    assert json.loads((FOLDER / "gan_digits.json").read_text())["training"]["best_metric"] \
        == "quality"
