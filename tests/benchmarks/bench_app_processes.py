"""Several processes from the app (issue 27 item 3): what a 2-process run costs the app's
training process before and during training, against a 1-process run of the same project,
measured in the same process (runtime/worker.TrainingProcess, as the window drives it; no
window).

For each of --repeats alternating pairs, the mlp template (its data, batch 32 per process,
--steps steps) is run once with training.processes = 1 and once with 2: the seconds from the
job's start to the Started event (2 processes: torchrun, two Python processes importing
torch, the rendezvous), to the last event, and the median samples/s of the Step events (all
processes' samples). Medians over the pairs; ratios 2-process / 1-process.

Run:  python tests/benchmarks/bench_app_processes.py [--repeats 3] [--steps 400]

The last line of stdout is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def one(tp, processes: int, steps: int, folder: Path, i: int) -> dict:
    p = json.loads((ROOT / "templates" / "mlp.json").read_text())
    p["training"].update(processes=processes, epochs=1000)
    t0 = time.perf_counter()
    tp.start_run({"id": i, "project": json.dumps(p), "run_dir": str(folder / f"run{i}"),
                  "max_steps": steps})
    started = end = None
    rates, last = [], None
    while end is None:
        for m in tp.poll():
            if m[0] in ("events", "event"):
                for e in (m[1] if m[0] == "events" else [m[1]]):
                    last = e
                    if e.kind == "started":
                        started = time.perf_counter() - t0
                    elif e.kind == "step":
                        rates.append(e.samples_per_s)
            elif m[0] == "done":
                end = time.perf_counter() - t0
        time.sleep(0.01)
    assert last.kind == "finished", last
    return {"to_started_s": started, "total_s": end,
            "samples_per_s": statistics.median(rates[1:] or rates)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=400)
    a = ap.parse_args()
    from runtime.worker import TrainingProcess
    tp = TrainingProcess()
    while tp.devices is None:
        tp.poll()
        time.sleep(0.05)
    got = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as d:
        for i in range(a.repeats):
            for n in (1, 2):
                r = one(tp, n, a.steps, Path(d), i * 2 + n)
                got[n].append(r)
                print(f"pair {i + 1}, {n} process(es): {r}", flush=True)
    tp.close()
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in got.items()}
    out = {"machine_cores": len(__import__("os").sched_getaffinity(0)),
           "worker": tp.info, "steps": a.steps, "repeats": a.repeats,
           "one": med[1], "two": med[2],
           "ratio_two_over_one": {k: med[2][k] / med[1][k] for k in med[1]}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
