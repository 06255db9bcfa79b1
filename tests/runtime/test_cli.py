"""The `layerloom` command, run as a user runs it (a subprocess)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from graph.project import load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_templates_lists_name_and_path():
    r = cli("templates")
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(lines) >= 3
    names = [line.split("\t")[0] for line in lines]
    assert names[:3] == ["Perceptron", "ANN / MLP", "CNN"]
    for line in lines:
        name, path = line.split("\t")
        assert Path(path).is_file() and load(path).name == name


# Each is a process of its own (4-5 s): five every day, the rest in the full tier
CHECK_EVERYDAY = {"mlp", "cnn", "resnet", "transformer", "lstm_from_gates"}


@pytest.mark.parametrize("name", [
    pytest.param(t.key, marks=() if t.key in CHECK_EVERYDAY else pytest.mark.slow)
    for t in __import__("templates").list_templates()])
def test_check_templates(name):
    r = cli("check", TEMPLATES / f"{name}.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no problems found" in r.stdout


def test_check_table():
    out = cli("check", TEMPLATES / "cnn.json").stdout
    assert "conv2    Conv2d" in out and "N × 32 × 4 × 4   4,640" in out
    assert "13 nodes, 6,090 parameters" in out


def test_check_reports_problems_and_exits_1(tmp_path):
    text = (TEMPLATES / "cnn.json").read_text().replace('"in_features": null', '"in_features": 512')
    f = tmp_path / "bad.json"
    f.write_text(text)
    r = cli("check", f)
    assert r.returncode == 1
    assert "dense (port x): Linear 'dense' expects 512 input features but 'flatten' gives 128" in r.stdout


@pytest.mark.parametrize("content", [None, "", "{not json", "[]"])
def test_check_unreadable_file_exits_2(tmp_path, content):
    f = tmp_path / "p.json"
    if content is not None:
        f.write_text(content)
    r = cli("check", f)
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {f}:") and "Traceback" not in r.stderr


def test_train_json_and_out(tmp_path):
    r = cli("train", TEMPLATES / "perceptron.json", "--json", "--device", "cpu", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("steps", "seconds", "final_loss", "metrics", "device", "samples_per_second"):
        assert key in result
    assert result["metrics"]["accuracy"] == 1.0 and result["device"] == "cpu"
    assert (tmp_path / "perceptron.safetensors").is_file()
    assert load(tmp_path / "perceptron.json").name == "Perceptron"


def test_train_max_steps_and_human_output():
    r = cli("train", TEMPLATES / "mlp.json", "--max-steps", "30", "--device", "cpu",
            "--no-progress")
    assert r.returncode == 0
    assert "Training ANN / MLP on CPU" in r.stdout and "done: 30 steps" in r.stdout


def test_train_failure_exits_1_with_json_error():
    r = cli("train", TEMPLATES / "mlp.json", "--json", "--device", "cuda")
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert r.returncode == 1
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["status"] == "failed" and "device 'cuda'" in result["error"]
    assert "Traceback" not in r.stderr


def test_bad_arguments():
    r = cli("train", TEMPLATES / "mlp.json", "--epochs", "0")
    assert r.returncode == 2 and "--epochs must be at least 1" in r.stderr


# train --out: checked before training, and nothing trained is ever lost -----------------------

def project_copy(folder: Path, template: str = "perceptron") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{template}.json"
    p.write_text((TEMPLATES / f"{template}.json").read_text())
    return p


def test_train_out_an_existing_file_is_refused_before_training(tmp_path):
    p = project_copy(tmp_path)
    before = p.read_bytes()
    r = cli("train", p, "--out", p, "--device", "cpu", "--no-progress")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr == f"error: {p}: is a file, not a folder (--out names a folder for the " \
                       "weights and a copy of the project)\n"
    assert "Training" not in r.stdout and p.read_bytes() == before


def test_train_out_that_cannot_be_made_is_refused_before_training(tmp_path):
    p = project_copy(tmp_path)
    out = tmp_path / "perceptron.json" / "trained"  # under a file: mkdir fails, even for root
    r = cli("train", p, "--out", out, "--device", "cpu", "--no-progress")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(f"error: {out}: cannot write there (") and r.stderr.count("\n") == 1
    assert "Training" not in r.stdout and "Traceback" not in r.stderr


def test_train_out_an_unwritable_folder_is_refused_before_training(tmp_path):
    import tempfile
    try:  # sysfs refuses new files even to root; elsewhere there is nothing to test with
        tempfile.TemporaryFile(dir="/sys").close()
        pytest.skip("/sys is writable here")
    except OSError:
        pass
    p = project_copy(tmp_path)
    for out in ("/sys", "/sys/layerloom-trained"):
        r = cli("train", p, "--out", out, "--device", "cpu", "--no-progress")
        assert r.returncode == 2, r.stdout + r.stderr
        assert r.stderr.startswith(f"error: {out}") and "cannot write there" in r.stderr
        assert "Training" not in r.stdout and "Traceback" not in r.stderr


def test_train_out_leaves_no_empty_folder_when_training_fails(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = cli("train", project_copy(tmp_path), "--device", "cuda", "--out", tmp_path / "a" / "b")
    assert r.returncode == 1 and "device 'cuda'" in r.stderr
    assert not (tmp_path / "a").exists()


SAVE_FAILS = """
import errno, sys
import runtime.weights as w
real = w.save_weights
def full_disk(module, path, metadata=None):  # the --out folder fills up after the pre-check
    if str(path).startswith(sys.argv[1]):
        raise OSError(errno.ENOSPC, "No space left on device")
    return real(module, path, metadata)
