"""Evaluating a trained model (issue 28 items 1 and 3): every figure equals scikit-learn's on
the same predictions, a confusion cell lists exactly its samples, `layerloom evaluate --json`
after `layerloom train --out` agrees with the run's own validation metrics, the HTML file is
valid with its images embedded, bad input exits 2 naming the file."""
from __future__ import annotations

import base64
import json
import math
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (average_precision_score, confusion_matrix, mean_absolute_error,
                             mean_squared_error, precision_recall_fscore_support, r2_score,
                             roc_auc_score, roc_curve)

from app.cli import main
from runtime.evaluate import Evaluation
from runtime.evaluate.classify import classification, per_sample, regression

ROOT = Path(__file__).resolve().parents[2]


def template_path(name: str) -> Path:
    return ROOT / "templates" / f"{name}.json"


def _predictions(n=400, C=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    logits = rng.normal(size=(n, C)) + 2.0 * np.eye(C)[y] * rng.random((n, 1))
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, proba


def test_classification_figures_equal_sklearn():
    y, proba = _predictions()
    C = proba.shape[1]
    f = classification(y, proba, [f"c{k}" for k in range(C)])
    pred = proba.argmax(1)
    assert f["accuracy"] == pytest.approx((pred == y).mean())
    assert f["confusion_matrix"] == confusion_matrix(y, pred, labels=range(C)).tolist()
    p, r, f1, s = precision_recall_fscore_support(y, pred, labels=range(C), zero_division=0)
    for k, row in enumerate(f["per_class"]):
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == \
            pytest.approx((p[k], r[k], f1[k], s[k]))
        assert row["class"] == f"c{k}"
    assert f["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr",
                                                       average="macro"))
    for k, cu in enumerate(f["curves"]):
        assert cu["roc_auc"] == pytest.approx(roc_auc_score(y == k, proba[:, k]))
        assert cu["average_precision"] == pytest.approx(average_precision_score(y == k,
                                                                                proba[:, k]))
        fpr, tpr, _ = roc_curve(y == k, proba[:, k])
        assert cu["roc"]["fpr"][0] == fpr[0] and cu["roc"]["tpr"][-1] == tpr[-1]
    # calibration: sklearn's bins, and the ECE counted sample by sample
    conf, right = proba.max(1), (pred == y).astype(int)
    acc_b, conf_b = calibration_curve(right, conf, n_bins=10, strategy="uniform")
    bins = f["calibration"]["bins"]
    assert [b["accuracy"] for b in bins] == pytest.approx(acc_b.tolist())
    assert [b["confidence"] for b in bins] == pytest.approx(conf_b.tolist())
    assert sum(b["count"] for b in bins) == len(y)
    ece = 0.0
    for b in bins:  # by hand: the samples whose confidence falls in the bin
        inside = (conf >= b["low"]) & ((conf < b["high"]) if b["high"] < 1 else (conf <= 1))
        assert inside.sum() == b["count"]
        ece += inside.sum() / len(y) * abs(right[inside].mean() - conf[inside].mean())
    assert f["ece"] == pytest.approx(ece)


def test_confusion_cell_lists_exactly_its_samples():
    y, proba = _predictions(n=300, C=3, seed=1)
    positions = np.arange(300) * 7 + 3
    f = classification(y, proba, ["a", "b", "c"])
    ev = Evaluation("classification", "val", "w", "p", f, samples=per_sample(y, proba, positions))
    pred = proba.argmax(1)
    for t in range(3):
        for p in range(3):
            rows = ev.cell(t, p)
            want = np.flatnonzero((y == t) & (pred == p))
            assert [r["index"] for r in rows] == want.tolist()
            assert [r["dataset_index"] for r in rows] == positions[want].tolist()
            assert len(rows) == f["confusion_matrix"][t][p]
            assert all(r["confidence"] == pytest.approx(proba[r["index"]].max()) for r in rows)


def test_binary_and_missing_classes():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.6 + rng.random(200) * 0.4, 0, 1)
    f = classification(y, np.stack([1 - p1, p1], 1), ["no", "yes"])
    assert f["roc_auc"] == pytest.approx(roc_auc_score(y, p1))
    y3, proba = _predictions(n=200, C=3, seed=3)
    y3[y3 == 2] = 0  # class 2 absent from the split: its curves are none, the AUC theirs
    f = classification(y3, proba, ["a", "b", "c"])
    assert f["curves"][2]["roc"] is None and f["roc_auc_classes"] == 2
    assert f["roc_auc"] == pytest.approx(np.mean([roc_auc_score(y3 == k, proba[:, k])
                                                  for k in (0, 1)]))


def test_regression_figures_equal_sklearn():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(150, 1))
    pred = y + rng.normal(scale=0.3, size=(150, 1))
    f = regression(y, pred)
    assert f["mae"] == pytest.approx(mean_absolute_error(y, pred))
    assert f["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, pred)))
    assert f["r2"] == pytest.approx(r2_score(y, pred))
    assert f["residuals"] == pytest.approx((pred - y).ravel().tolist())


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])


def _check_html(path: Path, at_least: int) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    parser = _Images()
    parser.feed(text)
    parser.close()
    assert "table" in parser.tags
    assert len(parser.images) >= at_least
    for src in parser.images:  # embedded, nothing fetched: each a valid SVG document
        head, data = src.split(",", 1)
        assert head == "data:image/svg+xml;base64"
        assert ET.fromstring(base64.b64decode(data)).tag.endswith("svg")
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")


