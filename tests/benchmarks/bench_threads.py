"""Training threads on a busy machine (issue 9, item 13). `layerloom train TEMPLATE` as a
user runs it (a fresh process), on a quiet machine and next to a neighbour process that
burns one core, with 2 threads (torch's default here, the CLI's old behaviour), 1 thread,
and the automatic choice (runtime/cpu.py: the cores the other processes leave idle).
Settings alternate within each round; medians over the rounds.

Run:  python tests/benchmarks/bench_threads.py [--rounds R] [--templates mlp cnn]
Last line of stdout: {"<template>": {"<condition>": {"<threads>": {"wall_s", "train_s"}}}}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"2": "2", "1": "1", "auto": ""}


def neighbour() -> subprocess.Popen:
    """A process that keeps one core busy (pure Python, no threads)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run(template: str, threads: str) -> tuple[float, float, str]:
    env = dict(os.environ, LAYERLOOM_TRAIN_THREADS=threads)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "app.cli", "train", f"templates/{template}.json",
                        "--json", "--device", "cpu", "--no-progress"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t
    res = json.loads(r.stdout.strip().splitlines()[-1])
    line = next((l for l in r.stderr.splitlines() if l.startswith("Training ")), "")
    used = line.split("CPU (", 1)[1].split(")")[0] if "CPU (" in line else "?"
    return wall, res["seconds"], used


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--templates", nargs="+", default=["mlp", "cnn"])
    args = ap.parse_args()
    out: dict = {}
    for template in args.templates:
        out[template] = {}
        for condition in ("quiet", "one busy neighbour"):
            rows: dict[str, list] = {k: [] for k in SETTINGS}
            used: dict[str, set] = {k: set() for k in SETTINGS}
            for r in range(args.rounds):
                order = list(SETTINGS) if r % 2 == 0 else list(reversed(SETTINGS))
                for key in order:
                    proc = neighbour() if condition != "quiet" else None
                    try:
                        if proc:
                            time.sleep(0.5)  # it is running before the run starts
                        wall, train, how = run(template, SETTINGS[key])
                    finally:
                        if proc:
                            proc.kill()
                            proc.wait()
                    rows[key].append((wall, train))
                    used[key].add(how)
            out[template][condition] = {
                key: {"wall_s": round(statistics.median(w for w, _ in v), 2),
                      "train_s": round(statistics.median(t for _, t in v), 2),
                      "threads_used": sorted(used[key])} for key, v in rows.items()}
            for key, res in out[template][condition].items():
                print(f"{template:4s} {condition:19s} threads {key:4s}: train {res['train_s']:6.2f} s"
                      f"  wall {res['wall_s']:6.2f} s  ({', '.join(res['threads_used'])})",
                      flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
