"""A GAN's samples per epoch (issue 28, item 1, "GAN"): the adversarial recipe marks the
Samples taken after each epoch's last step, the run folder keeps them (samples/epoch_NNNN.npz),
a resumed run appends, and `layerloom evaluate` of a run lists them."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from app.cli import main
from graph.project import load
from runtime import seeds
from runtime.compile import Noise, compile_graph
from runtime.data import load_dataset
from runtime.evaluate import evaluate
from runtime.runs import list_runs, read_samples, run_with_logging
from runtime.train import Trainer
from runtime.weights import load_weights

TEMPLATES = __import__("templates").FOLDER


def ring_gan(epochs: int = 3):
    """The gan template on a small ring: 540 training samples, 3 steps an epoch."""
    p = load(TEMPLATES / "gan.json")
    p.data.options = {"n_samples": 600}
    p.training.epochs = epochs
    return p


def fixed_noise_output(p, weights) -> torch.Tensor:
    """The generator of `weights` on the training's fixed noise batch, computed here from
    the project alone: the live noise stream of the project's seed, drawn as the recipe does
    (512 points of each noise input, then the judge's batch)."""
    c = compile_graph(p.graph)
    load_weights(c.model, weights, set(c.modules.state_dict()))
    c.model.eval()
    g = seeds.stream(p.training.seed, seeds.LIVE_NOISE)
    noise = [Noise.of(c.graph, z).sample(512, "cpu", g) for z in c.inputs]
    with torch.no_grad():
        out = c.model(*noise)
    return (out[0] if isinstance(out, tuple) else out).float()


def test_each_epoch_keeps_the_generators_samples_at_its_end(tmp_path):
    p = ring_gan()
    folder = tmp_path / "run"
    t = Trainer(p, device="cpu")
    at_end, ends = {}, []
    for ev in run_with_logging(t, p, folder):
        if ev.kind == "epochend":  # the trainer is suspended here: its weights are the epoch's
            at_end[ev.epoch] = t.recipe.generate("live").numpy()
            ends.append((ev.epoch, ev.step))
    assert ev.kind == "finished"
    kept = read_samples(folder)
    assert [(r["epoch"], r["step"]) for r in kept] == ends == [(1, 3), (2, 6), (3, 9)]
    ds = load_dataset(p.data.dataset, p.data.options, p.training.seed)
    for r in kept:
        assert r["generated"].shape == (512, 2) and r["generated"].dtype == np.float32
        np.testing.assert_array_equal(r["generated"], at_end[r["epoch"]])
        judged = ds.judge(torch.from_numpy(r["generated"]))
        assert r["judged"] == pytest.approx({k: float(v) for k, v in judged.items()})
    assert not np.array_equal(kept[0]["generated"], kept[-1]["generated"])  # it learned
    # the last epoch's grid: the final weights on the fixed noise, recomputed independently
    final = fixed_noise_output(p, folder / "checkpoints" / "last" / "model.safetensors")
    np.testing.assert_allclose(kept[-1]["generated"], final.numpy(), rtol=0, atol=1e-6)
    files = sorted(x.name for x in (folder / "samples").iterdir())
    assert files == ["epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz"]  # no temps left
    assert sum((folder / "samples" / f).stat().st_size for f in files) < 3 * 8 * 1024


@pytest.mark.slow
def test_a_resumed_run_appends_its_epochs(tmp_path):
    p = ring_gan(epochs=4)
    folder = tmp_path / "run"
    t = Trainer(p, device="cpu", log_every=1)
    for ev in run_with_logging(t, p, folder):
        if ev.kind == "step" and ev.step == 7:  # in epoch 3
            t.stop()
    [run] = list_runs(tmp_path)
    assert run.status == "stopped" and run.resumable
    before = read_samples(folder)
    assert [r["epoch"] for r in before] == [1, 2]
    first = (folder / "samples" / "epoch_0001.npz").read_bytes()
    t2 = Trainer(p, device="cpu", resume_from=folder / "checkpoints" / "last")
    events = list(run_with_logging(t2, p, folder, resume=True))
    assert events[-1].kind == "finished" and events[-1].step == 12
    after = read_samples(folder)
    assert [(r["epoch"], r["step"]) for r in after] == [(1, 3), (2, 6), (3, 9), (4, 12)]
    assert (folder / "samples" / "epoch_0001.npz").read_bytes() == first  # kept, not redone
    np.testing.assert_array_equal(after[1]["generated"], before[1]["generated"])
    final = fixed_noise_output(p, folder / "checkpoints" / "last" / "model.safetensors")
    np.testing.assert_allclose(after[-1]["generated"], final.numpy(), rtol=0, atol=1e-6)
    ev = evaluate(p, None, folder / "checkpoints" / "last")  # a checkpoint of the run
    assert [(e["epoch"], e["step"]) for e in ev.figures["epochs"]] == \
        [(r["epoch"], r["step"]) for r in after]


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_train_out_then_evaluate_json_lists_the_epochs(tmp_path, capsys):
    proj, out = tmp_path / "gan.json", tmp_path / "out"
    ring_gan().save(proj)
    assert main(["train", str(proj), "--out", str(out), "--no-progress", "--json"]) == 0
    trained = _json(capsys)
    kept = read_samples(out)
    assert [(r["epoch"], r["step"]) for r in kept] == [(1, 3), (2, 6), (3, 9)]
    final = fixed_noise_output(load(out / "gan.json"), trained["weights"])
    np.testing.assert_allclose(kept[-1]["generated"], final.numpy(), rtol=0, atol=1e-6)
    for weights in (out, out / "gan.safetensors"):
        assert main(["evaluate", str(out / "gan.json"), "--weights", str(weights),
                     "--json"]) == 0
        d = _json(capsys)
        assert d["kind"] == "generator"
        assert [(e["epoch"], e["step"]) for e in d["epochs"]] == [(1, 3), (2, 6), (3, 9)]
        for e, r in zip(d["epochs"], kept):
            assert e["judged"] == pytest.approx(r["judged"])
            np.testing.assert_allclose(e["generated"], r["generated"], rtol=0, atol=5e-4)
    # weights kept nowhere near samples: the grid of those weights, no epochs
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(out / "gan.safetensors", alone / "w.safetensors")
    assert main(["evaluate", str(proj), "--weights", str(alone / "w.safetensors"),
                 "--json"]) == 0
    d = _json(capsys)
    assert d["kind"] == "generator" and "epochs" not in d
    # a shorter run saved into the same folder replaces the samples there
    assert main(["train", str(proj), "--out", str(out), "--epochs", "2", "--no-progress",
                 "--json"]) == 0
    capsys.readouterr()
    assert [r["epoch"] for r in read_samples(out)] == [1, 2]


def test_evaluation_of_a_long_run_holds_at_most_forty_grids(tmp_path):
    from runtime.evaluate.sequences import EPOCH_GRIDS, epochs
    from runtime.runs import write_samples
    (tmp_path / "run.json").write_text("{}")
    for e in range(1, 101):
        write_samples(tmp_path, e, 10 * e, np.full((4, 2), e / 1000, np.float32), {"modes": e})
    (tmp_path / "samples" / "epoch_0050.npz").write_bytes(b"damaged")  # left out, no error
    got = epochs(tmp_path / "checkpoints" / "best")
    assert [g["epoch"] for g in got] == [e for e in range(1, 101) if e != 50]
    assert [g["judged"]["modes"] for g in got] == [g["epoch"] for g in got]
    with_grid = [g for g in got if g["generated"] is not None]
    assert len(with_grid) == EPOCH_GRIDS == 40
    assert with_grid[0]["epoch"] == 1 and with_grid[-1]["epoch"] == 100
    assert with_grid[-1]["generated"] == [[0.1, 0.1]] * 4
    assert epochs(tmp_path / "elsewhere" / "a" / "b" / "c" / "w.safetensors") == []


def test_the_digit_generators_evaluation_has_its_judges_figures(tmp_path):
    """The digits judge fits its classifier on first use: evaluating (under no_grad) once
    left its figures out."""
    from runtime.weights import save_weights
    p = load(TEMPLATES / "gan_digits.json")
    c = compile_graph(p.graph)
    save_weights(c.model, tmp_path / "w.safetensors")
    ev = evaluate(p, None, tmp_path / "w.safetensors")
    assert ev.kind == "generator" and set(ev.figures["judged"]) >= {"digits", "quality"}
    assert "epochs" not in ev.figures


def test_samples_saved_beside_weights_replace_from_the_runs_first_epoch(tmp_path):
    """`train --out` of a fresh run (from epoch 1) starts the list again; a resumed one (from
    epoch 3) keeps the epochs before it and replaces the rest."""
    from types import SimpleNamespace as E

    from runtime.runs import save_samples
    run = lambda epochs, v: [E(epoch=e, step=e, fake=[[v, v]], metrics={}) for e in epochs]  # noqa: E731
    save_samples(tmp_path, run(range(1, 6), 0.0))
    save_samples(tmp_path, run([3, 4], 1.0))
    got = read_samples(tmp_path)
    assert [(r["epoch"], float(r["generated"][0, 0])) for r in got] == \
        [(1, 0.0), (2, 0.0), (3, 1.0), (4, 1.0)]
    save_samples(tmp_path, [])  # a run without a generator leaves them alone
    assert len(read_samples(tmp_path)) == 4
    save_samples(tmp_path, run([1, 2], 2.0))
    assert [r["epoch"] for r in read_samples(tmp_path)] == [1, 2]
