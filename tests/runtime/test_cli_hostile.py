"""Issue 23 (items 5, 8, 11): the `layerloom` console script on hostile input, run as a user
runs it: no traceback, a message naming what is at fault, and Ctrl-C always heard."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
LAYERLOOM = Path(sys.executable).parent / "layerloom"


def layerloom(*args, env=None, timeout=300):
    if not LAYERLOOM.exists():
        pytest.skip(f"no console script at {LAYERLOOM} (pip install -e .)")
    return subprocess.run([str(LAYERLOOM), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def project(tmp_path: Path, template: str, change) -> Path:
    d = json.loads((TEMPLATES / f"{template}.json").read_text())
    change(d)
    p = tmp_path / f"{template}.json"
    p.write_text(json.dumps(d))
    return p


def node(d: dict, type_: str) -> dict:
    return next(n for n in d["nodes"] if n["type"] == type_)


# 11. check ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [10 ** 400, -10 ** 400, 9 ** 1000],
                         ids=["10^400", "-10^400", "9^1000"])
def test_check_a_float_param_given_a_huge_integer(tmp_path, value):
    p = project(tmp_path, "mlp", lambda d: node(d, "CategoricalCrossEntropyLoss")["params"]
                .update(weight=value))
    r = layerloom("check", p)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, r.stdout + r.stderr
    [line] = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("loss:")]
    assert "weight" in line and "finite number" in line
    assert len(line) < 300  # the 401 digits are not printed in full


@pytest.mark.parametrize("value", [["discriminator"], {"name": "discriminator"}, 7, None],
                         ids=["list", "object", "number", "null"])
def test_check_a_shared_network_whose_subnet_is_not_text(tmp_path, value):
    def change(d):
        node(d, "SharedNetwork")["params"]["subnet"] = value
    p = project(tmp_path, "gan", change)
    r = layerloom("check", p)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, r.stdout + r.stderr
    assert "d_on_fake" in r.stdout and ("subnet must be text" in r.stdout if value is not None
                                         else "subnet must be set" in r.stdout)


# 5. train --no-progress on a detector's first run -------------------------------------------

def detector(tmp_path: Path, n_samples: int, proposals: int = 100, mode: str = "fast") -> Path:
    def change(d):
        d["data"]["options"].update(n_samples=n_samples, proposals=proposals,
                                    proposal_mode=mode)
    return project(tmp_path, "fast_rcnn", change)


def fresh_cache(tmp_path: Path) -> dict:
    """The environment of a first run: an empty proposal cache of its own."""
    return dict(os.environ, LAYERLOOM_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")


@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
def test_train_no_progress_survives_the_selective_search(tmp_path):
    p, env = detector(tmp_path, 8), fresh_cache(tmp_path)
    r = layerloom("train", p, "--max-steps", "1", "--device", "cpu", "--no-progress", env=env)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    [prep] = [ln for ln in lines if ln.startswith("region proposals")]
    assert prep.startswith("region proposals (selective search): 8 images in ")
    assert prep.endswith(" s (cached for the next runs)")
    assert lines.index(prep) < next(i for i, ln in enumerate(lines) if ln.startswith("Training"))
    assert "done: 1 steps" in r.stdout
    assert len(list((tmp_path / "cache" / "proposals").glob("*.npz"))) == 1
    again = layerloom("train", p, "--max-steps", "1", "--device", "cpu", "--no-progress",
                      "--json", env=env)
    assert again.returncode == 0 and "region proposals" not in again.stdout + again.stderr



# 7. a damaged proposal cache is ours: named, computed again, said so -------------------------

@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
def test_train_says_the_damaged_proposal_cache_was_computed_again(tmp_path):
    import numpy as np
    p, env = detector(tmp_path, 8), fresh_cache(tmp_path)
    args = ("train", p, "--max-steps", "1", "--device", "cpu", "--no-progress")
    assert layerloom(*args, env=env).returncode == 0
    [f] = (tmp_path / "cache" / "proposals").glob("*.npz")
    with np.load(f) as z:
        boxes = z["proposals"]
    boxes[3, 0, 2] = np.nan
    np.savez(f, proposals=boxes)
    r = layerloom(*args, env=env)
    assert "Traceback" not in r.stderr and r.returncode == 0, r.stdout + r.stderr
    assert f"note: the proposal cache file {f} was damaged (holds values that are not " \
           "finite (NaN or infinity)): computed again" in r.stdout
    assert "region proposals (selective search): 8 images in" in r.stdout
    r = layerloom(*args, env=env)
    assert r.returncode == 0 and "note:" not in r.stdout and "region proposals" not in r.stdout


# 8. Ctrl-C is heard at once, even while the data is prepared --------------------------------

class Output:
    """A child's stderr, read as it comes (a progress bar ends its lines with \\r)."""

    def __init__(self, stream):
        import threading
        self.text = ""
        self._t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._t.start()

    def _read(self, stream):
        while chunk := os.read(stream.fileno(), 4096):
            self.text += chunk.decode("utf-8", "replace")

    def wait_for(self, words: str, seconds: float = 120) -> None:
        import time
        end = time.monotonic() + seconds
        while words not in self.text:
            assert time.monotonic() < end, f"no {words!r} in {self.text[-2000:]!r}"
            time.sleep(0.02)


