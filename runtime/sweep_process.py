"""The child process of the app's sweep (app/sweep_job.py): no Qt here.

`run_sweep` is the spawned process's target. It places itself and limits torch's threads as
the training process does (runtime/worker.py: all cores but the window's), opens the sweep
and iterates Sweep.run(), putting onto an mp Queue what the window shows:
("snapshot", dict) ("started", TrialStarted) ("progress", str) ("ended", TrialEnded)
("done", Summary) ("error", message). The events are frozen dataclasses of runtime/sweep.py
(they pickle). A stop asked by the window is an mp Event; a thread here polls it and calls
Sweep.stop() (the trial under way stops, none starts after it).
"""
from __future__ import annotations

import threading

STOP_POLL_S = 0.2


def run_sweep(out, stop_event, project_json: str, project_path: str, config, resume: bool,
              cores: set[int] | None, threads: int) -> None:
    put = out.put
    try:
        from .cpu import settle_child
        settle_child(cores, threads)

        from graph.project import loads

        from .sweep import Sweep, SweepError
        from .sweep_results import snapshot
        project = loads(project_json, project_path)
        try:
            sweep = Sweep(project, project_path, config, resume=resume)
        except SweepError as e:
            put(("error", str(e)))
            return
        finished = threading.Event()

        def watch() -> None:
            while not finished.is_set():
                if stop_event.wait(STOP_POLL_S):
                    sweep.stop()
                    return

        threading.Thread(target=watch, daemon=True, name="sweep-stop").start()
        if stop_event.is_set():
            sweep.stop()
        try:
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
        finally:
            finished.set()
    except Exception as e:  # noqa: BLE001 said in the view, never a traceback
        put(("error", f"the sweep stopped: {type(e).__name__}: {e}"))
