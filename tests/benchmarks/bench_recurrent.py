"""The vanishing gradient, measured (issue 10): the same graph, data and settings as the lstm
template (the adding problem, T = 50: two marked values far apart; a constant guess gives
MSE ~0.167), with the recurrent node an RNN (tanh), an LSTM and a GRU. Each is trained with
`layerloom train --json --device cpu` as a user runs it (a fresh process). The RNN should stay
at the baseline (val MSE >= 0.12) where the LSTM learns the sum (<= 0.05).

Also the gradient the RNN and the LSTM send back to the first steps: |dL/dx_t| at t = 0 and
t = T-1 after training (the Trainer's per-step gradient stats).

Run:  python tests/benchmarks/bench_recurrent.py [--runs R]
Last line of stdout: {"RNN": {"val_mse", "seconds", ...}, "LSTM": {...}, "GRU": {...}}.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("RNN", "LSTM", "GRU")


def project_with(kind: str, folder: Path) -> Path:
    raw = json.loads((ROOT / "templates" / "lstm.json").read_text())
    for n in raw["nodes"]:
        if n["type"] == "LSTM":
            n["type"] = kind
    raw["name"] = f"adding problem, {kind}"
    path = folder / f"adding_{kind.lower()}.json"
    path.write_text(json.dumps(raw))
    return path


def first_and_last_step_gradient(path: Path) -> tuple[float, float]:
    """Train in-process (same settings) and read the last per-step gradient profile."""
    code = ("import json, sys; from graph.project import load; from runtime.train import Trainer\n"
            f"p = load({str(path)!r})\n"
            "stats = [e for e in Trainer(p, device='cpu').run() if e.kind == 'gradstats']\n"
            "prof = next(iter(stats[-1].time_norms.values()))\n"
            "print(json.dumps([prof[0], prof[-1]]))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=1200)
    return tuple(json.loads(r.stdout.strip().splitlines()[-1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp())
    results = {k: [] for k in KINDS}
    for r in range(args.runs):
        for kind in (KINDS if r % 2 == 0 else tuple(reversed(KINDS))):
            out = subprocess.run([sys.executable, "-m", "app.cli", "train",
                                  str(project_with(kind, folder)), "--json", "--device", "cpu",
                                  "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                                 timeout=1200)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            results[kind].append((res["metrics"]["val_loss"], res["seconds"]))
            print(f"{kind}: val MSE {res['metrics']['val_loss']:.4f} in {res['seconds']:.1f} s",
                  flush=True)
    summary = {}
    for kind, rows in results.items():
        summary[kind] = {"val_mse": round(statistics.median(m for m, _ in rows), 4),
                         "val_mse_runs": [round(m, 4) for m, _ in rows],
                         "seconds": round(statistics.median(s for _, s in rows), 1)}
    for kind in ("RNN", "LSTM"):
        first, last = first_and_last_step_gradient(project_with(kind, folder))
        summary[kind]["grad_t0"], summary[kind]["grad_tlast"] = first, last
        print(f"{kind}: |dL/dx_t| after training: t = 0 {first:.2e}, t = T-1 {last:.2e}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