def interrupt(cmd: list, words: str, env=None) -> tuple[float, subprocess.Popen, str, str]:
    """Runs cmd, sends SIGINT once `words` is on its stderr: (seconds from the signal to its
    exit, the process, stdout, stderr)."""
    import signal
    import time
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    out, err = Output(proc.stdout), Output(proc.stderr)
    try:
        err.wait_for(words)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail("still running 30 s after Ctrl-C")
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out._t.join(5)
    err._t.join(5)
    return took, proc, out.text, err.text


@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_during_the_selective_search_stops_within_a_second(tmp_path):
    if not LAYERLOOM.exists():
        pytest.skip("no console script")
    p, env = detector(tmp_path, 600), fresh_cache(tmp_path)
    out_dir = tmp_path / "trained"
    took, proc, out, err = interrupt([str(LAYERLOOM), "train", p, "--device", "cpu", "--json",
                                      "--out", str(out_dir)], "16/600", env)
    assert "Traceback" not in err, err
    assert took < 1.5, f"{took:.2f} s from Ctrl-C to the end"
    assert proc.returncode == 0, out + err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "stopped" and result["steps"] == 0
    assert "stopped at step 0 (epoch 1): stopped by the user while the data was being " \
           "prepared" in err
    assert "cached for the next runs" not in out + err  # a search cut short is not cached
    assert not (tmp_path / "cache" / "proposals").exists() or \
        not list((tmp_path / "cache" / "proposals").iterdir())
    assert not out_dir.exists()  # nothing trained, nothing saved, no empty folder left


STUCK = """
import sys, threading
import runtime.train as t
def stuck(*args, **kwargs):  # a data file that never answers (a pipe, a dead network disk)
    print("loading the data", file=sys.stderr, flush=True)
    threading.Event().wait()
t.load_dataset = stuck
from app.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_while_the_data_never_loads_stops_the_run(tmp_path):
    took, proc, out, err = interrupt(
        [sys.executable, "-c", STUCK, "train", str(TEMPLATES / "mlp.json"), "--device", "cpu",
         "--no-progress"], "loading the data")
    assert "Traceback" not in err, err
    assert took < 2.5, f"{took:.2f} s from Ctrl-C to the end"
    assert proc.returncode == 0 and "stopped at step 0" in out, out + err


# 4. best_metric -----------------------------------------------------------------------------

@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_check_refuses_a_best_metric_the_run_does_not_report(tmp_path):
    """Issue 23, item 4: refused in check, with the names that exist."""
    def change(d):
        d["training"]["best_metric"] = "map50"
    r = layerloom("check", project(tmp_path, "mlp", change))
    assert r.returncode != 0 and "Traceback" not in r.stderr + r.stdout
    assert "training.best_metric: this run reports no metric 'map50'" in r.stdout
    assert "val_accuracy" in r.stdout
    ok = layerloom("check", TEMPLATES / "fast_rcnn.json")  # val_map50: reported
    assert ok.returncode == 0, ok.stdout
