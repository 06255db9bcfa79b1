"""Several processes from the app (issue 27 item 3): training.processes > 1 trains through
torchrun (runtime/multi_run.py), rank 0's events feed the live plots and write the run folder."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.mainwindow import MainWindow
from graph.project import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAYERLOOM_HOME", str(home))
    mp.setattr(MainWindow, "ask_save_changes", lambda self: "discard")
    mp.setattr(MainWindow, "show_error", lambda self, t, m: None)
    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    w.trainer.ensure_worker()
    wait_until(qapp, lambda: w.trainer.devices, 90)
    yield w
    w.doc.undo.setClean()
    w.close()
    mp.undo()


@pytest.fixture(autouse=True)
def answers():
    return None


def wait_until(qapp, cond, timeout=60.0):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise AssertionError("timed out")
        qapp.processEvents()
        time.sleep(0.005)


def mlp_copy(tmp_path: Path, **training) -> Path:
    p = load(ROOT / "templates" / "mlp.json")
    for k, v in training.items():
        setattr(p.training, k, v)
    path = tmp_path / "mlp.json"
    p.save(path)
    return path


def set_processes(qapp, w, n: int) -> None:
    """Through the real widget: the spin box beside the device picker, then Enter."""
    box = w.training.fields["processes"]
    box.setValue(n)
    box.editingFinished.emit()
    qapp.processEvents()
    assert w.doc.project.training.processes == n


def test_the_setting_is_written_only_when_more_than_one(tmp_path):
    path = mlp_copy(tmp_path)
    assert "processes" not in json.loads(path.read_text())["training"]
    assert load(path).training.processes == 1
    path = mlp_copy(tmp_path, processes=3)
    assert json.loads(path.read_text())["training"]["processes"] == 3
    assert load(path).training.processes == 3


@pytest.mark.slow
def test_the_spin_box_sets_it_as_one_undo_step(qapp, win, tmp_path):
    path = mlp_copy(tmp_path)
    win.open_path(path, ask=False)
    set_processes(qapp, win, 3)
    win.doc.undo.undo()
    assert win.doc.project.training.processes == 1
    assert win.training.fields["processes"].value() == 1
    win.doc.undo.redo()
    assert win.save()
    assert json.loads(path.read_text())["training"]["processes"] == 3


@pytest.mark.slow
def test_a_two_process_run_from_the_panel_finishes_and_equals_the_cli(qapp, win, tmp_path):
    win.open_path(mlp_copy(tmp_path, epochs=2, batch_size=16), ask=False)
    set_processes(qapp, win, 2)
    events = []
    win.trainer.event.connect(events.append)
    try:
        win.training.run_btn.click()
        wait_until(qapp, lambda: win.trainer.state == "running", 120)
        assert not win.training.pause_btn.isEnabled()  # refused, in words
        assert "several processes" in win.training.pause_btn.toolTip()
        wait_until(qapp, lambda: win.trainer.state == "idle", 180)
    finally:
        win.trainer.event.disconnect(events.append)
    kinds = [e.kind for e in events]
    assert kinds[-1] == "finished", events[-1]
    assert "started" in kinds and kinds.count("step") >= 3 and kinds.count("epochend") == 2
    assert "boundaryframe" in kinds  # rank 0's watchers too (the live decision boundary)
    assert win.live.step == events[-1].step == 2 * 25  # 800 samples, 2 × 16 a step
    run = win.trainer.run_dir
    assert (run / "steps.csv").is_file() and (run / "epochs.csv").is_file()
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    # The weights: those of `layerloom train --nproc 2` on the same project
    cli = subprocess.run([sys.executable, "-m", "app.cli", "train", str(tmp_path / "mlp.json"),
                          "--nproc", "2", "--json", "--no-progress", "--out",
                          str(tmp_path / "cli")], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert cli.returncode == 0, cli.stderr
    want = load_file(json.loads(cli.stdout.splitlines()[-1])["weights"])
    got = load_file(run / "checkpoints" / "last" / "model.safetensors")
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_stop_during_a_two_process_run_keeps_its_checkpoint_and_resumes(qapp, win, tmp_path):
    win.open_path(mlp_copy(tmp_path, epochs=100000, processes=2), ask=False)
    events = []
    win.trainer.event.connect(events.append)
    try:
        win.training.run_btn.click()
        wait_until(qapp, lambda: win.live.step >= 20, 120)
        win.training.stop_btn.click()
        wait_until(qapp, lambda: win.trainer.state == "idle", 60)
    finally:
        win.trainer.event.disconnect(events.append)
    assert events[-1].kind == "stopped", events[-1]
    last = win.trainer.run_dir / "checkpoints" / "last"
    info = json.loads((last / "trainer.json").read_text())
    assert info["position"]["step"] == events[-1].step >= 20
    assert json.loads((win.trainer.run_dir / "run.json").read_text())["status"] == "stopped"
    # Resume under Runs: the 2 processes go on from that checkpoint
    stopped = events[-1].step
    item = win.training.runs.item(0)
    assert item.data(0x0100).resumable
    win.training.runs.setCurrentItem(item)
    events.clear()
    win.trainer.event.connect(events.append)
    try:
        win.training.resume_run_btn.click()
        wait_until(qapp, lambda: any(e.kind == "step" for e in events), 120)
        assert min(e.step for e in events if e.kind == "step") > stopped
        win.training.stop_btn.click()
        wait_until(qapp, lambda: win.trainer.state == "idle", 60)
    finally:
        win.trainer.event.disconnect(events.append)
    assert events[-1].kind == "stopped"


@pytest.mark.slow
def test_a_recipe_that_cannot_run_in_processes_is_refused_in_words(qapp, win, tmp_path):
    win.open_path(mlp_copy(tmp_path, recipe="sam", processes=2), ask=False)
    events = []
    win.trainer.event.connect(events.append)
    try:
        win.training.run_btn.click()
        wait_until(qapp, lambda: events and events[-1].kind == "failed", 30)
        wait_until(qapp, lambda: win.trainer.state == "idle", 30)
    finally:
        win.trainer.event.disconnect(events.append)
    assert "cannot run in several processes" in events[-1].message
    assert "cannot run in several processes" in win.training.error.text()
