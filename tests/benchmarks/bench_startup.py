"""Where `layerloom train` spends its time before the first step (issue 9, item 14), as a
user runs it: a fresh process, `train TEMPLATE --json`. start-up = wall time minus the
training loop's own seconds (the JSON's "seconds"). With --root DIR the same is measured on
another checkout (e.g. an older commit in a git worktree) in alternation, for before/after.
Also the in-process pieces: importing torch, importing the runtime, the first optimizer.

Run:  python tests/benchmarks/bench_startup.py [--runs R] [--root OLD_CHECKOUT]
Last line of stdout: {"<checkout>": {"wall_s", "train_s", "startup_s"}, "pieces": {...}}.
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

PIECES = r"""
import json, sys, time
t0 = time.perf_counter(); import torch; t1 = time.perf_counter()
import runtime.train, graph.project; t2 = time.perf_counter()
p = graph.project.load(sys.argv[1])
tr = runtime.train.Trainer(p, device="cpu", max_steps=1)
events = []
t3 = time.perf_counter()
for ev in tr.run():
    events.append((ev.kind, time.perf_counter()))
first_step = next(t for k, t in events if k in ("step", "epochend"))
print(json.dumps({"import_torch_s": t1 - t0, "import_runtime_s": t2 - t1,
                  "to_first_step_s": first_step - t3,
                  "dynamo_loaded": "torch._dynamo" in sys.modules}))
"""


def run(root: Path, template: str) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(root))
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "app.cli", "train",
                        str(ROOT / "templates" / f"{template}.json"), "--json", "--device",
                        "cpu", "--no-progress"], cwd=root, env=env, capture_output=True,
                       text=True, timeout=600)
    wall = time.perf_counter() - t
    return wall, json.loads(r.stdout.strip().splitlines()[-1])["seconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--template", default="mlp")
    ap.add_argument("--root", type=Path, help="another checkout to compare with")
    args = ap.parse_args()
    roots = {"this checkout": ROOT}
    if args.root:
        roots = {f"before ({args.root})": args.root.resolve(), "after (this checkout)": ROOT}
    results = {k: [] for k in roots}
    for i in range(args.runs):
        for name in (list(roots) if i % 2 == 0 else list(reversed(roots))):
            results[name].append(run(roots[name], args.template))
    out = {}
    for name, rows in results.items():
        out[name] = {"wall_s": round(statistics.median(w for w, _ in rows), 2),
                     "train_s": round(statistics.median(t for _, t in rows), 2),
                     "startup_s": round(statistics.median(w - t for w, t in rows), 2)}
        print(f"{name}: wall {out[name]['wall_s']} s, training loop {out[name]['train_s']} s, "
              f"start-up and finish {out[name]['startup_s']} s (medians of {args.runs})")
    pieces = []
    for root in roots.values():
        r = subprocess.run([sys.executable, "-c", PIECES,
                            str(ROOT / "templates" / f"{args.template}.json")], cwd=root,
                           env=dict(os.environ, PYTHONPATH=str(root)), capture_output=True,
                           text=True, timeout=600)
        pieces.append(json.loads(r.stdout.strip().splitlines()[-1]))
    out["pieces"] = dict(zip(roots, pieces))
    for name, p in out["pieces"].items():
        print(f"{name}: import torch {p['import_torch_s']:.2f} s, runtime {p['import_runtime_s']:.2f}"
              f" s, Trainer start to first step {p['to_first_step_s']:.2f} s, torch._dynamo "
              f"loaded: {p['dynamo_loaded']}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
