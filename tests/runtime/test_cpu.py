"""Training threads from the machine's load (runtime/cpu.py, issue 9 item 13)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime import cpu

ROOT = Path(__file__).resolve().parents[2]
HZ = os.sysconf("SC_CLK_TCK")


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(cpu, "cores", lambda: 2)
    monkeypatch.delenv("LAYERLOOM_TRAIN_THREADS", raising=False)


def later(monkeypatch, wall: float, busy_cores: float, own_cores: float):
    """The mark `wall` seconds on, with all processes keeping `busy_cores` busy on average,
    this one `own_cores`."""
    now = cpu.CpuMark(wall, int(busy_cores * wall * HZ), own_cores * wall)
    monkeypatch.setattr(cpu, "mark", lambda: now)


@pytest.mark.parametrize("others, threads", [(0.0, 2), (0.2, 2), (0.6, 1), (1.0, 1), (2.0, 1)])
def test_threads_are_the_cores_the_others_leave_idle(two_cores, monkeypatch, others, threads):
    since = cpu.CpuMark(0.0, 0, 0.0)
    later(monkeypatch, 2.0, busy_cores=1.0 + others, own_cores=1.0)  # we import torch: 1 core
    assert cpu.training_threads(since) == threads


def test_the_environment_overrides_it(two_cores, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_TRAIN_THREADS", "3")
    assert cpu.training_threads(cpu.CpuMark(0.0, 0, 0.0)) == 3


def test_without_proc_stat_the_load_average_is_used(two_cores, monkeypatch):
    monkeypatch.setattr(cpu, "_busy_ticks", lambda: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.1, 2.0, 2.0))
    assert cpu.training_threads(cpu.mark()) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.9, 1.0, 1.0))
    assert cpu.training_threads(cpu.mark()) == 2


@pytest.mark.skipif(not os.path.exists("/proc/stat") or cpu.cores() < 2,
                    reason="needs Linux's /proc/stat and 2 cores")
def test_the_cli_trains_on_one_thread_next_to_a_busy_neighbour():
    """A real neighbour burning a core while `layerloom train` starts: it takes the idle
    core only (2 threads next to it made a 0.9 s run take 35 s)."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        env = {k: v for k, v in os.environ.items() if k != "LAYERLOOM_TRAIN_THREADS"}
        r = subprocess.run([sys.executable, "-m", "app.cli", "train", "templates/mlp.json",
                            "--max-steps", "5", "--no-progress"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    finally:
        burner.kill()
        burner.wait()
    assert r.returncode == 0, r.stderr[-2000:]
    import re
    used = int(re.search(r"CPU \([^,]+, (\d+) thread", r.stdout).group(1))
    assert 1 <= used <= max(1, cpu.cores() - 1), r.stdout.splitlines()[0]  # not the busy core
