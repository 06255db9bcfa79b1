"""`layerloom train FILE --resume CHECKPOINT_OR_RUN` (issue 27 item 3): `--out DIR` also keeps
DIR/checkpoint when a run finishes or is stopped with Ctrl-C; a run stopped that way and
resumed (with the same --nproc) ends with the weights of an uninterrupted run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "templates" / "mlp.json"


def _project(tmp_path: Path, **training) -> Path:
    p = json.loads(MLP.read_text())
    p["training"].update(training)
    path = tmp_path / "mlp.json"
    path.write_text(json.dumps(p))
    return path


def _train(*argv, timeout=400) -> dict:
    r = subprocess.run([sys.executable, "-m", "app.cli", "train", *map(str, argv), "--json",
                        "--no-progress"], capture_output=True, text=True, cwd=ROOT,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def _interrupted(project: Path, out: Path, *argv) -> dict:
    """A run Ctrl-C'd once its first epoch ended."""
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "train", str(project), "--json",
                             "--no-progress", "--out", str(out), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        for line in proc.stderr:
            if line.startswith("epoch 1 "):
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    return json.loads(stdout.splitlines()[-1])


@pytest.mark.parametrize("argv, said", [
    (["--resume", "nowhere"], "--resume: nowhere: no such file or folder"),
    (["--resume", "."], "no checkpoint there"),
    (["--resume", ".", "--weights", "w.safetensors"], "--resume and --weights"),
])
def test_a_resume_without_a_checkpoint_is_refused_in_words(argv, said, capsys, tmp_path,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(MLP), *argv]) == 2
    assert said in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a process")
@pytest.mark.parametrize("nproc", [1, 2])
def test_ctrl_c_then_resume_ends_as_an_uninterrupted_run(tmp_path, nproc):
    project = _project(tmp_path, epochs=30, batch_size=8, optimizer="adam", lr=0.01)
    argv = ["--nproc", str(nproc)] if nproc > 1 else []
    whole = _train(project, "--out", tmp_path / "whole", *argv)
    assert whole["status"] == "finished"
    stopped = _interrupted(project, tmp_path / "a", *argv)
    assert stopped["status"] == "stopped" and 0 < stopped["steps"] < whole["steps"]
    assert (tmp_path / "a" / "checkpoint" / "trainer.json").is_file()
    resumed = _train(project, "--resume", tmp_path / "a", "--out", tmp_path / "b", *argv)
    assert resumed["status"] == "finished" and resumed["steps"] == whole["steps"]
    want, got = load_file(whole["weights"]), load_file(resumed["weights"])
    assert want.keys() == got.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_resume_takes_an_apps_run_folder(tmp_path):
    """A run folder (the app's, runs/<project>/<run>) resumes from its checkpoints/last."""
    from graph.project import load
    from runtime.runs import run_with_logging
    from runtime.train import Trainer
    project = _project(tmp_path, epochs=2)
    t = Trainer(load(project), max_steps=10)
    assert list(run_with_logging(t, load(project), tmp_path / "run"))[-1].kind == "finished"
    r = _train(project, "--resume", tmp_path / "run")
    assert r["status"] == "finished" and r["steps"] == 50  # the project's 2 epochs
