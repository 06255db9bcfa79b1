"""Export > Training script: a folder whose train.py trains the project's model without
LayerLoom (plain python or torchrun, DDP with gloo here), from the same initial weights, split
and order as a LayerLoom run; what it cannot train is refused in words, before anything is
written."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.project import load
from runtime.export import ExportError, export, trained_model
from runtime.weights import load_weights
from tests.runtime.test_export import torch_only_venv

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"


def _template(name: str):
    return load(TEMPLATES / f"{name}.json")


def _run(cmd, cwd, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["OMP_NUM_THREADS"] = "1"
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def _epochs(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("epoch ")]


def _final(stdout: str) -> dict:
    return json.loads(next(line for line in stdout.splitlines()
                           if line.startswith("final "))[len("final "):])


def _same_outputs(project, weights: Path, folder: Path, python) -> None:
    """The trained weights load into the compiled project and into the exported model.py,
    and both give the same outputs."""
    c = trained_model(project, None)
    load_weights(c.model, weights, set(c.modules.state_dict()))
    shapes = [(3, *c.analysis.out_type(n, c.graph.spec(n).value_port).sample_shape)
              for n in c.inputs]
    x = torch.rand(*shapes[0], generator=torch.Generator().manual_seed(0))
    torch.save(x, folder / "x.pt")
    with torch.no_grad():
        want = c.model(x)
    code = ("import sys, torch\nsys.path.insert(0, '.')\nfrom model import load\n"
            f"m = load({str(weights)!r})\nprint(repr(m(torch.load('x.pt')).tolist()))")
    got = torch.tensor(eval(_run([python, "-c", code], folder)))
    assert (got - want).abs().max() <= 1e-5


def test_the_folder_holds_model_train_readme_slurm_and_the_data(tmp_path):
    files = export(_template("mlp"), None, "script", tmp_path / "s")
    assert sorted(f.name for f in files) == sorted(
        ["train.py", "model.py", "README.md", "slurm.sbatch", "model.safetensors",
         "data.safetensors"])
    train = (tmp_path / "s" / "train.py").read_text()
    compile(train, "train.py", "exec")
    assert "DistributedDataParallel" in train and "def cce_loss(" in train
    assert "import layerloom" not in train and "from runtime" not in train
    sbatch = (tmp_path / "s" / "slurm.sbatch").read_text()
    assert "srun torchrun" in sbatch and "--rdzv-endpoint" in sbatch
    assert "torchrun --nproc-per-node" in (tmp_path / "s" / "README.md").read_text()
    from safetensors.torch import load_file
    data = load_file(str(tmp_path / "s" / "data.safetensors"))
    assert set(data) == {"x", "y"} and data["y"].dtype == torch.int64 and len(data["x"]) == 1000


def test_without_weights_it_starts_from_the_projects_seeded_initialisation(tmp_path):
    """The initial weights are those a run of the project starts from (its seed)."""
    from runtime.train import Trainer
    project = _template("mlp")
    export(project, None, "script", tmp_path / "s")
    from safetensors.torch import load_file
    start = load_file(str(tmp_path / "s" / "model.safetensors"))
    t = Trainer(project, device="cpu", max_steps=0)
    list(t.run())
    for k, v in t.model.state_dict().items():
        assert torch.equal(start[k], v), k


def test_given_weights_are_the_start(tmp_path):
    project = _template("mlp")
    c = trained_model(project, None)
    for p in c.model.parameters():
        torch.nn.init.constant_(p, 0.25)
    from runtime.weights import save_weights
    save_weights(c.model, tmp_path / "w.safetensors")
    export(project, tmp_path / "w.safetensors", "script", tmp_path / "s")
    from safetensors.torch import load_file
    assert all(bool((v == 0.25).all()) for v in
               load_file(str(tmp_path / "s" / "model.safetensors")).values())


@pytest.mark.parametrize("change, words", [
    ({"training.recipe": "perceptron"}, "recipe 'perceptron' is not written"),
    ({"data.dataset": "npz", "data.options": {"path": "x.npz"}}, "'npz'"),
])
def test_what_it_cannot_train_is_refused_in_words_and_nothing_is_written(tmp_path, change,
                                                                          words):
    project = _template("mlp")
    for key, value in change.items():
        part, name = key.split(".")
        setattr(getattr(project, part), name, value)
    with pytest.raises(ExportError, match="Training script: .*" + words.replace("(", r"\(")):
        export(project, None, "script", tmp_path / "s")
    assert not os.listdir(tmp_path)


def test_random_augmentation_is_refused_in_words(tmp_path):
    project = _template("cnn")
    project.data.augment.hflip = 0.5
    with pytest.raises(ExportError, match="augmentation .* not written into the script"):
        export(project, None, "script", tmp_path / "s")
    assert not os.listdir(tmp_path)


def test_one_optimizer_record_over_everything_gives_its_optimizer_and_cosine_schedule(
        tmp_path):
    """The transformer template's one record (Adam, lr 1e-3 decaying to 1e-5) is written;
    a record over a part of the graph is refused."""
    project = _template("transformer")
    export(project, None, "script", tmp_path / "s")
    train = (tmp_path / "s" / "train.py").read_text()
    line = next(t for t in train.splitlines() if t.startswith("SETTINGS = "))
    settings = eval(line[len("SETTINGS = "):])
    assert settings["lr_end"] == 1e-05 and settings["lr"] == 0.001 and settings["clip_norm"] == 1.0
    project.training.optimizers[0].start = 10
    with pytest.raises(ExportError, match="optimizer records over parts of the graph"):
        export(project, None, "script", tmp_path / "t")


def test_a_gan_is_refused_naming_its_recipe(tmp_path):
    with pytest.raises(ExportError, match="recipe 'adversarial'"):
        export(_template("gan"), None, "script", tmp_path / "s")
    assert not os.listdir(tmp_path)


def test_a_failure_while_writing_leaves_no_half_written_folder(tmp_path, monkeypatch):
    import runtime.export_script as es

    def broken(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(es, "save_weights", broken)
    with pytest.raises(OSError):
        export(_template("mlp"), None, "script", tmp_path / "s")
    assert not os.listdir(tmp_path)


def test_the_cli_exports_a_script_without_weights_and_asks_for_them_elsewhere(tmp_path,
                                                                              capsys):
    from app.cli import main
    assert main(["export", str(TEMPLATES / "mlp.json"), "--format", "script",
                 "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "train.py").is_file()
    assert main(["export", str(TEMPLATES / "mlp.json"), "--format", "python",
                 "--out", str(tmp_path / "m.py")]) == 2
    assert "--weights is required for the python format" in capsys.readouterr().err
    assert main(["export", str(TEMPLATES / "mlp.json"), "--format", "script",
                 "--out", str(tmp_path / "s")]) != 0  # exists: --force
    assert "--force" in capsys.readouterr().err


@pytest.mark.slow  # a fresh venv (shared), two trainings in subprocesses
def test_mlp_script_in_a_torch_only_venv_matches_layerloom(tmp_path, tmp_path_factory):
    """python train.py in a venv with only torch and safetensors: it finishes, the loss falls,
    its validation numbers are LayerLoom's own for the same epochs (same initial weights,
    split, order and optimizer), and the weights load back into the project."""
    from runtime.train import Trainer
    project = _template("mlp")
    export(project, None, "script", tmp_path / "s")
    py = torch_only_venv(tmp_path_factory)
    out = _run([py, "train.py", "--epochs", "3", "--out", "run"], tmp_path / "s")
    lines = _epochs(out)
    assert len(lines) == 3
    losses = [float(line.split("  loss ")[1].split()[0]) for line in lines]
    assert losses[-1] < losses[0]
    final = _final(out)
    events = list(Trainer(project, device="cpu", epochs=3).run())
    assert events[-1].kind == "finished"
    app = events[-1].metrics
    assert abs(final["val_loss"] - app["val_loss"]) <= 1e-4
    assert abs(final["val_accuracy"] - app["val_accuracy"]) <= 1e-6
    _same_outputs(project, tmp_path / "s" / "run" / "model.safetensors", tmp_path / "s", py)


@pytest.mark.slow  # torchrun with two processes (gloo) on both templates
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_torchrun_two_processes(name, tmp_path, tmp_path_factory):
    """torchrun --nproc-per-node 2 (gloo, CPU) in the torch-only venv: it finishes, the loss
    falls, rank 0 alone prints and writes (the weights and the metrics, nothing else), and
    the weights load back into the project with the same outputs."""
    project = _template(name)
    export(project, None, "script", tmp_path / "s")
    py = torch_only_venv(tmp_path_factory)
    epochs = 3 if name == "mlp" else 2
    out = _run([py, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                "train.py", "--epochs", epochs, "--out", "run"], tmp_path / "s")
    lines = _epochs(out)
    assert len(lines) == epochs  # one process prints
    assert "2 processes on cpu" in out
    losses = [float(line.split("  loss ")[1].split()[0]) for line in lines]
    assert losses[-1] < losses[0]
    assert sorted(os.listdir(tmp_path / "s" / "run")) == ["metrics.csv", "model.safetensors"]
    with open(tmp_path / "s" / "run" / "metrics.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(1, epochs + 1))
    _same_outputs(project, tmp_path / "s" / "run" / "model.safetensors", tmp_path / "s", py)


@pytest.mark.slow  # a training in a subprocess
def test_a_csv_project_reads_its_file(tmp_path):
    """File data is read by train.py from the original file (--data, default the project's
    path), with LayerLoom's columns and class order."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=g)
    with open(tmp_path / "points.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "side"])
        for a, b in x.tolist():
            w.writerow([a, b, "left" if a < 0.5 else "right"])
    project = _template("mlp")
    project.data.dataset = "csv"
    project.data.options = {"path": "points.csv", "label": "side"}
    project.data.bind = {}
    project.save(tmp_path / "p.json")
    export(project, None, "script", tmp_path / "s", project_path=tmp_path / "p.json")
    assert not (tmp_path / "s" / "data.safetensors").exists()
    out = _run([sys.executable, "train.py", "--epochs", "5"], tmp_path / "s")
    assert "200 samples (160 training, 40 validation)" in out
    assert _final(out)["val_accuracy"] > 0.6


@pytest.mark.slow  # a training in a subprocess (Pillow: the app's venv)
def test_an_image_folder_project_reads_its_images(tmp_path):
    from PIL import Image
    for k, cls in enumerate(["dark", "light"]):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(12):
            v = 30 + 10 * i if k == 0 else 150 + 8 * i
            Image.new("L", (16, 12), v).save(tmp_path / "imgs" / cls / f"{i}.png")
    project = _template("cnn")
    project.data.dataset = "images"
    project.data.options = {"path": "imgs", "channels": 1, "height": 8, "width": 8}
    project.save(tmp_path / "p.json")
    export(project, None, "script", tmp_path / "s", project_path=tmp_path / "p.json")
    out = _run([sys.executable, "train.py", "--epochs", "2", "--workers", "1"], tmp_path / "s")
    assert "24 samples" in out and len(_epochs(out)) == 2
    assert (tmp_path / "s" / "trained" / "model.safetensors").is_file()
