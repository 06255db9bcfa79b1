"""Training in a child process, for the GUI.

A thread in the GUI process would share the GIL with the window's painting, which slowed
training by ~1.3x on 2 cores (NOTES-ENV.md). The child imports torch once at start-up (so a
run starts at once), then serves jobs: it runs the Trainer with a RunLogger and streams the
events back over a pipe. Stop and pause are shared events it checks between steps.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from pathlib import Path

from .events import Failed

BATCH_S = 0.05


def describe_devices() -> list[dict]:
    """What this machine can train on, for the device choice (needs torch)."""
    import torch

    from .train import device_name
    out = [{"id": "auto", "name": "Automatic (the best available)"}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            out.append({"id": "cuda" if i == 0 else f"cuda:{i}",
                        "name": f"{p.name} ({p.total_memory / 2**30:.0f} GiB)"})
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out.append({"id": "mps", "name": "Apple GPU (MPS)"})
    out.append({"id": "cpu", "name": device_name(torch.device("cpu"))})
    return out


_original_cores: set[int] | None = None  # this process's cores before the window kept one


def _allowed_cores() -> list[int] | None:
    """The cores this process may run on (None where the OS does not say: macOS, Windows)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return sorted(_original_cores or os.sched_getaffinity(0))


def _placement_on() -> bool:
    return os.environ.get("LAYERLOOM_PIN", "1") != "0"


def train_threads() -> int:
    """Intra-op threads for training next to the window: all cores but one, which is left to
    the window (its painting would otherwise make torch's threads wait on each other; on 2
    cores that cost more than half the speed). LAYERLOOM_TRAIN_THREADS overrides it."""
    env = os.environ.get("LAYERLOOM_TRAIN_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = _allowed_cores()
    return max(1, (len(cores) if cores else (os.cpu_count() or 2)) - 1)


def window_core() -> int | None:
    """The core left to the window while the worker trains on the others (None: no placement,
    with one core, where the OS has no affinity calls, or LAYERLOOM_PIN=0)."""
    cores = _allowed_cores()
    if not cores or len(cores) < 2 or not _placement_on():
        return None
    return cores[0]


def train_cores() -> set[int] | None:
    """The cores the worker trains on: all but the window's."""
    core = window_core()
    return None if core is None else set(_allowed_cores()) - {core}


def keep_window_core() -> None:
    """Run the calling (GUI) thread on the window's core only. Measured on 2 cores: with the
    window and the trainer free to share cores, the scheduler kept waking the window on the
    trainer's core, and the app trained the CNN template at 0.84 of the CLI's speed (median of
    9 alternating pairs); with each on its own core, at parity (BENCHMARKS.md)."""
    global _original_cores
    core = window_core()
    if core is not None:
        _original_cores = _original_cores or os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {core})
        except OSError:
            pass


def release_window_core() -> None:
    """Give the calling thread back every core it had before `keep_window_core`."""
    if _original_cores:
        try:
            os.sched_setaffinity(0, _original_cores)
        except OSError:
            pass


def _serve(conn, stop_event, pause_event, cores: set[int] | None, threads: int) -> None:
    """The child's main loop. `cores` and `threads` are worked out by the parent (the child
    inherits the window's core when it is restarted)."""
    try:
        from .cpu import settle_child
        settle_child(cores, threads)
        import torch  # (the warm-up: the reason for a long-lived worker)

        from graph.project import loads

        from .runs import run_with_logging
        from .train import Trainer
        conn.send(("ready", {"devices": describe_devices(), "pid": os.getpid(),
                             "threads": torch.get_num_threads(),
                             "cores": sorted(cores) if cores else None}))
    except Exception as e:
        conn.send(("broken", f"{type(e).__name__}: {e}"))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "quit":
            return
        if msg[0] != "run":
            continue
        job = msg[1]
        try:
            project = loads(job["project"], job.get("source", "<project>"))
            trainer = Trainer(project, base_dir=job.get("base_dir"), device=job.get("device"),
                              max_steps=job.get("max_steps"), epochs=job.get("epochs"),
                              resume_from=job.get("resume_from"), log_every=job.get("log_every", 10),
                              stop_event=stop_event, pause_event=pause_event)
            batch: list = []
            sent = time.monotonic()
            if project.training.processes > 1:  # torchrun; rank 0's events read back
                from .multi_run import run_in_processes
                events = run_in_processes(job, project, stop_event)
            else:
                events = run_with_logging(trainer, project, Path(job["run_dir"]),
                                          resume=bool(job.get("resume_from")))
            for ev in events:
                # Routine events go in batches (one send per 50 ms): a batch-1 recipe makes
                # hundreds a second, and the window only repaints ten times a second.
                batch.append(ev)
                now = time.monotonic()
                if ev.kind not in ("step", "gradstats") or now - sent >= BATCH_S:
                    conn.send(("events", batch))
                    batch, sent = [], now
            if batch:
                conn.send(("events", batch))
        except Exception as e:  # keep serving; the GUI shows the message
            conn.send(("event", Failed(f"Internal error: {type(e).__name__}: {e}\n"
                                       + traceback.format_exc())))
        conn.send(("done", job.get("id")))


class TrainingProcess:
    """The GUI's handle on the child. Not thread-safe: use it from one thread."""

    def __init__(self):
        ctx = mp.get_context("spawn")  # never fork a process that runs Qt
        self._stop, self._pause = ctx.Event(), ctx.Event()
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, name="layerloom-trainer", daemon=True,
                                 args=(child, self._stop, self._pause, train_cores(),
                                       train_threads()))
        self._proc.start()
        child.close()
        self.devices: list[dict] | None = None
        self.info: dict = {}  # what the child said when it was ready (pid, threads, cores)
        self.broken: str | None = None

    def alive(self) -> bool:
        return self._proc.is_alive()

    @property
    def exitcode(self):
        return self._proc.exitcode

    def start_run(self, job: dict) -> None:
        self._stop.clear()
        self._pause.clear()
        self._conn.send(("run", job))

    def stop(self) -> None:
        self._pause.clear()
        self._stop.set()

    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    def poll(self, limit: int = 500) -> list[tuple]:
        """Messages that have arrived (at most `limit`): never blocks."""
        out = []
        try:
            while len(out) < limit and self._conn.poll():
                msg = self._conn.recv()
                if msg[0] == "ready":
                    self.info = msg[1]
                    self.devices = msg[1]["devices"]
                elif msg[0] == "broken":
                    self.broken = msg[1]
                out.append(msg)
        except (EOFError, OSError):
            pass  # the child died; alive() says so
        return out

    def close(self) -> None:
        try:
            self._stop.set()
            self._conn.send(("quit", None))
        except (OSError, ValueError):
            pass
        self._proc.join(2)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(2)
