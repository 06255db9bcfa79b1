"""Trying a trained model (runtime.tryout): the run's own validation samples, the model's
prediction for each, text generation for a character model, and plain errors."""
import pytest
import torch

from graph.project import load
from runtime.train import Trainer, split
from runtime.tryout import TryError, Tryout, latest_weights
from templates import FOLDER


NO_BOUNDARY = pytest.raises(TryError, match="a decision boundary needs a classifier of 2-D points")


def trained(name, tmp_path, steps=30, **training):
    p = load(FOLDER / f"{name}.json")
    for k, v in training.items():
        setattr(p.training, k, v)
    t = Trainer(p, device="cpu", max_steps=steps)
    assert list(t.run())[-1].kind == "finished"
    t.save_checkpoint(tmp_path / name)
    return p, tmp_path / name, t


def test_the_samples_are_the_runs_validation_samples(tmp_path):
    p, ck, t = trained("cnn", tmp_path)
    tr = Tryout(p, None, ck)
    from runtime.data import load_dataset
    ds = load_dataset("digits", {}, p.training.seed)
    val, _ = split(len(ds), p.training.seed, p.training.val_split)
    assert len(tr) == len(val)
    s = tr.sample(5)
    assert torch.equal(s.inputs["image"], ds.fields["x"][val[5]])
    assert int(s.targets["label"]) == int(ds.fields["y"][val[5]])
    assert s.kinds == {"image": "image", "label": "class", "probs": "scores"}
    with torch.no_grad():  # what the trained model itself says
        want = t.model.eval()(ds.fields["x"][val[5]].unsqueeze(0))[0]
    assert torch.allclose(s.outputs["probs"], want, atol=1e-6)
    with NO_BOUNDARY:  # a classifier, of images
        tr.boundary()


def test_a_sequence_sample(tmp_path):
    p, ck, _ = trained("lstm", tmp_path)
    s = Tryout(p, None, ck).sample(0)
    assert s.kinds["x"] == "sequence" and s.inputs["x"].shape == (50, 2)
    assert s.kinds["total"] == "value" and s.outputs["total"].shape == (1,)
    with NO_BOUNDARY:  # 2 features, but at each of 50 steps, and a regression
        Tryout(p, None, ck).boundary()


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_a_character_model_generates_text(tmp_path):
    p, ck, _ = trained("char_lstm", tmp_path, steps=40)
    tr = Tryout(p, None, ck)
    s = tr.sample(0)
    assert s.kinds["chars"] == "text" and s.kinds["logits"] == "text scores"
    text = tr.generate("The ", temperature=0.8, length=50, seed=3)
    assert len(text) == 50 and all(c in tr.vocab for c in text)
    assert tr.generate("The ", temperature=0.8, length=50, seed=3) == text  # seeded
    assert tr.generate("The ", temperature=0.05, length=20, seed=1) == \
        tr.generate("The ", temperature=0.05, length=20, seed=2)  # nearly greedy
    with pytest.raises(TryError, match="temperature must be a number above 0"):
        tr.generate("x", temperature=0)
    with pytest.raises(TryError, match="at least one character"):
        tr.generate("", temperature=1)
    with NO_BOUNDARY:
        tr.boundary()


def test_plain_errors(tmp_path):
    p, ck, _ = trained("mlp", tmp_path, steps=5)
    tr = Tryout(p, None, ck)
    with pytest.raises(TryError, match="needs a text dataset"):
        tr.generate("a")
    with pytest.raises(TryError, match="not among the"):
        tr.sample(10_000)
    with pytest.raises(TryError, match="no weights there"):
        Tryout(p, None, tmp_path / "nothing")
    other = load(FOLDER / "cnn.json")
    with pytest.raises(TryError, match="has no weights for"):
        Tryout(other, None, ck)  # the MLP's weights in the CNN


def test_latest_weights_prefers_the_newest_runs_best():
    from types import SimpleNamespace
    assert latest_weights([]) is None
    assert latest_weights([SimpleNamespace(folder="/nonexistent")]) is None


