"""Trying a trained model (runtime.tryout): the run's own validation samples, the model's
prediction for each, text generation for a character model, and plain errors."""
import pytest
import torch

from graph.project import load
from runtime.train import Trainer, split
from runtime.tryout import TryError, Tryout, latest_weights
from templates import FOLDER


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


def test_a_sequence_sample(tmp_path):
    p, ck, _ = trained("lstm", tmp_path)
    s = Tryout(p, None, ck).sample(0)
    assert s.kinds["x"] == "sequence" and s.inputs["x"].shape == (50, 2)
    assert s.kinds["total"] == "value" and s.outputs["total"].shape == (1,)


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
