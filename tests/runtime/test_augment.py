"""Augmentation of training images (issue 27 item 2): the settings, the kornia transforms on
training batches only, their seed, the refusals, and normalisation inside the exported model."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from graph.project import load, loads
from graph.settings import AugmentSettings, DataSettings
from runtime.augment import Augmenter, make_augmenter, preview, refusal
from runtime.binding import bind_data
from runtime.compile import compile_graph
from runtime.data import load_dataset
from runtime.export import export
from runtime.train import Trainer, split
from runtime.weights import save_weights

ROOT = Path(__file__).resolve().parents[2]


def cnn(**augment):
    p = load(ROOT / "templates" / "cnn.json")
    p.data.augment = AugmentSettings(**augment)
    return p


def run(project, steps=6, **kw):
    t = Trainer(project, device="cpu", max_steps=steps, epochs=1, **kw)
    events = list(t.run())
    return t, events


# Settings --------------------------------------------------------------------------------------

def test_settings_round_trip_and_default_off():
    assert not AugmentSettings().random and AugmentSettings().normalize is None
    p = cnn(random_resized_crop={"scale": [0.5, 0.9], "ratio": [0.8, 1.25]}, hflip=0.5,
            vflip=0.1, rotation=12, brightness=0.2, contrast=0.3,
            normalize={"mean": [0.3], "std": [0.2]})
    again = loads(p.to_json())
    assert again.data.augment == p.data.augment
    assert again.to_json() == p.to_json()
    assert '"augment"' not in load(ROOT / "templates" / "cnn.json").to_json()  # off: unsaved
    p.data.augment = AugmentSettings(normalize="from data")
    assert loads(p.to_json()).data.augment.normalize == "from data"


@pytest.mark.parametrize("bad, words", [
    ({"random_resized_crop": {"scale": [0.9, 0.5]}}, "0 < low ≤ high ≤ 1"),
    ({"random_resized_crop": {"scale": [0.5, 1], "ratio": [2, 1]}}, "ratio"),
    ({"hflip": 1.5}, "less than or equal to 1"),
    ({"rotation": -3}, "greater than or equal to 0"),
    ({"hue": 0.7}, "less than or equal to 0.5"),
    ({"normalize": {"mean": [0.5, 0.5], "std": [0.2]}}, "mean has 2 values and std 1"),
    ({"normalize": {"mean": [0.5], "std": [0]}}, "std: every value must be greater than 0"),
    ({"normalize": "from the data"}, "from data"),
    ({"shear": 3}, "Extra inputs"),
])
def test_settings_refused_in_words(bad, words):
    with pytest.raises(ValidationError) as e:
        DataSettings(augment=bad)
    assert words in str(e.value)


# The transforms ---------------------------------------------------------------------------------

def test_flip_p1_equals_torch_flip():
    x = torch.rand(5, 3, 6, 7)
    h = Augmenter(AugmentSettings(hflip=1.0), [0], [(6, 7)], seed=0)
    v = Augmenter(AugmentSettings(vflip=1.0), [0], [(6, 7)], seed=0)
    y = torch.arange(5)
    out = h([x, y])
    assert torch.equal(out[0], torch.flip(x, [-1])) and out[1] is y  # labels untouched
    assert torch.equal(v([x])[0], torch.flip(x, [-2]))


def test_reproducible_with_the_seed_and_global_rng_untouched():
    s = AugmentSettings(random_resized_crop={"scale": [0.5, 1]}, hflip=0.5, rotation=20,
                        brightness=0.3)
    x = torch.rand(16, 3, 12, 12)
    a, b, c = (Augmenter(s, [0], [(12, 12)], seed=k) for k in (3, 3, 4))
    before = torch.get_rng_state()
    first = a([x])[0]
    assert torch.equal(torch.get_rng_state(), before)  # dropout's stream is not shifted
    assert torch.equal(first, b([x])[0])
    assert not torch.equal(first, c([x])[0])  # another seed, other draws
    assert not torch.equal(a([x])[0], first)  # the next step, other draws
    assert first.shape == x.shape and not torch.equal(first, x)


def test_preview_gives_distinct_ways():
    x = torch.rand(3, 3, 10, 10)
    grid = preview(AugmentSettings(hflip=0.5, rotation=30, brightness=0.3), x, ways=8)
    assert grid.shape == (8, 3, 3, 10, 10)
    assert len({grid[i].numpy().tobytes() for i in range(8)}) == 8


# Refusals ---------------------------------------------------------------------------------------

def _failed(project):
    _, events = run(project, steps=2)
    assert events[-1].kind == "failed", events[-1]
    return events[-1].message


def test_refused_for_feature_vectors():
    p = load(ROOT / "templates" / "mlp.json")
    p.data.augment = AugmentSettings(hflip=0.5)
    msg = _failed(p)
    assert "data.augment" in msg and "cannot be cropped or flipped" in msg and "Traceback" not in msg


def test_refused_for_colour_of_grey_images_and_wrong_channel_count():
    msg = _failed(cnn(saturation=0.2))
    assert "saturation and hue" in msg and "'image' has 1 channel" in msg
    msg = _failed(cnn(normalize={"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}))
    assert "3 mean and std values given" in msg and "'image' has 1 channel" in msg


def test_normalize_refused_without_images():
    p = load(ROOT / "templates" / "mlp.json")
    p.data.augment = AugmentSettings(normalize="from data")
    assert "normalisation works per channel on images" in _failed(p)


def test_refused_for_detection_boxes():
    """A detection graph: the true boxes would not follow a flip (refused before any data is
    read); colour jitter alone is allowed."""
    p = load(ROOT / "templates" / "fast_rcnn.json")
    c = compile_graph(p.graph)
    needed = [n for n in c.feeds if n not in c.noise_inputs]
    msg = refusal(AugmentSettings(hflip=0.5), c, needed)
    assert msg and "boxes or masks" in msg and "colour jitter applies" in msg
    assert refusal(AugmentSettings(brightness=0.2), c, needed) is None


# In the trainer ---------------------------------------------------------------------------------

def test_validation_batches_never_augmented(monkeypatch):
    """With a flip at p = 1, every training batch the recipe sees is flipped, and the
    evaluator is given the raw validation (and training) tensors."""
    from runtime.evaluation import Evaluator
    from runtime.recipes.supervised import Supervised
    p = cnn(hflip=1.0)
    seen, evaluated = [], []
    step = Supervised.step
    monkeypatch.setattr(Supervised, "step", lambda self, batch, *a: (seen.append(batch[0]),
                                                                      step(self, batch, *a))[1])
    validated = Evaluator.validated
    monkeypatch.setattr(Evaluator, "validated", lambda self, val: (evaluated.append(val[0]),
                                                                   validated(self, val))[1])
    t, events = run(p, steps=4)
    assert events[-1].kind == "finished"
    ds = load_dataset(p.data.dataset, p.data.options, p.training.seed, None)
    c = compile_graph(p.graph)
    x = bind_data(c, p.data.bind, ds, ["image"])["image"]
    val_idx, train_idx = split(len(ds), p.training.seed, p.training.val_split)
    assert evaluated and all(torch.equal(v, x[val_idx]) for v in evaluated)
    order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(
        p.training.seed + 1))  # seeds.SHUFFLE: the first epoch's order
    first = x[train_idx][order[:p.training.batch_size]]
    assert torch.equal(seen[0], torch.flip(first, [-1]))


def test_runs_are_reproducible_and_augmentation_changes_training():
    s = dict(random_resized_crop={"scale": [0.6, 1]}, rotation=15, brightness=0.2, hflip=0.5)
    a, _ = run(cnn(**s))
    b, _ = run(cnn(**s))
    plain, _ = run(cnn())
    wa, wb, wp = (t.model.state_dict() for t in (a, b, plain))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wp[k]) for k in wa)


def test_none_when_off():
    p = cnn(normalize="from data")  # normalisation alone is no augmentation
    c = compile_graph(p.graph, normalize="from data")
    assert make_augmenter(p.data.augment, c, ["image", "label"], None, 0) is None


@pytest.mark.slow
def test_cnn_trains_with_augmentation():
    p = cnn(random_resized_crop={"scale": [0.7, 1]}, rotation=10, brightness=0.2,
            contrast=0.2, normalize="from data")
    t, events = run(p, steps=60)
    fin = events[-1]
    assert fin.kind == "finished" and fin.metrics["val_accuracy"] > 0.5


# Normalisation travels with the model -----------------------------------------------------------

def test_normalize_module_fitted_on_training_split_or_given():
    t, _ = run(cnn(normalize="from data"), steps=1)
    norm = t.compiled.modules.get_submodule(t.compiled.standardizers["image"])
    ds = load_dataset("digits", {}, 0, None)
    _, train_idx = split(len(ds), 0, 0.2)
    xt = ds.fields["x"][train_idx]
    assert torch.allclose(norm.mean.flatten(), xt.mean().view(1), atol=1e-5)
    assert torch.allclose(norm.std.flatten(), xt.std(unbiased=False).view(1), atol=1e-5)
    t, _ = run(cnn(normalize={"mean": [0.25], "std": [0.5]}), steps=1)
    norm = t.compiled.modules.get_submodule(t.compiled.standardizers["image"])
    x = torch.rand(2, 1, 8, 8)
    assert torch.allclose(norm(x), (x - 0.25) / 0.5)


@pytest.fixture(scope="module")
def normalised(tmp_path_factory):
    """The cnn template trained 8 steps with augmentation and normalisation 'from data'; its
    weights, raw images and the trained model's outputs on them."""
    folder = tmp_path_factory.mktemp("normalised")
    p = cnn(hflip=0.5, brightness=0.1, normalize="from data")
    t, events = run(p, steps=8)
    assert events[-1].kind == "finished"
    save_weights(t.model, folder / "w.safetensors")
    x = torch.rand(5, 1, 8, 8)  # raw pixels in [0, 1]
    t.model.eval()
    with torch.no_grad():
        y = t.model(x)
    assert t.compiled.modules.get_submodule(t.compiled.standardizers["image"]).mean.item() > 0
    return p, folder / "w.safetensors", x, y


