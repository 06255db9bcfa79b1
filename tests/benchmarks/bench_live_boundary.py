"""The cost of watching the inside of a network while it trains (issue 28): the mlp template
(two ReLU layers of 64, the spirals, 40 epochs of 25 steps) trained in-process with
runtime.train.Trainer, as the Train button and `layerloom train` run it, with its watchers
(runtime/watch.py) off, with the live decision boundary only, and with the boundary and the
activation statistics. The three run in turn, `--repeats` times, in a rotating order (so
the shared machine's load falls on each alike); each run's samples/s is the Finished
event's (steps' samples over the run's wall time: the watchers' time included). Also
measured: the seconds spent inside the watchers (each call timed) as a share of the run's
time, the number of frames, and one frame's median cost at 64, 100 and 200 cells a side.
Target: the boundary costs <= 5 % of samples/s.

With --noisy, another process burns one core the whole time (the shared-machine case).

Run:  python tests/benchmarks/bench_live_boundary.py [--repeats 7] [--noisy]
Last line of stdout: {"runs": {"off"|"boundary"|"both": [samples/s, ...]}, "median": {...},
"ratio_boundary": median boundary / median off, "ratio_both": ..., "pair_ratio":
{"boundary"|"both": the median over repeats of that repeat's ratio to its own off run},
"watch_share":
{"boundary": median share of run time in watchers, "both": ...}, "frames": median frames a
run, "frame_ms": {"64": ..., "100": ..., "200": ...}, "threads", "noisy", "machine", "date"}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runtime.cpu import mark, training_threads  # noqa: E402  (no torch: mark before it loads)

_STARTED = mark()

import torch  # noqa: E402

from graph.project import load  # noqa: E402
from runtime.train import Trainer  # noqa: E402

MODES = {"off": (), "boundary": ("boundary",), "both": ("boundary", "activations")}


def _burn() -> None:
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2**31


def _timed(trainer, spent: list) -> None:
    """Time every call into the trainer's watchers (set once the run has prepared them)."""
    for w in trainer._watchers:
        for name in ("after_step", "epoch_end"):
            f = getattr(w, name)

            def timed(*a, _f=f):
                t0 = time.perf_counter()
                out = _f(*a)
                spent[0] += time.perf_counter() - t0
                return out
            setattr(w, name, timed)


def run(mode: str) -> dict:
    p = load(ROOT / "templates" / "mlp.json")
    p.training.device = "cpu"
    t = Trainer(p, watch=MODES[mode])
    spent, frames, hooked = [0.0], 0, False
    for ev in t.run():
        if not hooked and ev.kind == "started":
            _timed(t, spent)
            hooked = True
        frames += ev.kind == "boundaryframe"
        if ev.kind == "failed":
            raise SystemExit(f"training failed: {ev.message}")
        if ev.kind == "finished":
            return {"samples_per_s": ev.samples_per_s, "seconds": ev.seconds,
                    "share": spent[0] / ev.seconds, "frames": frames}
    raise SystemExit("the run did not finish")


def frame_ms() -> dict:
    """One frame's median cost (ms) on the trained mlp at 64, 100 and 200 cells a side."""
    from runtime import boundary_grid as BG
    p = load(ROOT / "templates" / "mlp.json")
    t = Trainer(p, max_steps=5, watch=("boundary",))
    for _ in t.run():
        pass
    w = t._watchers[0]
    out = {}
    for size in (64, 100, 200):
        w.size = size
        _, _, w.cells, w.extent = BG.plane(w.points, size)
        times = []
        for _ in range(31):
            t0 = time.perf_counter()
            w.frame(1, 1)
            times.append(time.perf_counter() - t0)
        out[str(size)] = round(statistics.median(times) * 1e3, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--noisy", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(training_threads(_STARTED))
    burner = None
    if args.noisy:
        burner = mp.get_context("spawn").Process(target=_burn, daemon=True)
        burner.start()
    try:
        run("off")  # warm-up: the dataset, sklearn and torch's first calls
        results = {m: [] for m in MODES}
        names = list(MODES)
        for k in range(args.repeats):
            for m in names[k % 3:] + names[:k % 3]:  # each mode first, second and third alike
                r = run(m)
                results[m].append(r)
                print(f"{k} {m:9s} {r['samples_per_s']:9.0f} samples/s  {r['seconds']:.2f} s  "
                      f"watchers {r['share']:.2%}  frames {r['frames']}", flush=True)
        fms = frame_ms()
    finally:
        if burner is not None:
            burner.terminate()
    med = {m: statistics.median(r["samples_per_s"] for r in rs) for m, rs in results.items()}
    out = {"runs": {m: [round(r["samples_per_s"]) for r in rs] for m, rs in results.items()},
           "median": {m: round(v) for m, v in med.items()},
           "ratio_boundary": round(med["boundary"] / med["off"], 4),
           "ratio_both": round(med["both"] / med["off"], 4),
           # each repeat's runs side by side (the machine's load drifts between repeats)
           "pair_ratio": {m: round(statistics.median(
               b["samples_per_s"] / a["samples_per_s"]
               for a, b in zip(results["off"], results[m])), 4) for m in ("boundary", "both")},
           "watch_share": {m: round(statistics.median(r["share"] for r in results[m]), 4)
                           for m in ("boundary", "both")},
           "frames": statistics.median(r["frames"] for r in results["boundary"]),
           "frame_ms": fms, "threads": torch.get_num_threads(), "noisy": args.noisy,
           "machine": f"{platform.machine()}, {mp.cpu_count()} cores, {platform.platform()}",
           "date": datetime.date.today().isoformat()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