@pytest.mark.parametrize("name, kinds", [
    ("perceptron", {"x": "value", "label": "class", "y_hat": "value"}),
    ("mlp", {"x": "value", "label": "class", "probs": "scores"}),  # features are not scores
    ("gan", {"z": "noise", "samples": "point"}),
    ("gan_digits", {"z": "noise", "digits": "image"}),
])
def test_each_value_is_read_as_what_it_is(tmp_path, name, kinds):
    """Class scores are what a classification loss reads; a generator's noise and samples
    are never class probabilities (issue 23, item 2)."""
    p, ck, _ = trained(name, tmp_path, steps=2)
    tr = Tryout(p, FOLDER, ck)
    s = tr.sample(3)
    assert s.kinds == kinds
    if name in ("perceptron", "mlp"):  # classifiers of 2-D points (the boundary's tests below)
        assert tr.classifier_2d()[:2] == ("x", next(iter(s.outputs)))
    else:  # a generator of 2-D points is no classifier
        with NO_BOUNDARY:
            tr.classifier_2d()
    if name.startswith("gan"):
        assert tr.generator and len(tr) == tr.GENERATED
        assert tr.noise_text("z").endswith("values drawn from N(0, I)")
        assert tr.generated().shape[0] == tr.GENERATED
        assert torch.allclose(tr.generated()[3], s.outputs[next(iter(s.outputs))], atol=1e-5)
        assert tr.real is not None and tr.real.shape[1:] == s.outputs[next(iter(s.outputs))].shape
        judged = tr.judged()
        assert ("modes" in judged) if name == "gan" else ("digits" in judged)


# The decision boundary of a classifier of 2-D points (runtime/tryout/boundary.py) -------------
def _run(p, tmp_path, steps, base_dir=None):
    """Train `p` for `steps`; its checkpoint and the metrics the run ended with."""
    t = Trainer(p, device="cpu", max_steps=steps, base_dir=base_dir)
    finished = list(t.run())[-1]
    assert finished.kind == "finished"
    t.save_checkpoint(tmp_path / "ck")
    return tmp_path / "ck", finished.metrics


def _cell_centres(b, size):
    """The grid's cells, as the Boundary says they lie: cell (i, j) at (x1[j], x2[i])."""
    x0, x1, y0, y1 = b.extent
    assert b.classes.shape == (size, size) and len(b.x1) == len(b.x2) == size
    assert torch.allclose(b.x1, x0 + (torch.arange(size) + 0.5) * (x1 - x0) / size)
    assert torch.allclose(b.x2, y0 + (torch.arange(size) + 0.5) * (y1 - y0) / size)
    return torch.stack([b.x1.expand(size, size), b.x2[:, None].expand(size, size)], -1)


def test_the_perceptrons_boundary_is_its_line(tmp_path):
    """Its Step gives 0 or 1: class 1 where w·x + b ≥ 0, cell by cell, row i up x₂."""
    p = load(FOLDER / "perceptron.json")
    ck, metrics = _run(p, tmp_path, 60)
    tr = Tryout(p, None, ck)
    assert tr.classifier_2d() == ("x", "y_hat", "accuracy/binary", "label")
    b = tr.boundary(size=40)
    layer = tr.compiled.modules.get_submodule("perceptron")
    w, bias = layer.weight[0], layer.bias[0]
    at = _cell_centres(b, 40)
    assert torch.equal(b.classes, (at @ w + bias >= 0).long())
    assert 0 < int(b.classes.sum()) < 40 * 40  # the line crosses the plane
    # the grid is the points' range and 10 % of it on each side
    pts = tr.val["x"]
    lo, hi = pts.min(0).values, pts.max(0).values
    want = torch.stack([lo - (hi - lo) * 0.1, hi + (hi - lo) * 0.1], 1).reshape(-1)
    assert torch.allclose(torch.tensor(b.extent), want)
    assert torch.equal(b.points, pts) and torch.equal(b.labels, tr.val["label"])
    assert torch.equal(b.predicted, torch.stack([(tr.sample(k).outputs["y_hat"] > 0.5).long()[0]
                                                 for k in range(len(tr))]))
    assert b.accuracy == pytest.approx(metrics["val_accuracy"])  # what the run reported
    assert b.n_classes == 2 and b.axes == ("x₁", "x₂") and b.nodes == ("x", "y_hat")
    i, j = 7, 31
    assert b.cell_at(float(b.x1[j]), float(b.x2[i])) == (i, j)


