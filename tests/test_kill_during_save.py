"""Saves killed at random points (issue 9, item 10): a process saves a project file and a
checkpoint-like folder over and over, and is SIGKILLed; after each kill the previous file and
folder are whole, and once the next process has started (it loads, as the app does) no temp
file or folder is left. The writers are fresh interpreters importing graph/ and runtime.runs
only (no torch: ~0.3 s a start); one more test kills real checkpoint writes (torch)."""
import hashlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph.project import loads

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX kills")

ROOT = Path(__file__).resolve().parents[1]

# The writer. argv: run folder, mode ("exchange" or "renames"), seed, the cycle at which to
# stop between the two renames of the fallback (0: never). At start it does what the app does
# on opening a project and its runs (load the project, list the runs), saves once if there is
# nothing yet, says "ready", waits for "go", then saves until it is killed.
WRITER = r'''
import hashlib, json, os, random, sys, time
from pathlib import Path
from graph import fileio
from graph.model import Graph
from graph.project import Project, load
from runtime.runs import list_runs

run, mode, seed, stop_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
project, last = run.parent.parent.parent / "model.json", run / "checkpoints" / "last"
rng = random.Random(seed)
cycle = 0
if mode == "renames":  # as on a filesystem without RENAME_EXCHANGE
    fileio.exchange = lambda a, b: False
    real_replace = os.replace
    def replace(a, b):
        real_replace(a, b)
        if os.path.basename(b) == ".last.old" and cycle == stop_at:
            print("between the renames", flush=True)
            time.sleep(60)
    fileio.os.replace = replace

def save(i):
    Project(graph=Graph(), name=f"v{i}", description="d" * rng.randint(1, 200_000)).save(project)
    with fileio.atomic_folder(last) as tmp:
        files = {}
        for k in range(3):
            data = rng.randbytes(rng.randint(1, 300_000))
            (tmp / f"part{k}.bin").write_bytes(data)
            files[f"part{k}.bin"] = hashlib.sha256(data).hexdigest()
        (tmp / "meta.json").write_text(json.dumps({"i": i, "files": files}))

if project.exists():
    load(project)
list_runs(run.parent)
if not project.exists():
    save(0)
print("ready", flush=True)
sys.stdin.readline()
while True:
    cycle += 1
    save(cycle)
'''


def read_line(proc, timeout=30.0) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the writer said nothing"
    return proc.stdout.readline()


def folder_ok(folder: Path) -> int:
    """The checkpoint-like folder is whole (every file the meta lists, with its hash)."""
    meta = json.loads((folder / "meta.json").read_text())
    assert sorted(os.listdir(folder)) == ["meta.json", "part0.bin", "part1.bin", "part2.bin"]
    for name, digest in meta["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    return meta["i"]


def temps(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob(".*"))


def start_writer(run: Path, mode: str, seed: int, stop_at: int = 0):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(run), mode, str(seed),
                             str(stop_at)], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = read_line(proc)
    if line != "ready\n":
        proc.kill()
        pytest.fail(f"the writer did not start: {line!r} {proc.communicate()[1]}")
    return proc


def kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
def test_saves_killed_at_random_points_leave_whole_files_and_no_temps(tmp_path):
    rng = random.Random(9)
    run = tmp_path / "runs" / "model" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": "running"}))
    project, last = tmp_path / "model.json", run / "checkpoints" / "last"
    # Mostly random kills with the atomic swap; some with the two renames, of which two stop
    # the writer between them (the moment a kill used to leave `last` missing).
    plan = ([("exchange", 0)] * 14 + [("renames", 0)] * 6 + [("renames", 1), ("renames", 3)])
    rng.shuffle(plan)
    t0 = time.perf_counter()
    left_temps = 0
    proc = None
    for k, (mode, stop_at) in enumerate(plan + [("exchange", 0)]):
        proc = start_writer(run, mode, seed=k, stop_at=stop_at)
        # The start tidied what the previous kill left: nothing but the files themselves.
        assert temps(tmp_path) == [], (k, temps(tmp_path))
        assert loads(project.read_text(encoding="utf-8"), str(project)).name.startswith("v")
        folder_ok(last)
        if k == len(plan):
            break
        proc.stdin.write("go\n")
        proc.stdin.flush()
        if stop_at:
            assert read_line(proc) == "between the renames\n"
        else:
            time.sleep(rng.uniform(0.0, 0.15))
        kill(proc)
        # The previous (or the new) file and folder are whole, whatever the kill interrupted.
        assert loads(project.read_text(encoding="utf-8"), str(project)).name.startswith("v")
        if stop_at:
            assert not last.exists()  # the window the recovery closes
            folder_ok(last.with_name(".last.old"))
        else:
            folder_ok(last)  # with the exchange, or outside the window, `last` is always there
        left_temps += bool(temps(tmp_path))
    kill(proc)
    seconds = time.perf_counter() - t0
    print(f"{len(plan)} kills in {seconds:.1f} s; {left_temps} left temps to clean")
    assert left_temps >= len(plan) // 2, "most kills should fall inside a save"


CHECKPOINT_WRITER = r'''
import sys
import torch
from runtime import checkpoint as ckpt
folder = sys.argv[1]
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters())
model(torch.randn(8, 256)).sum().backward()
opt.step()
gen = torch.Generator().manual_seed(1)
snap = ckpt.snapshot(model, opt, ckpt.Position(0, 1, 0, 0), torch.randperm(100), gen)
ckpt.write(folder, snap)
print("ready", flush=True)
step = 0
while True:
    step += 1
    snap.info["position"]["step"] = step
    ckpt.write(folder, snap)
'''


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_real_checkpoint_writes_killed(tmp_path):
    from runtime import checkpoint as ckpt
    rng = random.Random(10)
    last = tmp_path / "checkpoints" / "last"
    for k in range(2):
        proc = subprocess.Popen([sys.executable, "-c", CHECKPOINT_WRITER, str(last)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert read_line(proc, timeout=60) == "ready\n", proc.stderr.read()
            time.sleep(rng.uniform(0.05, 0.3))
        finally:
            kill(proc)
        got = ckpt.load(last)  # a new process's start: loads, and tidies
        assert got.position.step >= 0 and got.order is not None
        assert temps(tmp_path) == [], temps(tmp_path)
