"""A sweep (runtime/sweep.py) run in a spawned process for Train > Sweep… (app/sweep_view.py).

    job = SweepJob(project_json, project_path, config, resume=False)
    job.start()
    for kind, payload in job.drain():   # on the GUI thread, from a timer
        ...   # ("snapshot", dict) ("started", TrialStarted) ("progress", str)
              # ("ended", TrialEnded) ("done", Summary) ("error", message)
    job.stop()                          # the trial under way stops, none starts after it

As a normal run trains (runtime/worker.py), the sweep runs in a child process (spawned: never
fork a process that runs Qt) whose target is runtime/sweep_process.run_sweep: torch's compute
does not share the window's process, and a crash in training does not take the window down.
The child opens the sweep (Optuna, torch: slow imports), iterates Sweep.run() and puts its
events and the study's snapshots (runtime/sweep_results.py) onto an mp Queue; stop is an mp
Event the child polls. The window only reads what arrived, so it stays responsive while
trials run. A child that ends without "done" and with a non-zero exit code is said as an
error. The sweep trains a copy of the project made when it started: edits meanwhile do not
reach it.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import time
from pathlib import Path


class SweepJob:
    def __init__(self, project_json: str, project_path: str | Path, config, resume: bool = False):
        self.project_json, self.project_path = project_json, str(project_path)
        self.config, self.resume = config, resume
        self.queue: queue.Queue = queue.Queue()  # what arrived from the child, not yet drained
        self.process = None
        self._ctx = mp.get_context("spawn")
        self._events = None  # the mp Queue the child puts onto
        self._stop = self._ctx.Event()
        self._done = False  # the child said "done" or "error"
        self._finished = False  # the child ended and everything it sent was queued

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def busy(self) -> bool:
        if self.process is None or self._finished:
            return False
        if self.process.is_alive():
            return True
        self._pump()  # ended: what it sent is queued (and an unexpected end said) first
        return not self._finished

    def start(self) -> None:
        from runtime.sweep_process import run_sweep
        from runtime.worker import train_cores, train_threads
        self._events = self._ctx.Queue()
        self.process = self._ctx.Process(
            target=run_sweep, name="layerloom-sweep", daemon=True,
            args=(self._events, self._stop, self.project_json, self.project_path, self.config,
                  self.resume, train_cores(), train_threads()))
        self.process.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Until the child ends (True) or `timeout` passes (False). What it sends meanwhile is
        read into `queue` (a child whose queue's pipe is full could not end otherwise)."""
        if self.process is None:
            return True
        end = None if timeout is None else time.monotonic() + timeout
        while self.process.is_alive():
            self._pump()
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            self.process.join(0.05 if left is None else min(0.05, left))
        self._pump()
        return True

    def drain(self, limit: int = 10_000) -> list[tuple[str, object]]:
        self._pump()
        out = []
        while len(out) < limit:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return out

    def _pump(self) -> None:
        """Move what the child sent into `queue`; once it has ended, say an unexpected end."""
        if self._events is None or self._finished:
            return
        ended = not self.process.is_alive()  # before reading: then all it sent is readable
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            except (EOFError, OSError):
                break
            if item[0] in ("done", "error"):
                self._done = True
            self.queue.put(item)
        if ended:
            self.process.join()
            code = self.process.exitcode
            if not self._done and code != 0:
                self.queue.put(("error", f"the sweep process ended unexpectedly (exit {code})"))
            self._finished = True
            self._events.close()
