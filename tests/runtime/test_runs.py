import json
import os
import threading
import time

import pytest
import torch

from graph.project import load
from runtime import worker as worker_mod
from runtime.runs import (RunLogger, list_runs, new_run_folder, read_csv, run_with_logging,
                          runs_root)
from runtime.train import Trainer
from runtime.worker import TrainingProcess

TEMPLATES = __import__("templates").FOLDER


def test_run_folder_contents(tmp_path):
    p = load(TEMPLATES / "mlp.json")
    p.training.epochs = 3
    folder = new_run_folder(runs_root(tmp_path / "proj.json"))
    assert folder.parent == tmp_path / "runs" / "proj"
    t = Trainer(p, device="cpu")
    events = list(run_with_logging(t, p, folder))
    assert events[-1].kind == "finished"
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "finished" and info["steps"] == 75 and info["final"]["accuracy"] > 0.5
    assert load(folder / "project.json").to_json() == p.to_json()
    steps = read_csv(folder / "steps.csv")
    assert steps["step"][:2] == [10.0, 20.0] and len(steps["loss"]) == len(steps["step"])
    epochs = read_csv(folder / "epochs.csv")
    assert epochs["epoch"] == [1.0, 2.0, 3.0] and "val_accuracy" in epochs
    grads = read_csv(folder / "grads.csv")
    assert set(grads) == {"step", "fc1", "fc2", "fc3"}
    for c in ("last", "best"):
        assert (folder / "checkpoints" / c / "model.safetensors").is_file()
    assert info["best_epoch"] in (1, 2, 3)
    tb = list(folder.glob("events.out.tfevents.*"))
    assert tb, "tensorboard is installed in the test environment"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(folder))
    acc.Reload()
    assert "epoch/val_accuracy" in acc.Tags()["scalars"]
    [run] = list_runs(folder.parent)
    assert run.status == "finished" and run.steps == 75 and not run.resumable


def test_stopped_run_resumes_into_the_same_folder(tmp_path):
    p = load(TEMPLATES / "mlp.json")
    p.training.epochs = 4
    folder = new_run_folder(tmp_path)
    t = Trainer(p, device="cpu", log_every=1)
    for e in run_with_logging(t, p, folder):
        if e.kind == "step" and e.step == 30:
            t.stop()
    [run] = list_runs(tmp_path)
    assert run.status == "stopped" and run.resumable and run.steps == 30
    t2 = Trainer(p, device="cpu", resume_from=folder / "checkpoints" / "last")
    events = list(run_with_logging(t2, p, folder, resume=True))
    assert events[-1].kind == "finished" and events[-1].step == 100
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "finished" and info["resumed"] == 1
    steps = read_csv(folder / "steps.csv")["step"]
    assert steps == sorted(steps) and steps[-1] == 100 and 30.0 in steps


def killed_saves(folder):
    """A run folder as saves killed at every point leave it: `last` moved aside and never
    replaced, `best` beside a half-removed old copy, temps of a writer that is gone, a temp of
    the naming scheme without a pid."""
    import subprocess
    gone = subprocess.Popen(["true"])
    gone.wait()
    ck = folder / "checkpoints"
    (ck / ".last.old").mkdir(parents=True)
    (ck / ".last.old" / "trainer.json").write_text("{}")
    (ck / "best").mkdir()
    (ck / ".best.old").mkdir()
    for d in (f".last.{gone.pid}.a1b2c3d4", f".best.{gone.pid}.a1b2c3d4", ".last.zz9zz9zz"):
        (ck / d).mkdir()
        (ck / d / "model.safetensors").write_bytes(b"\0" * 1000)
    (folder / f".run.json.{gone.pid}.a1b2c3d4.tmp").write_text("{")
    (ck / ".keep").write_text("not a temp")
    old = time.time() - 3600  # before this process: the scheme without a pid is stale
    os.utime(ck / ".last.zz9zz9zz", (old, old))
    (folder / "run.json").write_text(json.dumps({"status": "stopped", "steps": 3}))


def assert_tidy(folder):
    assert sorted(os.listdir(folder / "checkpoints")) == [".keep", "best", "last"]
    assert (folder / "checkpoints" / "last" / "trainer.json").read_text() == "{}"
    assert sorted(os.listdir(folder)) == ["checkpoints", "run.json"]


def test_listing_runs_tidies_what_killed_saves_left(tmp_path):
    folder = tmp_path / "20260101-000000"
    killed_saves(folder)
    [run] = list_runs(tmp_path)
    assert run.resumable  # `last` is back
    assert_tidy(folder)


def test_run_logger_tidies_its_folder_at_start(tmp_path):
    from types import SimpleNamespace
    from graph.settings import TrainingSettings
    folder = tmp_path / "20260101-000000"
    killed_saves(folder)
    p = load(TEMPLATES / "mlp.json")
    logger = RunLogger(folder, p, SimpleNamespace(settings=TrainingSettings()), resume=True,
                       tensorboard=False)
    assert_tidy(folder)
    logger.close()