def test_the_mlps_boundary_is_its_argmax_on_the_grid(tmp_path):
    p = load(FOLDER / "mlp.json")
    ck, metrics = _run(p, tmp_path, 60)
    tr = Tryout(p, None, ck)
    b = tr.boundary(size=50)
    at = _cell_centres(b, 50)
    with torch.no_grad():
        want = tr.compiled.model(at.reshape(-1, 2)).argmax(1).reshape(50, 50)
    assert torch.equal(b.classes, want)
    assert set(b.classes.unique().tolist()) == {0, 1}
    assert b.accuracy == pytest.approx(metrics["val_accuracy"])
    assert b.class_names == ["0", "1"] and b.name(1) == "1"


def _binary_mlp(logits: bool):
    """The MLP template with one output for two classes: a sigmoid and binary cross-entropy,
    or the raw score (a logit) and the loss's from_logits."""
    import json
    d = json.loads((FOLDER / "mlp.json").read_text())
    nodes = {n["id"]: n for n in d["nodes"]}
    nodes["fc3"]["params"]["out_features"] = 1
    nodes["softmax"].update(type="Sigmoid", params={})
    nodes["loss"].update(type="BCELoss", params={"from_logits": logits, "weight": 1.0,
                                                  "metric": "auto"})
    nodes["label"]["params"]["dtype"] = "float32"
    if logits:
        d["nodes"] = [n for n in d["nodes"] if n["id"] != "softmax"]
        d["edges"] = [e for e in d["edges"] if not e["from"].startswith("softmax")
                      and e["to"] != "softmax.x"]
        d["edges"] += [{"from": "fc3.y", "to": "probs.x"}, {"from": "fc3.y", "to": "loss.pred"}]
    from graph.project import from_dict
    return from_dict(d)


@pytest.mark.parametrize("logits", [False, True])
def test_a_binary_classifier_with_one_output(tmp_path, logits):
    """Class 1 where its one output is above 0.5 (a probability), or above 0 (a logit)."""
    p = _binary_mlp(logits)
    ck, metrics = _run(p, tmp_path, 40)
    tr = Tryout(p, None, ck)
    assert tr.classifier_2d()[2] == ("accuracy/logit" if logits else "accuracy/binary")
    b = tr.boundary(size=30)
    with torch.no_grad():
        y = tr.compiled.model(_cell_centres(b, 30).reshape(-1, 2)).reshape(30, 30)
    assert torch.equal(b.classes, (y > (0.0 if logits else 0.5)).long())
    assert b.n_classes == 2
    assert b.accuracy == pytest.approx(metrics["val_accuracy"])


def test_the_axes_are_named_by_the_csvs_columns(tmp_path):
    import json
    rows = ["petal_length,species,petal_width"]
    g = torch.Generator().manual_seed(0)
    for k in range(60):
        c = k % 2
        x = torch.randn(2, generator=g) * 0.3 + (2.0 if c else -2.0)
        rows.append(f"{float(x[0]):.3f},{'setosa' if c else 'virginica'},{float(x[1]):.3f}")
    (tmp_path / "flowers.csv").write_text("\n".join(rows) + "\n")
    d = json.loads((FOLDER / "mlp.json").read_text())
    d["data"] = {"dataset": "csv", "options": {"path": "flowers.csv", "label": "species"},
                 "bind": {"x": "x", "label": "y"}}
    from graph.project import from_dict
    p = from_dict(d)
    ck, _ = _run(p, tmp_path, 5, base_dir=tmp_path)
    b = Tryout(p, tmp_path, ck).boundary(size=20)
    assert b.axes == ("petal_length", "petal_width")
    assert b.class_names == ["setosa", "virginica"]