def _train(tmp_path, name: str, capsys, steps: int = 20) -> tuple[Path, dict]:
    out = tmp_path / name
    assert main(["train", str(template_path(name)), "--max-steps", str(steps), "--out",
                 str(out), "--json", "--no-progress"]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return out, run


def _evaluate(capsys, project: Path, weights: Path, *extra) -> dict:
    assert main(["evaluate", str(project), "--weights", str(weights), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_cli_classifier_templates(tmp_path, capsys, name):
    out, run = _train(tmp_path, name, capsys)
    html = tmp_path / "eval.html"
    d = _evaluate(capsys, out / f"{name}.json", out, "--html", str(html))
    assert d["kind"] == "classification"
    for key in ("accuracy", "confusion_matrix", "per_class", "roc_auc", "ece", "curves",
                "calibration", "per_sample"):
        assert key in d
    assert d["accuracy"] == pytest.approx(run["metrics"]["val_accuracy"], abs=1e-6)
    cm = np.array(d["confusion_matrix"])
    assert cm.sum() == len(d["per_sample"]) == d["samples"]
    _check_html(html, 4)
    train = _evaluate(capsys, out / f"{name}.json", out, "--split", "train")
    assert train["samples"] == run_samples(out / f"{name}.json") - d["samples"]


def run_samples(project: Path) -> int:
    from graph.project import load
    from runtime.data import load_dataset
    p = load(project)
    return len(load_dataset(p.data.dataset, p.data.options, p.training.seed, project.parent))


@pytest.mark.slow
def test_cli_regression_lstm(tmp_path, capsys):
    out, run = _train(tmp_path, "lstm", capsys, steps=5)
    html = tmp_path / "lstm.html"
    d = _evaluate(capsys, out / "lstm.json", out, "--html", str(html))
    assert d["kind"] == "regression"
    assert d["mae"] == pytest.approx(run["metrics"]["val_mae"], rel=1e-4)
    assert len(d["true"]) == len(d["predicted"]) == len(d["residuals"]) == d["samples"]
    _check_html(html, 2)


@pytest.mark.slow
def test_cli_seq2seq_character_and_gan(tmp_path, capsys):
    out, run = _train(tmp_path, "attention_seq2seq", capsys, steps=2)
    d = _evaluate(capsys, out / "attention_seq2seq.json", out)
    assert d["kind"] == "sequence to sequence"
    assert d["exact_match"] == pytest.approx(run["metrics"]["val_exact_match"], abs=1e-9)
    assert sum(b["samples"] for b in d["by_length"]) == d["samples"]
    out, run = _train(tmp_path, "char_lstm", capsys, steps=1)
    d = _evaluate(capsys, out / "char_lstm.json", out)
    assert d["kind"] == "character model"
    assert d["loss_per_character"] == pytest.approx(run["metrics"]["val_loss"], rel=1e-4)
    assert d["accuracy"] == pytest.approx(run["metrics"]["val_accuracy"], abs=1e-6)
    out, run = _train(tmp_path, "gan", capsys, steps=2)
    html = tmp_path / "gan.html"
    d = _evaluate(capsys, out / "gan.json", out, "--html", str(html))
    assert d["kind"] == "generator" and len(d["generated"]) == d["samples"]
    assert set(d["judged"]) == {"modes", "quality"}
    _check_html(html, 1)


def test_bad_input_exits_2_naming_the_file(tmp_path, capsys):
    mlp = str(template_path("mlp"))
    assert main(["evaluate", mlp, "--weights", str(tmp_path / "none.safetensors")]) == 2
    assert "none.safetensors" in capsys.readouterr().err
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not weights")
    assert main(["evaluate", mlp, "--weights", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "junk.safetensors" in err and "Traceback" not in err
    assert main(["evaluate", mlp, "--weights", str(junk), "--html",
                 str(tmp_path / "no" / "x.html")]) == 2
    assert "x.html" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # the CLI's project loading, as for every command
        main(["evaluate", str(tmp_path / "nothing.json"), "--weights", str(junk)])
    assert e.value.code == 2 and "nothing.json" in capsys.readouterr().err


def _fresh_weights(name: str, path: Path) -> None:
    from graph.project import load
    from runtime.compile import compile_graph
    from runtime.weights import save_weights
    p = load(template_path(name))
    c = compile_graph(p.graph, standardize=p.data.standardize,
                      normalize=p.data.augment.normalize)
    save_weights(c.model, path)


def test_split_is_the_runs_and_wrong_weights_named(tmp_path, capsys):
    from graph.project import load
    from runtime.evaluate import evaluate
    from runtime.train import split
    w = tmp_path / "mlp.safetensors"
    _fresh_weights("mlp", w)
    project = load(template_path("mlp"))
    ev = evaluate(project, template_path("mlp").parent, w)
    val, _ = split(1000, project.training.seed, project.training.val_split)
    assert [s["dataset_index"] for s in ev.samples] == val.tolist()
    assert ev.figures["samples"] == len(val) == np.sum(ev.figures["confusion_matrix"])
    other = tmp_path / "cnn.safetensors"
    _fresh_weights("cnn", other)
    assert main(["evaluate", str(template_path("mlp")), "--weights", str(other)]) == 2
    err = capsys.readouterr().err
    assert "cnn.safetensors" in err and "Traceback" not in err
