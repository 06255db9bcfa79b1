"""Wall time of `layerloom train TEMPLATE --json --device cpu` for each template, as a user
runs it (a fresh process each time, torch import included). Target: each under 60 s here.

Run:  python tests/benchmarks/bench_templates.py [--runs R]
Last line of stdout: {"<template>": {"median_s": …, "train_s": …, "metric": …}, …}.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUALITY = {"perceptron": "accuracy", "mlp": "val_accuracy", "cnn": "val_accuracy",
           "rnn": "val_accuracy", "lstm": "val_loss", "gru": "val_loss",
           "char_lstm": "val_loss"}  # losses: the worst run is the highest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    out = {}
    for name, metric in QUALITY.items():
        walls, trains, values = [], [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "app.cli", "train",
                                f"templates/{name}.json", "--json", "--device", "cpu",
                                "--no-progress"], cwd=ROOT, capture_output=True, text=True)
            walls.append(time.perf_counter() - t)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            trains.append(res["seconds"])
            values.append(res["metrics"][metric])
        worst = max(values) if metric.endswith("loss") else min(values)
        out[name] = {"median_s": round(statistics.median(walls), 2),
                     "train_s": round(statistics.median(trains), 2),
                     metric: worst, "runs": args.runs}
        print(f"{name}: wall median {out[name]['median_s']} s (training loop "
              f"{out[name]['train_s']} s), worst {metric} {worst:.4f}", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