@pytest.fixture(scope="module")
def worker():
    w = TrainingProcess()
    deadline = time.time() + 60
    while w.devices is None and time.time() < deadline:
        w.poll()
        time.sleep(0.05)
    assert w.devices and w.devices[-1]["id"] == "cpu"
    yield w
    w.close()
    assert not w.alive()


def drain(w, until=("done",), timeout=120, on_event=None):
    """Messages until one of `until`; batches of events come out one by one."""
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in w.poll():
            items = [("event", e) for e in m[1]] if m[0] == "events" else [m]
            for it in items:
                got.append(it)
                if it[0] == "event" and on_event:
                    on_event(it[1])
                if it[0] in until:
                    return got
        time.sleep(0.01)
    raise AssertionError(f"timed out; got {[m[0] for m in got][-5:]}")


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_worker_trains_a_template_like_the_cli(worker, tmp_path):
    job = {"id": 1, "project": (TEMPLATES / "cnn.json").read_text(), "base_dir": str(TEMPLATES),
           "run_dir": str(tmp_path / "r"), "device": "cpu"}
    worker.start_run(job)
    msgs = drain(worker)
    events = [m[1] for m in msgs if m[0] == "event"]
    fin = events[-1]
    assert fin.kind == "finished"
    # The same run, with as many threads as the worker has (all cores but one): a reduction
    # split over another number of threads rounds differently, and 675 Adam steps carry it.
    threads = torch.get_num_threads()
    torch.set_num_threads(worker.info["threads"])
    try:
        ref = list(Trainer(load(TEMPLATES / "cnn.json"), device="cpu").run())[-1]
    finally:
        torch.set_num_threads(threads)
    assert fin.final_loss == pytest.approx(ref.final_loss, rel=1e-6)
    assert fin.metrics == pytest.approx(ref.metrics, rel=1e-6)
    assert fin.metrics["val_accuracy"] >= 0.95


def test_worker_stops_within_a_second_and_survives_failures(worker, tmp_path):
    p = load(TEMPLATES / "cnn.json")
    p.training.epochs = 10_000
    worker.start_run({"id": 2, "project": p.to_json(), "run_dir": str(tmp_path / "long"),
                      "device": "cpu"})
    drain(worker, until=("event",), timeout=60)
    time.sleep(0.5)
    t = time.time()
    worker.stop()
    msgs = drain(worker)
    assert time.time() - t < 1.0
    assert [m[1].kind for m in msgs if m[0] == "event"][-1] == "stopped"
    assert json.loads((tmp_path / "long" / "run.json").read_text())["status"] == "stopped"
    # A broken project: the worker reports it and keeps serving.
    worker.start_run({"id": 3, "project": "{oops", "run_dir": str(tmp_path / "bad")})
    msgs = drain(worker)
    fails = [m[1] for m in msgs if m[0] == "event" and m[1].kind == "failed"]
    assert fails and "not valid JSON" in fails[0].message
    assert worker.alive()


needs_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="core placement needs an OS with affinity calls and 2 or more cores")


@needs_affinity
def test_worker_trains_on_all_cores_but_the_windows(worker):
    cores = worker_mod.train_cores()
    window = worker_mod.window_core()
    assert window is not None and window not in cores
    assert cores | {window} == set(os.sched_getaffinity(0))
    assert worker.info["cores"] == sorted(cores)
    assert os.sched_getaffinity(worker.info["pid"]) == cores
    assert worker.info["threads"] == len(cores)


@needs_affinity
def test_window_keeps_one_core_and_gives_every_core_back():
    before, seen = os.sched_getaffinity(0), {}

    def gui_thread():  # another thread: the test runner's own placement is left alone
        worker_mod.keep_window_core()
        seen["kept"] = os.sched_getaffinity(0)
        worker_mod.release_window_core()
        seen["after"] = os.sched_getaffinity(0)
    t = threading.Thread(target=gui_thread)
    t.start()
    t.join()
    assert seen["kept"] == {worker_mod.window_core()}
    assert seen["after"] == before
    # a worker started from the pinned window still gets the other cores
    assert worker_mod.train_cores() == before - {worker_mod.window_core()}


def test_core_placement_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("LAYERLOOM_PIN", "0")
    assert worker_mod.window_core() is None and worker_mod.train_cores() is None
    if hasattr(os, "sched_getaffinity"):
        before = os.sched_getaffinity(0)
        worker_mod.keep_window_core()  # does nothing
        assert os.sched_getaffinity(0) == before
    monkeypatch.setenv("LAYERLOOM_TRAIN_THREADS", "3")
    assert worker_mod.train_threads() == 3
