"""How many cores the other processes on this machine are using, and how many threads a
training run should take from what is left.

torch starts one OpenMP thread per core. When another process keeps a core busy, one of
those threads keeps being descheduled and the others spin at every barrier waiting for it:
on this 2-core machine an MLP run took 35 s instead of 0.9 s with 2 threads next to a
CPU-burning neighbour, and 1.0 s with 1 thread (BENCHMARKS.md, bench_threads.py). So the
CLI measures the other processes' load while it starts up (the ~2 s torch takes to import
are a free sample) and trains with the idle cores only. No torch here: the mark is taken
before torch is imported.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuMark:
    wall: float
    busy_ticks: int | None  # all processes, from /proc/stat (None where there is none)
    own_cpu: float  # this process's user + system seconds


def _busy_ticks() -> int | None:
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()
    except OSError:
        return None
    if not parts or parts[0] != "cpu":
        return None
    v = [int(x) for x in parts[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return sum(v[:8]) - idle  # user nice system irq softirq steal: not free for us


def mark() -> CpuMark:
    t = os.times()
    return CpuMark(time.monotonic(), _busy_ticks(), t.user + t.system)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def others_busy(since: CpuMark) -> float | None:
    """Cores the other processes kept busy since `since` (None if it cannot be told)."""
    now = mark()
    wall = now.wall - since.wall
    if since.busy_ticks is None or now.busy_ticks is None or wall < 0.2:
        try:
            load = os.getloadavg()[0]  # the 1-minute average: slow, but something
        except (AttributeError, OSError):
            return None
        return max(0.0, load - 1.0)  # this process is one of the runnable ones
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = (now.busy_ticks - since.busy_ticks) / hz / wall
    ours = (now.own_cpu - since.own_cpu) / wall
    return max(0.0, busy - ours)


def training_threads(since: CpuMark | None) -> int:
    """Intra-op threads for a run: the cores the other processes leave idle (at least 1).
    LAYERLOOM_TRAIN_THREADS=N overrides it. A core half used by someone else counts as
    taken: a thread that keeps being descheduled stalls all the others."""
    env = os.environ.get("LAYERLOOM_TRAIN_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    n = cores()
    busy = others_busy(since) if since is not None else None
    if busy is None:
        return n
    return max(1, min(n, math.floor(n - busy + 0.3)))


def settle_child(cores: set[int] | None, threads: int) -> None:
    """In a spawned training child (the worker, a sweep), before any work: pin it to `cores`
    first, so the threads torch starts inherit them, then give torch `threads`."""
    if cores:
        try:
            os.sched_setaffinity(0, cores)
        except OSError:
            pass
    import torch
    torch.set_num_threads(threads)
