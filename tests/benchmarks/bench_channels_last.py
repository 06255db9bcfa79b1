"""The Trainer on an image graph in channels-last memory (what it does on the CPU) against the
same run in NCHW, at 1 and 2 torch threads. Alternating runs in one process, wall time of
the training loop (the Trainer's own samples/s), median of the runs.

Run:  python tests/benchmarks/bench_channels_last.py [--runs 7] [--template cnn] [--epochs 15]
Last line of stdout: a JSON object with the speed-ups (channels-last / NCHW samples/s).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import runtime.train as T  # noqa: E402
from graph.project import load  # noqa: E402

CHOOSE = T.use_channels_last


def rate(project, channels_last: bool) -> float:
    T.use_channels_last = CHOOSE if channels_last else (lambda c, dev: False)
    try:
        fin = list(T.Trainer(project, device="cpu").run())[-1]
    finally:
        T.use_channels_last = CHOOSE
    if fin.kind != "finished":
        raise SystemExit(f"the run did not finish: {fin}")
    return fin.samples_per_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--template", default="cnn")
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    project = load(ROOT / "templates" / f"{args.template}.json")
    project.training.epochs = args.epochs
    from runtime.compile import compile_graph
    if not CHOOSE(compile_graph(project.graph), torch.device("cpu")):
        raise SystemExit(f"{args.template}: the Trainer keeps this graph in NCHW")
    out = {"template": args.template, "epochs": args.epochs, "runs": args.runs}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        rates = {True: [], False: []}
        for r in range(args.runs):
            for cl in ((True, False) if r % 2 == 0 else (False, True)):
                rates[cl].append(rate(project, cl))
        fast, plain = statistics.median(rates[True]), statistics.median(rates[False])
        print(f"{threads} thread(s): channels-last {fast:,.0f} samples/s, NCHW {plain:,.0f} "
              f"samples/s, x{fast / plain:.3f}")
        out[f"cl_samples_per_s_{threads}t"] = round(fast)
        out[f"nchw_samples_per_s_{threads}t"] = round(plain)
        out[f"speedup_{threads}t"] = round(fast / plain, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