def test_torchscript_export_of_a_normalised_cnn_takes_raw_images(normalised, tmp_path):
    p, w, x, y = normalised
    [ts] = export(p, w, "torchscript", tmp_path / "m.pt")
    with torch.no_grad():
        assert (torch.jit.load(str(ts))(x) - y).abs().max() <= 1e-5


@pytest.mark.slow
def test_python_export_of_a_normalised_cnn_takes_raw_images(normalised, tmp_path):
    p, w, x, y = normalised
    files = export(p, w, "python", tmp_path / "net.py")
    assert "Normalize" in files[0].read_text()
    torch.save(x, tmp_path / "x.pt")
    code = ("import torch, sys\nsys.path.insert(0, '.')\nfrom net import load\n"
            "m = load('net.safetensors')\nprint(repr(m(torch.load('x.pt')).tolist()))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (torch.tensor(eval(r.stdout)) - y).abs().max() <= 1e-5


@pytest.mark.slow
def test_a_resumed_run_draws_what_the_uninterrupted_one_drew(tmp_path):
    """The draws are seeded from the step, so a run stopped at a checkpoint and resumed ends
    with the weights of a run that was never interrupted."""
    s = dict(random_resized_crop={"scale": [0.6, 1]}, rotation=15, hflip=0.5)
    whole, _ = run(cnn(**s), steps=10)
    first = Trainer(cnn(**s), device="cpu", max_steps=5, epochs=1)
    assert list(first.run())[-1].kind == "finished"
    first.save_checkpoint(tmp_path / "ck")
    second, events = run(cnn(**s), steps=10, resume_from=tmp_path / "ck")
    assert events[-1].kind == "finished"
    a, b = whole.model.state_dict(), second.model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