w.save_weights = full_disk
from app.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def test_train_saves_to_a_fallback_when_saving_fails_after_training(tmp_path):
    import os
    from safetensors.torch import load_file
    p, out, home = project_copy(tmp_path / "project"), tmp_path / "out", tmp_path / "home"
    r = subprocess.run([sys.executable, "-c", SAVE_FAILS, str(out), "train", str(p), "--json",
                        "--device", "cpu", "--no-progress", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, LAYERLOOM_HOME=str(home)))
    assert "Traceback" not in r.stderr
    assert r.returncode == 1, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished"
    weights, copy = Path(result["weights"]), Path(result["project"])
    assert home / "unsaved" in weights.parents and weights.is_file() and copy.is_file()
    assert set(load_file(weights)) == {"perceptron.weight", "perceptron.bias"}
    assert load(copy).name == "Perceptron"
    assert f"{out}: No space left on device" in result["error"] and str(weights.parent) in \
        result["error"]
    [line] = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith(f"error: could not save the trained model to {out}: No space left")
    assert f"saved it to {weights} instead" in line


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_train_out_copy_still_finds_its_csv(tmp_path):
    import numpy as np
    from graph.settings import DataSettings
    a = tmp_path / "A"
    a.mkdir()
    rng = np.random.default_rng(0)
    rows = ["f1,f2,label"] + [f"{x:.4f},{y:.4f},{'hi' if x + y > 0 else 'lo'}"
                              for x, y in rng.normal(size=(60, 2))]
    (a / "data.csv").write_text("\n".join(rows))
    project = load(TEMPLATES / "mlp.json")
    project.data = DataSettings(dataset="csv", options={"path": "data.csv", "label": "label"},
                                bind={"x": "x", "label": "y"})
    project.save(a / "mine.json")
    r = cli("train", a / "mine.json", "--out", tmp_path / "B", "--max-steps", "2",
            "--device", "cpu", "--no-progress")
    assert r.returncode == 0, r.stderr
    copy = tmp_path / "B" / "mine.json"
    assert load(copy).data.options["path"] == "../A/data.csv"
    r = cli("train", copy, "--max-steps", "2", "--device", "cpu", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "done: 2 steps" in r.stdout


def test_train_reports_the_datasets_baselines():
    """The bar a trivial model sets (issue 10: the adding problem's constant guess, MSE ~0.167)
    is printed and in the JSON summary."""
    r = cli("train", TEMPLATES / "lstm.json", "--max-steps", "3", "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "baselines (what a trivial model scores): constant mse 0.17" in r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert 0.15 < res["baselines"]["constant_mse"] < 0.18
