"""Shape inference and validation over a 1,000-node graph (target: well under 50 ms).

Run:  python tests/benchmarks/bench_inference.py [--repeats R]
Last line of stdout: {"nodes": 1000, "infer_1000_ms": median, ...}. No torch involved.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from graph.analysis import analyse  # noqa: E402
from graph.model import Graph  # noqa: E402
from graph.project import Project, loads  # noqa: E402
from tests.graphs import long_chain  # noqa: E402


def branchy(n: int) -> Graph:
    """Residual blocks (Linear → ReLU → Linear → Add with the skip): fan-in and multi ports."""
    g = Graph()
    g.add_node("Input", "x", {"shape": [16]})
    prev, i = "x", 0
    port = "out"
    while len(g) < n - 5:
        a, r, b, s = f"fa{i}", f"r{i}", f"fb{i}", f"add{i}"
        g.add_node("Linear", a, {"out_features": 16})
        g.add_node("ReLU", r)
        g.add_node("Linear", b, {"out_features": 16})
        g.add_node("Add", s)
        g.connect(prev, port, a, "x")
        g.connect(a, "y", r, "x")
        g.connect(r, "y", b, "x")
        g.connect(b, "y", s, "x")
        g.connect(prev, port, s, "x")
        prev, port, i = s, "y", i + 1
    g.add_node("Output", "out")
    g.connect(prev, port, "out", "x")
    return g


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return statistics.median(out), min(out), max(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    res = {}
    for label, g in (("chain", long_chain(1000)), ("residual", branchy(1000))):
        med, lo, hi = timed(lambda: analyse(g), args.repeats)
        a = analyse(g)
        assert a.ok, a.issues[:3]
        print(f"{label}: {len(g)} nodes, {len(g.edges())} edges: analyse median {med:.1f} ms "
              f"(min {lo:.1f}, max {hi:.1f}, {args.repeats} runs)")
        res[f"infer_1000_{label}_ms"] = round(med, 2)
        text = Project(graph=g).to_json()
        med_l, _, _ = timed(lambda: loads(text), 5)
        print(f"{label}: load project JSON ({len(text) // 1024} KiB) median {med_l:.1f} ms")
        res[f"load_1000_{label}_ms"] = round(med_l, 1)
    res["nodes"] = 1000
    res["infer_1000_ms"] = max(res["infer_1000_chain_ms"], res["infer_1000_residual_ms"])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
