"""Starting several training processes through torchrun (torch.distributed.run), for both
`layerloom train --nproc N` (app/cli_distributed.py) and the app's worker (runtime/multi_run.py).

The launcher and its processes share a temporary folder (distributed.DIR_ENV): each process
writes its outcome there (`rank<R>.json`, with when it was known: the first failure wins), a
stop file there asks every process to stop after the same step (distributed.agree_stop), and
the app's rank 0 appends its events to `events.jsonl` there (runtime/rank_run.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

DIR_ENV = "LAYERLOOM_DDP_DIR"  # (distributed.DIR_ENV: the same name, without importing torch)
STOP_FILE = "stop"
EVENTS_FILE = "events.jsonl"
ROOT = Path(__file__).resolve().parents[1]  # where `app` and `runtime` are importable from


def torchrun_command(nproc: int, nnodes: int = 1, node_rank: int = 0,
                     endpoint: str | None = None) -> list[str]:
    """The start of the command line: torchrun with N processes on this machine (a standalone
    rendezvous on one machine; machine 0's HOST:PORT for several); the module to run follows."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    if nnodes == 1:
        cmd.append("--standalone")
    else:
        host, _, port = (endpoint or "").rpartition(":")
        cmd += ["--nnodes", str(nnodes), "--node-rank", str(node_rank),
                "--master-addr", host, "--master-port", port]
    return cmd


def environment(folder: str | Path) -> dict:
    """The processes' environment: the shared folder, one thread each until they take their
    share (rank setup), and this tree importable."""
    return {"OMP_NUM_THREADS": "1", **os.environ, DIR_ENV: str(folder),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                          if p)}


def start(cmd: list[str], folder: str | Path, **popen) -> subprocess.Popen:
    """torchrun in a session of its own (a terminal's Ctrl-C reaches the launcher only, which
    writes the stop file; `end` stops them all)."""
    return subprocess.Popen(cmd, env=environment(folder), start_new_session=True, **popen)


def request_stop(folder: str | Path) -> None:
    Path(folder, STOP_FILE).touch()


def end(proc: subprocess.Popen) -> None:
    """End torchrun and its processes at once (SIGTERM to its session)."""
    import signal
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        pass


def results(folder: str | Path) -> dict[int, dict]:
    """Each process's outcome, by rank."""
    out = {}
    for f in Path(folder).glob("rank*.json"):
        try:
            r = json.loads(f.read_text())
            out[int(r["rank"])] = r
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def failures(found: dict[int, dict]) -> list[dict]:
    """The processes that failed, the first to fail first."""
    return sorted((r for r in found.values() if r.get("status") == "failed"),
                  key=lambda r: r.get("at", 0.0))


def write_result(folder: str | Path, rank: int, result: dict) -> None:
    """Rank r's outcome, for the launcher (with when it was known)."""
    from graph.fileio import atomic_write_text
    atomic_write_text(Path(folder) / f"rank{rank}.json",
                      json.dumps({**result, "rank": rank, "at": time.time()}, default=str))
