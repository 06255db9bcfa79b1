"""Several processes (issue 27 item 3): `layerloom train --nproc N` through torchrun, gloo on
the CPU (runtime/distributed.py, app/cli_distributed.py)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.cli import main
from runtime import distributed as D

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "templates" / "mlp.json"


# The share of an epoch's order ---------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 7, 10, 64, 101])
@pytest.mark.parametrize("w", [1, 2, 3, 4])
def test_share_covers_every_index_once_per_epoch(n, w):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n * 10 + w))
    shares = [D.share(order, r, w) for r in range(w)]
    assert len({len(s) for s in shares}) == 1  # every process takes as many steps
    taken = torch.cat(shares).tolist()
    assert set(taken) == set(range(n))  # every index
    assert len(taken) - n == -n % w < w  # once, but for the padding DistributedSampler adds
    if -n % w == 0:
        assert sorted(taken) == list(range(n))
    # the DistributedSampler's rule: process r takes positions r, r + w, ...
    padded = torch.cat([order, order[:(-n % w)]]) if n >= w else None
    if padded is not None:
        for r in range(w):
            assert shares[r].tolist() == padded[r::w].tolist()


def test_a_steps_positions_are_the_one_process_batch():
    """Local batch k of every process, together, is positions [k·B·w, (k+1)·B·w) of the
    order: the batch one process with a w-times larger batch takes."""
    order, w, b = torch.randperm(48), 2, 6
    shares = [D.share(order, r, w) for r in range(w)]
    for k in range(48 // (b * w)):
        got = sorted(torch.cat([s[k * b:(k + 1) * b] for s in shares]).tolist())
        assert got == sorted(order[k * b * w:(k + 1) * b * w].tolist())


def test_one_process_changes_nothing():
    order = torch.randperm(10)
    assert D.share(order) is order
    assert not D.active() and D.world() == 1 and D.rank() == 0
    mets = {"loss": 0.5, "accuracy": 0.25}
    assert D.reduce_means(mets, 10) is mets
    assert D.global_batch(32, {"gd": 800, "sgd": 1}, "adam", 800) == 32
    D.agree_stop(None)  # no process group: nothing asked of the stop event


# The command's checks (no processes started) -------------------------------------------------
@pytest.mark.parametrize("argv, said", [
    (["--nnodes", "2"], "--rdzv-endpoint"),
    (["--nnodes", "2", "--rdzv-endpoint", "nohost"], "HOST:PORT"),
    (["--nproc", "2", "--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "h:1"],
     "--node-rank 2"),
    (["--nproc", "0", "--nnodes", "2"], "--nproc must be at least 1"),
])
def test_bad_launch_options_are_refused_in_words(argv, said, capsys):
    assert main(["train", str(MLP), *argv]) == 2
    assert said in capsys.readouterr().err


# Through torchrun (2 processes, gloo) --------------------------------------------------------
def _project(tmp_path: Path, **training) -> Path:
    p = json.loads(MLP.read_text())
    p["training"].update(training)
    path = tmp_path / "mlp.json"
    path.write_text(json.dumps(p))
    return path


def _train(project: Path, *argv, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "train", str(project), "--json",
                           "--no-progress", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _epochs(stderr: str) -> list[dict[str, float]]:
    out = []
    for line in stderr.splitlines():
        m = re.match(r"epoch \d+  (.*)  \(", line)
        if m:
            words = m.group(1).split()
            out.append({words[i]: float(words[i + 1]) for i in range(0, len(words), 2)})
    return out


@pytest.mark.slow
def test_two_processes_full_batch_equal_one_process(tmp_path):
    """'gd' takes the whole training split per step: 2 processes × half of it give the same
    gradients, so the same weights and metrics as 1 process (1e-5); the epoch metrics are the
    all-reduced global figures; rank 0 alone writes the one --out folder."""
    project = _project(tmp_path, optimizer="gd", epochs=3, lr=0.05)
    one = _train(project, "--out", str(tmp_path / "one"))
    two = _train(project, "--nproc", "2", "--out", str(tmp_path / "two"))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    r1, r2 = json.loads(one.stdout.splitlines()[-1]), json.loads(two.stdout.splitlines()[-1])
    assert r1["status"] == r2["status"] == "finished"
    assert r2["processes"] == 2 and r2["global_batch"] == 800  # the whole split per step
    assert "2 processes (gloo)" in two.stderr
    assert r1["steps"] == r2["steps"] == 3
    for k, v in r1["metrics"].items():
        assert r2["metrics"][k] == pytest.approx(v, abs=1e-5), k
    e1, e2 = _epochs(one.stderr), _epochs(two.stderr)
    assert len(e1) == len(e2) == 3
    for a, b in zip(e1, e2):  # the training loss and accuracy: over both processes' samples
        assert a.keys() == b.keys()
        for k in a:
            assert b[k] == pytest.approx(a[k], abs=2e-4), k  # printed to 4 decimals
    w1, w2 = load_file(r1["weights"]), load_file(r2["weights"])
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], atol=1e-5, rtol=0)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "checkpoint", "mlp.json", "mlp.safetensors"]  # (checkpoint: what --resume reads)


@pytest.mark.slow
def test_a_failing_rank_ends_the_run_with_its_message(tmp_path):
    out = tmp_path / "out"
    r = _train(_project(tmp_path, epochs=50), "--nproc", "2", "--out", str(out),
               env={D.FAIL_ENV: "1"})
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: rank 1: ") and "failed on purpose" in last, r.stderr
    res = json.loads(r.stdout.splitlines()[-1])
    assert res["status"] == "failed" and res["rank"] == 1 and "failed on purpose" in res["error"]
    assert not out.exists()  # nothing saved: the folder made for it is gone


@pytest.mark.slow
def test_other_recipes_are_refused_in_words(tmp_path):
    r = _train(_project(tmp_path, recipe="sam"), "--nproc", "2")
    assert r.returncode == 1
    assert "cannot run in several processes" in r.stderr.strip().splitlines()[-1]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a process")
def test_ctrl_c_stops_every_rank_and_rank_0_saves(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "train",
                             str(_project(tmp_path, epochs=100000, batch_size=8)), "--json",
                             "--no-progress", "--nproc", "2", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        for line in proc.stderr:  # the first epoch ended: every rank is stepping
            if line.startswith("epoch 1 "):
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    res = json.loads(stdout.splitlines()[-1])
    assert res["status"] == "stopped" and res["steps"] >= 50
    assert (out / "mlp.safetensors").exists()


@pytest.mark.slow
def test_two_streamed_processes_equal_one_in_memory(tmp_path):
    """The streamed path's batch sampler takes the same share: a CSV read lazily through
    DataLoaders in 2 processes ('gd') ends with the weights of the same CSV in memory in 1."""
    from runtime.data import load_dataset
    d = load_dataset("spirals", {"n_samples": 240}, 0, tmp_path)
    rows = ["a,b,label"] + [f"{x[0]:.9g},{x[1]:.9g},c{int(y)}"
                            for x, y in zip(d.fields["x"].tolist(), d.fields["y"].tolist())]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    weights = {}
    for name, streaming, argv in (("one", "off", []), ("two", "on", ["--nproc", "2"])):
        p = json.loads(MLP.read_text())
        p["training"].update(optimizer="gd", epochs=2, lr=0.05)
        p["data"] = {"dataset": "csv", "bind": {"label": "y", "x": "x"}, "workers": 0,
                     "options": {"path": "s.csv", "label": "label", "streaming": streaming}}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(p))
        r = _train(path, "--out", str(tmp_path / name), *argv)
        assert r.returncode == 0, r.stderr
        weights[name] = load_file(json.loads(r.stdout.splitlines()[-1])["weights"])
    for k in weights["one"]:
        torch.testing.assert_close(weights["two"][k], weights["one"][k], atol=1e-5, rtol=0)


def _resume_worker(rank: int, port: int, folder: str) -> None:
    """One of 2 gloo processes: an uninterrupted run; a run stopped by rank 0 alone at step
    7 (mid-epoch) and checkpointed by rank 0; that checkpoint resumed in every process."""
    from graph.project import load
    from runtime.train import Trainer
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE="2", LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    D.init(torch.device("cpu"))
    try:
        ref = Trainer(load(MLP), device="cpu", max_steps=20)
        assert list(ref.run())[-1].kind == "finished"
        t = Trainer(load(MLP), device="cpu", max_steps=20, log_every=1)
        for e in t.run():
            if e.kind == "step" and e.step == 7 and rank == 0:
                t.stop()  # heard by rank 0 only: agreed before the next step
            if e.kind == "stopped" and rank == 0:
                t.save_checkpoint(Path(folder) / "ckpt")
        assert t.step == 7, (rank, t.step)
        torch.distributed.barrier()  # the checkpoint is written
        r = Trainer(load(MLP), device="cpu", max_steps=20, resume_from=Path(folder) / "ckpt")
        last = list(r.run())[-1]
        assert last.kind == "finished" and last.step == 20, last
        torch.save({"ref": ref.model.state_dict(), "resumed": r.model.state_dict()},
                   Path(folder) / f"rank{rank}.pt")
    finally:
        D.teardown()


@pytest.mark.slow
def test_two_processes_stopped_and_resumed_equal_an_uninterrupted_run(tmp_path):
    import socket

    import torch.multiprocessing as tmp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp.spawn(_resume_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    got = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for k, v in got[0]["ref"].items():
        torch.testing.assert_close(got[0]["resumed"][k], v, atol=1e-6, rtol=0)
        torch.testing.assert_close(got[1]["resumed"][k], v, atol=0, rtol=0)  # in step


@pytest.mark.slow
@pytest.mark.parametrize("optimizer, tol", [("minibatch", 1e-5), ("adam", 1e-4)])
def test_two_processes_batch_b_equal_one_process_batch_2b(tmp_path, optimizer, tol):
    """Issue 27's 'Done means': 2 processes with batch B end with the weights of 1 process
    with batch 2B over the same samples. Both take the epoch's one seeded permutation: the
    1-process step takes positions [2kB, 2(k+1)B) of it, the 2 ranks the interleaved halves
    of the same positions (D.share); DDP's average of the two halves' mean gradients is the
    mean over 2B (equal halves: 800 training samples, B = 16, so every step, the last
    included, splits evenly)."""
    b = 16
    one = _train(_project(tmp_path, optimizer=optimizer, batch_size=2 * b, epochs=2, lr=0.05),
                 "--out", str(tmp_path / "one"))
    two = _train(_project(tmp_path, optimizer=optimizer, batch_size=b, epochs=2, lr=0.05),
                 "--nproc", "2", "--out", str(tmp_path / "two"))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    r1, r2 = json.loads(one.stdout.splitlines()[-1]), json.loads(two.stdout.splitlines()[-1])
    assert r2["global_batch"] == 2 * b and r1["steps"] == r2["steps"] == 2 * 25
    w1, w2 = load_file(r1["weights"]), load_file(r2["weights"])
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], atol=tol, rtol=0)
