"""An app run in several processes (training.processes > 1), driven from the worker
(runtime/worker.py): torchrun starts N `runtime.rank_run` processes (runtime/launch.py); rank 0
writes the run folder and appends its events to `events.jsonl` in the shared folder, which this
module reads back as they come (the events rebuilt from their `to_dict()`), so the live plots
are fed by rank 0. Stop writes the stop file every process reads before each step; pause is
not offered (the processes agree on stops only). A process that fails ends the run: the first
one to fail is said as the run's Failed event (`process R: ...` for a rank other than 0).
"""
from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

from . import launch as L
from . import watch_events  # noqa: F401: its events (live boundary, activations) come back too
from .events import Event, Failed

POLL_S = 0.05


def _kinds(cls=Event) -> dict[str, type]:
    out = {}
    for sub in cls.__subclasses__():
        out[sub.__name__.lower()] = sub
        out.update(_kinds(sub))
    return out


def event_from_dict(d: dict) -> Event | None:
    """An event back from its `to_dict()` (None for a kind this side does not know)."""
    cls = _kinds().get(d.get("event", ""))
    if cls is None:
        return None
    fields = {k: v for k, v in d.items() if k != "event" and k in cls.__dataclass_fields__}
    for f in dataclasses.fields(cls):  # what JSON made lists of: bytes and tuples again
        v, t = fields.get(f.name), str(f.type)
        if isinstance(v, list) and t == "bytes":
            fields[f.name] = bytes(v)
        elif isinstance(v, list) and t.startswith("tuple"):
            fields[f.name] = tuple(v)
    try:
        return cls(**fields)
    except TypeError:
        return None


def refusal(project) -> str | None:
    """Why this project cannot train in several processes (said before any starts)."""
    from .distributed import refusal as why
    t = project.training
    return why(t.recipe, bool(t.optimizers))


class _Tail:
    """The complete lines added to a file since the last read."""

    def __init__(self, path: Path):
        self.path, self.pos, self.rest = path, 0, ""

    def read(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.pos)
                text = f.read()
                self.pos = f.tell()
        except FileNotFoundError:
            return []
        lines = (self.rest + text).split("\n")
        self.rest = lines.pop()
        return [line for line in lines if line.strip()]


def run_in_processes(job: dict, project, stop_event) -> Iterator[Event]:
    """Train `job` (the worker's job) in `project.training.processes` processes, yielding rank
    0's events as they come and one terminal event (Finished, Stopped or Failed)."""
    why = refusal(project)
    if why:
        yield Failed(why)
        return
    n = project.training.processes
    with tempfile.TemporaryDirectory(prefix="layerloom-ddp-") as folder:
        job_file = Path(folder, "job.json")
        job_file.write_text(json.dumps(job))
        log = open(Path(folder, "torchrun.log"), "w")  # noqa: SIM115: closed below
        cmd = L.torchrun_command(n) + ["-m", "runtime.rank_run", str(job_file)]
        proc = L.start(cmd, folder, stdout=log, stderr=subprocess.STDOUT)
        try:  # the worker is ended (the window closed): end them too
            previous = signal.signal(signal.SIGTERM, _ending(proc))
        except ValueError:  # not the main thread: no handler of ours
            previous = None
        try:
            yield from _follow(proc, Path(folder), stop_event)
        finally:
            if proc.poll() is None:
                L.end(proc)
                proc.wait(10)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            log.close()


def _ending(proc):
    def handler(signum, frame):
        L.end(proc)
        raise SystemExit(1)
    return handler


def _follow(proc: subprocess.Popen, folder: Path, stop_event) -> Iterator[Event]:
    tail = _Tail(folder / L.EVENTS_FILE)
    asked = False
    held: Failed | None = None  # rank 0's failure: said once it is known to be the first
    ended = None

    def drain():
        nonlocal held, ended
        for line in tail.read():
            try:
                ev = event_from_dict(json.loads(line))
            except ValueError:
                continue
            if ev is None:
                continue
            if ev.kind == "failed":
                held = ev
            else:
                if ev.kind in ("finished", "stopped"):
                    ended = ev
                yield ev

    while proc.poll() is None:
        if stop_event.is_set() and not asked:
            L.request_stop(folder)
            asked = True
        yield from drain()
        time.sleep(POLL_S)
    yield from drain()
    if ended is not None and held is None:
        return
    failed = L.failures(L.results(folder))
    if failed and failed[0].get("rank", 0) != 0:
        first = failed[0]
        yield Failed(f"process {first['rank']}: {first.get('error') or 'failed'}",
                     int(first.get("steps") or 0), first.get("node"))
    elif held is not None:
        yield held
    elif failed:
        yield Failed(failed[0].get("error") or "process 0 failed")
    elif ended is None:
        text = (folder / "torchrun.log").read_text(errors="replace").strip().splitlines()
        yield Failed(f"The training processes ended (exit code {proc.returncode}) before "
                     "rank 0 reported an end" + (f": {text[-1]}" if text else "."))

