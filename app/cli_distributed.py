"""`layerloom train FILE --nproc N` (issue 27 item 3): the command starts itself again through
torchrun (torch.distributed.run; a standalone rendezvous on one machine, `--nnodes M
--node-rank R --rdzv-endpoint HOST:PORT` for several), N processes per machine, each an
ordinary `layerloom train` whose Trainer joins the process group (runtime/distributed.py).

The launching command and its processes share a temporary folder (runtime.distributed.DIR_ENV):
each process writes its outcome there (`rank<R>.json`), and a Ctrl-C in the launching command
writes the stop file every process reads before each step (torchrun runs in a session of its
own, so the terminal's Ctrl-C reaches the launcher only; a second Ctrl-C ends the processes).
Rank 0 alone prints progress and writes files (--out); the others are silent. When a process
fails, the run ends (torchrun stops the others) and the launcher prints that process's error
(the first one to fail) and exits 1; with --json its last line is rank 0's summary, its
error that process's.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_arguments(t) -> None:
    """The train command's options for several processes and machines."""
    t.add_argument("--resume", metavar="CHECKPOINT",
                   help="go on from a checkpoint: the one an earlier --out folder holds (its "
                        "checkpoint/, written when a run finishes or is stopped with Ctrl-C), "
                        "a run folder's last one, or a checkpoint folder; with the same "
                        "--nproc, the run ends as an uninterrupted one would")
    t.add_argument("--nproc", type=int, metavar="N",
                   help="train in N processes on this machine (DistributedDataParallel through "
                        "torchrun: gloo on the CPU, nccl with one process per GPU); the "
                        "project's batch size is per process")
    t.add_argument("--nnodes", type=int, default=1, metavar="M",
                   help="machines taking part (run the same command on each)")
    t.add_argument("--node-rank", type=int, default=0, metavar="R",
                   help="this machine's number, 0 to M-1 (0 holds rank 0: logs, files)")
    t.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                   help="where the machines meet (machine 0's address and a free port)")


def _env_dir():
    from runtime.launch import DIR_ENV
    return os.environ.get(DIR_ENV)


def _child_argv(args) -> list[str]:
    out = [args.file]
    for flag in ("epochs", "max_steps", "device", "out", "weights", "resume"):
        v = getattr(args, flag, None)
        if v is not None:
            out += [f"--{flag.replace('_', '-')}", str(v)]
    out += [f for f, on in (("--json", args.json), ("--no-progress", args.no_progress)) if on]
    return out


def check_resume(args) -> str | None:
    """--resume resolved to its checkpoint folder (in args), or the problem in words."""
    if getattr(args, "resume", None) is None:
        return None
    if args.weights is not None:
        return "--resume and --weights: a resumed run starts from its checkpoint's weights"
    from runtime.checkpoint import CheckpointError, find
    try:
        args.resume = str(find(args.resume))
    except CheckpointError as e:
        return f"--resume: {e}"
    return None


def keep_checkpoint(trainer, args, out) -> None:
    """At the end of a run (finished or stopped, at its last event): with --out, the
    checkpoint `--resume` goes on from, in OUT/checkpoint (rank 0 alone has --out)."""
    if not args.out or trainer.compiled is None:
        return
    folder = Path(args.out) / "checkpoint"
    try:
        trainer.save_checkpoint(folder)
        print(f"checkpoint in {folder} (--resume {args.out} goes on from it)", file=out)
    except OSError as e:
        print(f"error: {folder}: could not write the checkpoint ({e.strerror or e})",
              file=sys.stderr)


def _usage(args) -> str | None:
    n, m, r = 1 if args.nproc is None else args.nproc, args.nnodes, args.node_rank
    if n < 1:
        return "--nproc must be at least 1"
    if m < 1:
        return "--nnodes must be at least 1"
    if not 0 <= r < m:
        return f"--node-rank {r}: must be 0 to {m - 1} (--nnodes {m})"
    if m > 1:
        ep = args.rdzv_endpoint or ""
        host, _, port = ep.rpartition(":")
        if not host or not port.isdigit():
            return (f"--rdzv-endpoint '{ep}': give HOST:PORT (machine 0's address and a free "
                    "port) when --nnodes is more than 1")
    return None


