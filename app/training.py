"""The training controller: runs the project in the child process (runtime.worker) and turns
its messages into Qt signals. The GUI thread only polls a pipe, never waits on training."""
from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from runtime.events import Failed

POLL_MS = 50
POLL_BUDGET_S = 0.012  # never spend longer than this per poll on messages


class TrainingController(QObject):
    event = Signal(object)  # every training event
    stateChanged = Signal(str)  # idle, starting, running, paused, stopping
    devicesReady = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.proc = None
        self.state = "idle"
        self.run_dir: Path | None = None
        self.last_event = None
        self.processes = 1  # the running job's training processes
        self._timer = QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._job_id = 0

    def ensure_worker(self) -> None:
        """Start the worker (it imports torch in the background) if it is not running."""
        if self.proc is None or not self.proc.alive():
            from runtime.worker import TrainingProcess, keep_window_core
            self.proc = TrainingProcess()
            keep_window_core()  # the trainer runs on the other cores
        self._timer.start()

    @property
    def devices(self) -> list[dict] | None:
        return self.proc.devices if self.proc else None

    def _set_state(self, s: str) -> None:
        if s != self.state:
            self.state = s
            self.stateChanged.emit(s)

    @property
    def busy(self) -> bool:
        return self.state != "idle"

    def start(self, project_json: str, run_dir: Path, base_dir: Path | None = None,
              device: str | None = None, resume_from: Path | None = None,
              max_steps: int | None = None) -> None:
        if self.busy:
            raise RuntimeError("a run is already in progress")
        self.ensure_worker()
        self._job_id += 1
        self.run_dir = Path(run_dir)
        self.last_event = None
        try:  # several processes (training.processes): they cannot pause
            self.processes = int(json.loads(project_json)["training"].get("processes", 1))
        except (ValueError, KeyError, TypeError):
            self.processes = 1
        self.proc.start_run({"id": self._job_id, "project": project_json,
                             "base_dir": str(base_dir) if base_dir else None,
                             "run_dir": str(run_dir), "device": device,
                             "resume_from": str(resume_from) if resume_from else None,
                             "max_steps": max_steps})
        self._set_state("starting")

    def stop(self) -> None:
        if self.busy and self.proc:
            self.proc.stop()
            self._set_state("stopping")

    def pause(self) -> None:
        """(Not for a run in several processes: the panel says why.)"""
        if self.state == "running" and self.proc and self.processes == 1:
            self.proc.pause()

    def resume(self) -> None:
        if self.state == "paused" and self.proc:
            self.proc.resume()

    def _poll(self) -> None:
        if self.proc is None:
            return
        deadline = time.perf_counter() + POLL_BUDGET_S
        while time.perf_counter() < deadline:
            msgs = self.proc.poll(limit=50)
            if not msgs:
                break
            for m in msgs:
                self._handle(m)
        if self.busy and not self.proc.alive():  # the child died (killed, out of memory, …)
            code = self.proc.exitcode
            self._emit(Failed(f"The training process ended unexpectedly (exit code {code}); "
                              "the window is fine. The last checkpoint of this run is kept."))
            self._set_state("idle")
            self.proc = None
            self.ensure_worker()

    def _handle(self, m) -> None:
        kind = m[0]
        if kind == "ready":
            self.devicesReady.emit(m[1]["devices"])
        elif kind == "broken":
            self._emit(Failed(f"The training process could not start: {m[1]}"))
        elif kind in ("event", "events"):
            for ev in (m[1] if kind == "events" else [m[1]]):
                if ev.kind in ("started", "resumed"):
                    self._set_state("running")
                elif ev.kind == "paused":
                    self._set_state("paused")
                self._emit(ev)
        elif kind == "done":
            self._set_state("idle")

    def _emit(self, ev) -> None:
        self.last_event = ev
        self.event.emit(ev)

    def close(self) -> None:
        self._timer.stop()
        if self.proc is not None:
            self.proc.close()
            self.proc = None
            from runtime.worker import release_window_core
            release_window_core()
