"""Several processes on this machine (issue 27 item 3, 'Done means'): samples/s of the mlp and
cnn templates trained by 1 and 2 processes (gloo, CPU, DistributedDataParallel) and the time
per step spent synchronising gradients.

Each configuration runs --steps steps of the template's own data and batch (the batch per
process, as in DDP: 2 processes take twice the samples per step). samples/s is the median of
the Step events' rates (all processes' samples; the first window left out: warm-up), read in
rank 0. The gradient synchronisation time is measured with a DDP communication hook on the
wrapped objective that runs gloo's all-reduce of each gradient bucket and waits for it
(blocking, so it is the all-reduce's whole cost, not overlapped with the backward pass):
its total over the run / steps, in ms. The one-process runs with 1 and with 2 torch threads
show what the second core gives without DDP.

Run:  python tests/benchmarks/bench_ddp.py [--steps S] [--templates mlp,cnn]

The last line of stdout is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LAYERLOOM_HOME", tempfile.mkdtemp())

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402


def _timed_allreduce(state, bucket):
    """A comm hook: the bucket's all-reduce (mean), waited for and timed."""
    t = time.perf_counter()
    buf = bucket.buffer()
    dist.all_reduce(buf)
    buf.div_(dist.get_world_size())
    state["s"] += time.perf_counter() - t
    state["n"] += 1
    fut = torch.futures.Future()
    fut.set_result(buf)
    return fut


def _worker(rank: int, world: int, port: int, template: str, steps: int, threads: int,
            out: str) -> None:
    from graph.project import load
    from runtime import distributed as D
    from runtime.train import Trainer
    torch.set_num_threads(threads)
    state = {"s": 0.0, "n": 0}
    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        D.init(torch.device("cpu"))
        plain = D.wrap

        def wrap(*a, **k):
            c = plain(*a, **k)
            c.objective.register_comm_hook(state, _timed_allreduce)
            return c
        D.wrap = wrap
    try:
        p = load(ROOT / "templates" / f"{template}.json")
        p.training.epochs = 10000
        t0 = time.perf_counter()
        events = list(Trainer(p, device="cpu", max_steps=steps, log_every=10).run())
        wall = time.perf_counter() - t0
        if events[-1].kind != "finished":
            raise SystemExit(f"{template}: the run did not finish: {events[-1]}")
        st = [e for e in events if e.kind == "step"][1:]
        if rank == 0:
            res = {"samples_per_s": round(statistics.median(e.samples_per_s for e in st), 1),
                   "global_batch": p.training.batch_size * world, "wall_s": round(wall, 2)}
            if world > 1:
                res["sync_ms_per_step"] = round(1000 * state["s"] / steps, 3)
                res["buckets_per_step"] = round(state["n"] / steps, 2)
            Path(out).write_text(json.dumps(res))
    finally:
        if world > 1:
            D.teardown()


def run(template: str, world: int, steps: int, threads: int) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        out = str(Path(d) / "res.json")
        if world == 1:
            _worker(0, 1, port, template, steps, threads, out)
        else:
            mp.spawn(_worker, args=(world, port, template, steps, threads, out), nprocs=world,
                     join=True)
        return json.loads(Path(out).read_text())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--templates", default="mlp,cnn")
    args = ap.parse_args()
    out: dict = {"steps": args.steps, "cpus": os.cpu_count(), "torch": torch.__version__}
    for template in args.templates.split(","):
        res = {"1proc_1thread": run(template, 1, args.steps, 1),
               "1proc_2threads": run(template, 1, args.steps, 2),
               "2proc_1thread": run(template, 2, args.steps, 1)}
        out[template] = res
        print(template, res, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
