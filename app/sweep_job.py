"""A sweep (runtime/sweep.py) run on a daemon thread for Train > Sweep… (app/sweep_view.py).

    job = SweepJob(project_json, project_path, config, resume=False)
    job.start()
    for kind, payload in job.drain():   # on the GUI thread, from a timer
        ...   # ("snapshot", dict) ("started", TrialStarted) ("progress", str)
              # ("ended", TrialEnded) ("done", Summary) ("error", message)
    job.stop()                          # the trial under way stops, none starts after it

The thread opens the sweep (Optuna, torch: slow imports) and iterates Sweep.run(), whose
events are the per-trial and per-epoch progress; after each trial it reads the study's
snapshot (runtime/sweep_results.py: rows, importance, Pareto front) and queues it. The
window only reads the queue, so it stays responsive while trials run. The sweep trains a
copy of the project made when it started: edits meanwhile do not reach it.
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path


class SweepJob:
    def __init__(self, project_json: str, project_path: str | Path, config, resume: bool = False):
        self.project_json, self.project_path = project_json, str(project_path)
        self.config, self.resume = config, resume
        self.queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.sweep = None
        self._stop = False

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True, name="sweep")
        self.thread.start()

    def stop(self) -> None:
        self._stop = True
        if self.sweep is not None:
            self.sweep.stop()

    def join(self, timeout: float | None = None) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return True

    def drain(self, limit: int = 10_000) -> list[tuple[str, object]]:
        out = []
        while len(out) < limit:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return out

    def _run(self) -> None:
        put = self.queue.put
        try:
            from graph.project import loads
            from runtime.sweep import Sweep, SweepError
            from runtime.sweep_results import snapshot
            project = loads(self.project_json, self.project_path)
            try:
                self.sweep = sweep = Sweep(project, self.project_path, self.config,
                                           resume=self.resume)
            except SweepError as e:
                put(("error", str(e)))
                return
            if self._stop:
                sweep.stop()
            put(("snapshot", snapshot(sweep)))
            epochs = None
            for ev in sweep.run():
                k = ev.kind
                if k == "trialstarted":
                    put(("started", ev))
                elif k == "started":
                    epochs = getattr(ev, "epochs", None)
                elif k == "epochend":
                    v = ev.metrics.get(sweep.metric)
                    shown = "" if v is None else f", {sweep.metric} {v:.4g}"
                    of = f"/{epochs}" if epochs else ""
                    put(("progress", f"epoch {ev.epoch}{of}{shown}"))
                elif k == "trialended":
                    put(("ended", ev))
                    put(("snapshot", snapshot(sweep)))
            put(("done", sweep.summary()))
        except Exception as e:  # noqa: BLE001 said in the view, never a traceback
            put(("error", f"the sweep stopped: {type(e).__name__}: {e}"))
