"""Feature standardisation (data.standardize): z-scores fitted on the training split, part of
the model, so exports scale raw features the same way (issue 9, item 15)."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.project import load
from runtime.compile import compile_graph
from runtime.export import export, trained_model
from runtime.train import Trainer

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"


def breast_cancer_csv(folder: Path) -> Path:
    """scikit-learn's breast-cancer table (shipped in its wheel) as a CSV with a header."""
    import sklearn
    src = Path(sklearn.__file__).parent / "datasets" / "data" / "breast_cancer.csv"
    rows = list(csv.reader(src.open()))[1:]
    out = folder / "cancer.csv"
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(30)] + ["diagnosis"])
        w.writerows(rows)
    return out


def cancer_project(folder: Path, standardize: bool):
    p = load(TEMPLATES / "mlp.json")
    breast_cancer_csv(folder)
    p.graph.set_param("x", "shape", [30])
    p.data.dataset = "csv"
    p.data.options = {"path": "cancer.csv", "label": "diagnosis"}
    p.data.standardize = standardize
    p.training.epochs, p.training.lr = 30, 0.01
    return p


def final_metrics(p, folder):
    events = list(Trainer(p, base_dir=folder, device="cpu").run())
    assert events[-1].kind == "finished", events[-1]
    return events[-1].metrics


def test_unscaled_features_stall_and_standardised_ones_train(tmp_path):
    """The issue's own case: breast-cancer features unscaled trained to the majority class
    (0.63); standardised, to 0.96."""
    raw = final_metrics(cancer_project(tmp_path, False), tmp_path)
    scaled = final_metrics(cancer_project(tmp_path, True), tmp_path)
    assert scaled["val_accuracy"] >= 0.93, scaled
    assert scaled["val_accuracy"] > raw["val_accuracy"] + 0.05, (raw, scaled)


def test_fitted_on_the_training_split_only(tmp_path):
    p = cancer_project(tmp_path, True)
    p.training.epochs = 1
    t = Trainer(p, base_dir=tmp_path, device="cpu")
    assert list(t.run())[-1].kind == "finished"
    std = t.compiled.modules.get_submodule("x_standardize")
    from runtime.data import load_dataset
    x = load_dataset("csv", p.data.options, 0, tmp_path).fields["x"]
    n = len(x)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(p.training.seed))
    train = x[perm[int(n * p.training.val_split):]]
    assert torch.allclose(std.mean, train.mean(0), rtol=1e-5)
    assert torch.allclose(std.std, train.std(0, unbiased=False), rtol=1e-4)
    assert not torch.allclose(std.mean, x.mean(0), rtol=1e-6)  # not the whole set


def test_the_exported_model_scales_raw_features(tmp_path):
    p = cancer_project(tmp_path, True)
    p.training.epochs = 2
    t = Trainer(p, base_dir=tmp_path, device="cpu")
    assert list(t.run())[-1].kind == "finished"
    from runtime.weights import save_weights
    save_weights(t.model, tmp_path / "w.safetensors")
    raw = torch.rand(5, 30) * torch.tensor([1000.0] * 10 + [0.1] * 20)
    with torch.no_grad():
        want = t.model.eval()(raw)
    c = trained_model(p, tmp_path / "w.safetensors")
    assert "x_standardize" in c.model.code
    with torch.no_grad():
        assert torch.allclose(c.model(raw), want, atol=1e-6)
    files = export(p, tmp_path / "w.safetensors", "python", tmp_path / "cancer_model.py")
    code = (tmp_path / "cancer_model.py").read_text()
    assert "class Standardize" in code and "self.x_standardize = Standardize(num_features=30)" \
        in code
    script = ("import sys, torch; sys.path.insert(0, sys.argv[1]); import cancer_model as m; "
              "model = m.load(); torch.manual_seed(0); "
              "x = torch.rand(5, 30) * torch.tensor([1000.0] * 10 + [0.1] * 20); "
              "print(model(x).sum().item())")
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    torch.manual_seed(0)
    x = torch.rand(5, 30) * torch.tensor([1000.0] * 10 + [0.1] * 20)
    with torch.no_grad():
        assert abs(float(r.stdout) - c.model(x).sum().item()) < 1e-4


def test_standardize_on_images_is_refused_with_the_reason(tmp_path):
    p = load(TEMPLATES / "cnn.json")
    p.data.standardize = True
    fail = list(Trainer(p, device="cpu", max_steps=2).run())[-1]
    assert fail.kind == "failed" and "data.standardize" in fail.message
    assert "Traceback" not in fail.message


def test_the_setting_round_trips_and_old_files_stay_as_they_were(tmp_path):
    p = load(TEMPLATES / "mlp.json")
    assert "standardize" not in p.to_json()
    p.data.standardize = True
    p.save(tmp_path / "s.json")
    assert load(tmp_path / "s.json").data.standardize is True


def test_a_node_named_like_the_standardiser_does_not_clash():
    p = load(TEMPLATES / "mlp.json")
    p.graph.rename_node("relu1", "x_standardize")
    c = compile_graph(p.graph, standardize=True)
    assert c.standardizers == {"x": "x_standardize_"}
    assert torch.isfinite(c.model(torch.rand(3, 2))).all()
