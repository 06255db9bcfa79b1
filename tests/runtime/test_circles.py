"""The 'circles' dataset kind (runtime/data/generated.py): two concentric noisy circles, the
inner one class 0 and the outer one class 1; a line cannot split them, an MLP can."""
import pytest
import torch

from graph.project import load
from runtime.data import DATASETS, DataError, load_dataset
from runtime.train import Trainer

TEMPLATES = __import__("templates").FOLDER


def test_the_same_seed_gives_the_same_circles_and_another_seed_others():
    opts = {"n_samples": 300, "noise": 0.1, "factor": 0.4}
    a, b, c = (load_dataset("circles", opts, seed=s) for s in (7, 7, 8))
    assert torch.equal(a.fields["x"], b.fields["x"]) and torch.equal(a.fields["y"], b.fields["y"])
    assert not torch.equal(a.fields["x"], c.fields["x"])


def test_fields_shapes_and_classes():
    d = load_dataset("circles", {"n_samples": 101}, seed=0)
    x, y = d.fields["x"], d.fields["y"]
    assert set(d.fields) == set(DATASETS["circles"].fields) == {"x", "y"}
    assert x.shape == (101, 2) and x.dtype == torch.float32
    assert y.shape == (101,) and y.dtype == torch.int64
    assert d.classes == ["inner", "outer"] and len(d) == 101
    assert set(y.tolist()) == {0, 1}
    counts = y.bincount().tolist()
    assert abs(counts[0] - counts[1]) <= 1  # balanced: half the samples on each circle
    assert d.baselines == {"majority_accuracy": max(counts) / 101}
    assert not torch.equal(y[:50], y[:50].sort().values)  # shuffled, not one class then the other


def test_defaults_are_balanced():
    y = load_dataset("circles", {}, seed=3).fields["y"]
    assert y.bincount().tolist() == [250, 250]


@pytest.mark.parametrize("factor", [0.2, 0.5, 0.9])
def test_class_0_lies_on_the_inner_circle_and_class_1_on_the_outer(factor):
    d = load_dataset("circles", {"n_samples": 200, "noise": 0.0, "factor": factor}, seed=1)
    r, y = d.fields["x"].norm(dim=1), d.fields["y"]
    assert torch.allclose(r[y == 0], torch.full_like(r[y == 0], factor), atol=1e-5)
    assert torch.allclose(r[y == 1], torch.ones_like(r[y == 1]), atol=1e-5)


def test_noise_blurs_the_circles_but_the_inner_stays_inside():
    d = load_dataset("circles", {"n_samples": 2000, "noise": 0.1, "factor": 0.5}, seed=2)
    r, y = d.fields["x"].norm(dim=1), d.fields["y"]
    assert r[y == 0].std() > 0.03 and r[y == 1].std() > 0.03
    assert abs(r[y == 0].mean() - 0.5) < 0.05 and abs(r[y == 1].mean() - 1.0) < 0.05
    assert r[y == 0].median() < r[y == 1].median()


@pytest.mark.parametrize("options, message", [
    ({"factor": 1}, "data.options.factor: must be a number between 0 and 1 (both excluded) "
                    "(got 1)"),
    ({"factor": 0.0}, "data.options.factor: must be a number between 0 and 1"),
    ({"factor": 1.5}, "data.options.factor: must be a number between 0 and 1"),
    ({"factor": "0.5"}, "data.options.factor: must be a number between 0 and 1"),
    ({"factor": True}, "data.options.factor: must be a number between 0 and 1"),
    ({"noise": -0.1}, "data.options.noise: must be 0 to 1 (got -0.1)"),
    ({"noise": 3}, "data.options.noise: must be 0 to 1"),
    ({"n_samples": 3}, "data.options.n_samples: must be a whole number 4 to 1,000,000"),
    ({"n_samples": 10.0}, "data.options.n_samples: must be a whole number"),
    ({"n": 100}, "data.options.n: dataset 'circles' has no such option (it takes: n_samples, "
                 "noise, factor)"),
])
def test_bad_options_are_refused_naming_the_option(options, message):
    with pytest.raises(DataError) as e:
        load_dataset("circles", options, seed=0)
    assert message in str(e.value)


def test_it_is_listed_with_its_options():
    spec = DATASETS["circles"]
    assert spec.title and spec.description and not spec.takes_path
    assert list(spec.options) == ["n_samples", "noise", "factor"]
    for opt in spec.options.values():
        assert opt.help and opt.rule and opt.check(opt.default)
    names = list(DATASETS)
    assert names.index("xor") < names.index("circles") < names.index("spirals")


def test_a_line_cannot_split_the_circles_which_the_mlp_learns():
    p = load(TEMPLATES / "perceptron.json")
    p.data.dataset, p.data.options = "circles", {"n_samples": 400}
    p.training.epochs = 3
    fin = list(Trainer(p, device="cpu").run())[-1]
    assert fin.kind == "finished" and fin.metrics["val_accuracy"] < 0.8
    mlp = load(TEMPLATES / "mlp.json")
    mlp.data.dataset, mlp.data.options = "circles", {"n_samples": 500}
    mlp.training.epochs = 10
    fin = list(Trainer(mlp, device="cpu").run())[-1]
    assert fin.kind == "finished" and fin.metrics["val_accuracy"] >= 0.95
