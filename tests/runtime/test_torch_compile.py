"""training.compile (issue 27, item 6): torch.compile as an opt-in setting, with the eager
fallback and a message when compilation fails."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.project import load
from runtime import torch_compile
from runtime.train import Trainer

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "templates" / "mlp.json"


def _run(compile_: bool, steps: int = 12):
    p = load(MLP)
    p.training.compile = compile_
    t = Trainer(p, device="cpu", max_steps=steps, log_every=1)
    events = list(t.run())
    assert events[-1].kind == "finished", events[-1]
    return t, events


def _failing_backend(gm, example_inputs):
    raise RuntimeError("this backend cannot compile anything")


def test_the_setting_is_off_by_default_and_not_written():
    p = load(MLP)
    assert p.training.compile is False
    assert "compile" not in json.loads(p.to_json())["training"]
    p.training.compile = True
    assert json.loads(p.to_json())["training"]["compile"] is True


def test_a_failing_compiler_leaves_the_run_eager_and_says_why(monkeypatch):
    real = torch_compile.compile_objective
    monkeypatch.setattr(torch_compile, "compile_objective",
                        lambda o, a, backend="inductor": real(o, a, _failing_backend))
    t, events = _run(True)
    started = next(e for e in events if e.kind == "started")
    assert any("torch.compile failed, training eagerly instead: RuntimeError: this backend "
               "cannot compile anything" in n for n in started.notes)
    ref, ref_events = _run(False)
    # the trial call changed nothing: the eager run's losses and weights, exactly
    assert [e.loss for e in events if e.kind == "step"] == \
        [e.loss for e in ref_events if e.kind == "step"]
    for k, v in ref.model.state_dict().items():
        torch.testing.assert_close(t.model.state_dict()[k], v, atol=0, rtol=0)


def test_a_recipe_without_autograd_steps_is_trained_eagerly_with_a_note():
    p = load(ROOT / "templates" / "perceptron.json")
    p.training.compile = True
    events = list(Trainer(p, device="cpu", max_steps=3).run())
    assert events[-1].kind == "finished"
    started = next(e for e in events if e.kind == "started")
    assert any("not applied to the 'perceptron' recipe" in n for n in started.notes)


def test_a_run_with_optimizer_records_is_trained_eagerly_with_a_note():
    p = load(ROOT / "templates" / "transformer.json")
    assert p.training.optimizers  # its schedule is an optimizer record
    p.training.compile = True
    events = list(Trainer(p, device="cpu", max_steps=1).run())
    assert events[-1].kind == "finished", events[-1]
    started = next(e for e in events if e.kind == "started")
    assert any("not applied to a run with optimizer records" in n for n in started.notes)


@pytest.mark.slow  # TorchInductor compiles C++ for the CPU: 15-30 s on 2 cores
def test_a_compiled_run_trains_as_the_eager_one():
    t, events = _run(True)
    started = next(e for e in events if e.kind == "started")
    assert started.notes == []
    ref, ref_events = _run(False)
    losses = [e.loss for e in events if e.kind == "step"]
    ref_losses = [e.loss for e in ref_events if e.kind == "step"]
    assert losses == pytest.approx(ref_losses, abs=1e-4)
    for k, v in ref.model.state_dict().items():  # the same names: checkpoints unchanged
        torch.testing.assert_close(t.model.state_dict()[k], v, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_the_cli_says_why_the_run_is_eager(tmp_path):
    p = json.loads((ROOT / "templates" / "perceptron.json").read_text())
    p["training"]["compile"] = True
    f = tmp_path / "p.json"
    f.write_text(json.dumps(p))
    r = subprocess.run([sys.executable, "-m", "app.cli", "train", str(f), "--max-steps", "2",
                        "--no-progress"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "torch.compile is not applied to the 'perceptron' recipe" in r.stdout + r.stderr
