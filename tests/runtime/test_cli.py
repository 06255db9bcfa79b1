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


@pytest.mark.parametrize("name", ["perceptron", "mlp", "cnn"])
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
