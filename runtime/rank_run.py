"""One process of an app run in several processes (runtime/multi_run.py starts N of these
through torchrun): `python -m runtime.rank_run JOB.json`.

Every process joins the process group and runs the ordinary Trainer (runtime/distributed.py:
its share of each epoch, DDP, agreed stops through the launcher's stop file). Rank 0 alone
writes the run folder (runs.run_with_logging, as a one-process run does) and appends each
event to `events.jsonl` in the shared folder, one JSON object a line, for the worker to read
back. Each process writes its outcome (`rank<R>.json`) before it leaves.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from graph.project import loads

from . import distributed as D
from .devices import pick_device
from .errors import TrainingError
from .launch import DIR_ENV, EVENTS_FILE, write_result
from .runs import run_with_logging
from .train import Trainer


def _share_threads() -> None:
    """This machine's cores, shared among its processes."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    torch.set_num_threads(max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def main(job_path: str) -> int:
    folder = Path(os.environ[DIR_ENV])
    job = json.loads(Path(job_path).read_text())
    rank = int(os.environ.get("RANK", "0"))
    _share_threads()
    project = loads(job["project"], job.get("source", "<project>"))
    try:
        try:
            device = pick_device(job.get("device") or project.training.device)
        except TrainingError:  # the Trainer says it, as in one process
            device = torch.device("cpu")
        D.init(device)
    except (TrainingError, RuntimeError, ValueError) as e:  # no GPU of its own, no rendezvous
        write_result(folder, rank, {"status": "failed", "steps": 0, "error": str(e)})
        return 1
    rank = D.rank()
    trainer = Trainer(project, base_dir=job.get("base_dir"), device=job.get("device"),
                      max_steps=job.get("max_steps"), epochs=job.get("epochs"),
                      resume_from=job.get("resume_from"), log_every=job.get("log_every", 10))
    result: dict = {"status": "failed", "steps": 0, "error": "ended before any event"}
    events = (run_with_logging(trainer, project, Path(job["run_dir"]),
                               resume=bool(job.get("resume_from")))
              if rank == 0 else trainer.run())
    out = open(folder / EVENTS_FILE, "a", encoding="utf-8") if rank == 0 else None  # noqa: SIM115
    try:
        for ev in events:
            if out is not None:  # one line each, flushed: the worker reads complete lines
                out.write(json.dumps(ev.to_dict(), default=str) + "\n")
                out.flush()
            if ev.kind in ("finished", "stopped"):
                result = {"status": ev.kind, "steps": ev.step}
            elif ev.kind == "failed":
                result = {"status": "failed", "steps": ev.step, "error": ev.message,
                          "node": ev.node}
    except BaseException as e:  # noqa: BLE001: said to the launcher, then raised
        result = {"status": "failed", "steps": trainer.step,
                  "error": f"{type(e).__name__}: {e}"}
        raise
    finally:
        if out is not None:
            out.close()
        write_result(folder, rank, result)
        D.teardown(ok=result["status"] != "failed")
    return 0 if result["status"] != "failed" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
