"""A sweep's overhead (issue 29): its wall time against the sum of its trials' own runs, and
the time from the command's start to the first trial's first step. Runs `layerloom sweep`
as a user does (a subprocess, --json) on the mlp template.

    .venv/bin/python tests/benchmarks/bench_sweep.py [--trials 8] [--epochs 10]

`trial_seconds` sums each trial's run as the Trainer and its run folder take it (data,
compile, training, checkpoints, the run folder closed); `sweep_seconds` is the sweep's loop
over them (Optuna's sampling, the journal, the project copies, the printing included).
ratio = sweep_seconds / trial_seconds (target <= 1.15); `ratio_with_start` divides the whole
command's time instead (imports of torch and Optuna, the project checked, the study made).
Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--sampler", default="tpe")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = json.loads((ROOT / "templates" / "mlp.json").read_text())
        d["search"] = [{"target": "training.lr", "kind": "float", "low": 1e-3, "high": 0.1,
                        "log": True},
                       {"target": "fc1.out_features", "kind": "int", "low": 8, "high": 128}]
        f = Path(tmp) / "mlp.json"
        f.write_text(json.dumps(d))
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "app.cli", "sweep", str(f), "--trials",
                            str(args.trials), "--epochs", str(args.epochs), "--pruner", "none",
                            "--sampler", args.sampler, "--json", "--no-progress"],
                           cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(r.stderr)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    first, trials_s = res["first_trial_s"], res["trial_seconds"]
    out = {"trials": res["trials"], "epochs": args.epochs, "sampler": args.sampler,
           "wall_s": round(wall, 2), "command_s": res["seconds"], "trial_seconds": trials_s,
           "first_trial_s": first,
           "sweep_seconds": res["sweep_seconds"],
           "ratio": round(res["sweep_seconds"] / trials_s, 3),
           "ratio_with_start": round(res["seconds"] / trials_s, 3),
           "best": res["best"]["values"][0] if res["best"] else None}
    print(f"{out['trials']} trials x {args.epochs} epochs: wall {wall:.1f} s, trials "
          f"{trials_s:.1f} s, first trial after {first:.1f} s; ratio {out['ratio']} "
          f"(with the start {out['ratio_with_start']})")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