def relaunch(args, cleanup) -> int | None:
    """Run the training through torchrun when several processes are asked for (and this is
    not already one of them); the exit code, or None to train in this process. `cleanup`:
    removes the --out folders made for the run when nothing was saved in them."""
    if _env_dir() is not None:  # one of the processes: it trains
        return None
    bad = _usage(args)
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        return EXIT_USAGE
    if (args.nproc or 1) == 1 and args.nnodes == 1:  # one process: as before
        return None
    from runtime import launch as L
    cmd = L.torchrun_command(args.nproc or 1, args.nnodes, args.node_rank, args.rdzv_endpoint)
    cmd += ["-m", "app.cli", "train", *_child_argv(args)]
    with tempfile.TemporaryDirectory(prefix="layerloom-ddp-") as folder:
        proc = L.start(cmd, folder)
        previous = signal.getsignal(signal.SIGINT)
        asked = []

        def on_sigint(signum, frame):  # first: every process stops after its step; second: end
            if not asked:
                asked.append(time.monotonic())
                L.request_stop(folder)
                print("stopping every process after the current step (Ctrl-C again to end "
                      "them at once)", file=sys.stderr)
            else:
                L.end(proc)
        signal.signal(signal.SIGINT, on_sigint)
        try:
            rc = proc.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
        results = L.results(Path(folder))
    return _outcome(args, rc, results, cleanup)


def _outcome(args, rc: int, results: dict[int, dict], cleanup) -> int:
    from runtime.launch import failures
    failed = failures(results)
    # rank 0's summary (on another machine than machine 0: this machine's first rank's)
    head = dict(results.get(0) or (results[min(results)] if results else
                                   {"status": "failed", "steps": 0, "metrics": {}}))
    head.pop("at", None)
    if rc == 0 and not failed and results:
        code = EXIT_OK
    else:
        if failed:
            first = failed[0]
            msg = f"rank {first['rank']}: {first.get('error') or 'failed'}"
            head["rank"] = first["rank"]
        else:
            msg = (f"a training process ended with exit code {rc} before it could report "
                   "(torchrun's message above says which)")
        print(f"error: {msg}", file=sys.stderr)
        head.update(status="failed", error=msg)
        code = EXIT_FAILED
    if "weights" not in head:
        cleanup()
    if args.json:
        print(json.dumps(head))
    return code


# In each process ---------------------------------------------------------------------------
def rank_setup(args, project):
    """In a process torchrun started for `layerloom train`: join the process group, share the
    machine's threads, and silence every rank but 0 (no progress, no files). None elsewhere."""
    from runtime import distributed as D
    if not D.launched():
        return None
    import torch

    from runtime.devices import pick_device
    from runtime.errors import TrainingError
    try:
        try:
            device = pick_device(args.device or project.training.device)
        except TrainingError:  # the Trainer says it, as in one process
            device = torch.device("cpu")
        D.init(device)
    except (TrainingError, RuntimeError, ValueError) as e:  # no GPU of its own, no rendezvous
        r = int(os.environ.get("RANK", "0"))
        _write(r, {"status": "failed", "steps": 0, "metrics": {}, "error": str(e)})
        print(f"error: rank {r}: {e}", file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None
    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(max(1, torch.get_num_threads() // per_machine))
    if D.rank() != 0:
        args.out, args.no_progress = None, True
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115: this process's life
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115: its error goes to rank<R>.json
    return D.rank()


def describe(trainer) -> str | None:
    """The line a distributed run adds to the start: processes and the global batch."""
    from runtime import distributed as D
    w = D.world()
    if w == 1:
        return None
    g = getattr(trainer, "global_batch", 0)
    return (f"{w} processes ({D.backend()}): batch {-(-g // w)} per process, {g} per step in "
            "all")


def report_rank(result: dict, trainer=None) -> bool:
    """In a distributed process: write its outcome for the launcher and leave the group (True;
    the launcher prints the summary). False elsewhere."""
    from runtime import distributed as D
    folder = _env_dir()
    if folder is None or not D.launched():
        return False
    r = D.rank()
    if trainer is not None and D.world() > 1:
        result["processes"] = D.world()
        if getattr(trainer, "global_batch", None):
            result["global_batch"] = trainer.global_batch
    try:
        _write(r, result)
    finally:
        D.teardown(ok=result.get("status") != "failed")
    return True


def _write(r: int, result: dict) -> None:
    """Rank r's outcome, for the launcher (with when it was known: the first failure wins)."""
    from runtime.launch import write_result
    write_result(_env_dir(), r, result)
