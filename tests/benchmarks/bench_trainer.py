"""What the Trainer's events cost: its run of a template (all events consumed) against a bare
loop doing the same steps on the same batches (forward, loss, backward, optimizer step and
nothing else). No validation split on either side. Alternating runs in one process; the ratio
of medians is reported.

Run:  python tests/benchmarks/bench_trainer.py [--runs R] [--template cnn]
Last line of stdout: {"trainer_vs_bare_ratio": …, …}.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from graph.project import load  # noqa: E402
from runtime.binding import bind_data  # noqa: E402
from runtime.compile import compile_graph  # noqa: E402
from runtime.data import load_dataset  # noqa: E402
from runtime.train import Trainer, to_channels_last, use_channels_last  # noqa: E402


# CPU time of the process, not wall time: the machines are shared, and waiting for a core
# is not the loop's cost. torch runs on one thread here so both sides do the same work.
CLOCK = time.process_time


def bare(project) -> float:
    s = project.training
    torch.manual_seed(s.seed)
    c = compile_graph(project.graph)
    ds = load_dataset(project.data.dataset, project.data.options, s.seed)
    needed = c.inputs + c.targets
    tensors = bind_data(c, project.data.bind, ds, needed)
    n = len(ds)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(s.seed))
    train = [tensors[k][perm[int(n * s.val_split):]] for k in needed]
    n_train = len(train[0])
    if use_channels_last(c, torch.device("cpu")):  # the Trainer's memory layout
        c.modules.to(memory_format=torch.channels_last)
        train = [to_channels_last(x) for x in train]
    opt = torch.optim.Adam(c.modules.parameters(), lr=s.lr)
    shuffle = torch.Generator().manual_seed(s.seed + 1)
    t = CLOCK()
    for _ in range(s.epochs):
        order = torch.randperm(n_train, generator=shuffle)
        for i in range(0, n_train, s.batch_size):
            batch = [x[order[i:i + s.batch_size]] for x in train]
            opt.zero_grad(set_to_none=True)
            c.objective(*batch)["loss"].backward()
            opt.step()
    return CLOCK() - t


def trainer(project) -> float:
    """From Started to the last EpochEnd: the training loop with all its events."""
    t0 = t1 = None
    for ev in Trainer(project, device="cpu").run():
        if ev.kind == "started":
            t0 = CLOCK()
        elif ev.kind == "epochend":
            t1 = CLOCK()
        elif ev.kind == "failed":
            raise SystemExit(ev.message)
    return t1 - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--template", default="cnn")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    project = load(ROOT / "templates" / f"{args.template}.json")
    project.training.device = "cpu"
    project.training.val_split = 0.0  # no validation passes on either side
    times = {"trainer": [], "bare": []}
    for r in range(args.runs):
        for label, fn in ((("trainer", trainer), ("bare", bare)) if r % 2 == 0
                          else (("bare", bare), ("trainer", trainer))):
            times[label].append(fn(project))
    t, b = statistics.median(times["trainer"]), statistics.median(times["bare"])
    print(f"{args.template}: Trainer {t:.3f} s CPU (every event: steps, gradient norms, metrics, "
          f"epoch ends), bare loop {b:.3f} s CPU; median of {args.runs} runs each, "
          f"{args.threads} torch thread(s)")
    print(json.dumps({"template": args.template, "trainer_s": round(t, 3), "bare_s": round(b, 3),
                      "trainer_vs_bare_ratio": round(t / b, 4), "runs": args.runs}))


if __name__ == "__main__":
    main()
