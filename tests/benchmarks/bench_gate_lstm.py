"""The gate-built LSTM and GRU cells (recurrent loop blocks, issue 25) against torch's fused
nn.LSTM / nn.GRU nodes: one training step (forward, backward, Adam) of the templates'
models on the adding problem (batch 64, T = 50, hidden 32), interleaved, median of R runs.
The gate-built cell runs its 17 (LSTM) or 15 (GRU) nodes once per time step in Python; the
fused kernel does all steps in one call, so the ratio says how much slower the readable
version is.

Run:  python tests/benchmarks/bench_gate_lstm.py [--repeats R] [--steps S]
Last line of stdout: a JSON object.
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
from runtime.compile import compile_graph  # noqa: E402


def step_time(name: str, steps: int, x, y) -> float:
    c = compile_graph(load(ROOT / "templates" / f"{name}.json").graph)
    opt = torch.optim.Adam(c.modules.parameters(), lr=1e-3)
    for _ in range(3):  # warm-up
        opt.zero_grad()
        c.objective(x, y)["loss"].backward()
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        c.objective(x, y)["loss"].backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)  # as `layerloom train` runs on a 2-core CPU (bench_threads.py)
    torch.manual_seed(0)
    x, y = torch.rand(64, 50, 2), torch.rand(64, 1)
    out = {"threads": torch.get_num_threads()}
    for fused, gates in (("lstm", "lstm_from_gates"), ("gru", "gru_from_gates")):
        times = {fused: [], gates: []}
        for _ in range(args.repeats):
            for name in (fused, gates):
                times[name].append(step_time(name, args.steps, x, y))
        a, b = statistics.median(times[fused]), statistics.median(times[gates])
        out[f"{fused}_step_ms"] = round(a * 1e3, 2)
        out[f"{gates}_step_ms"] = round(b * 1e3, 2)
        out[f"{gates}_ratio"] = round(b / a, 2)
        print(f"{fused}: fused {a * 1e3:.2f} ms, from gates {b * 1e3:.2f} ms per step "
              f"(x{b / a:.2f})")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
