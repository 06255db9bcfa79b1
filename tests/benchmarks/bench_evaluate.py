"""Opening the evaluation of the cnn template (issue 28: < 2 s): runtime.evaluate.evaluate on
the validation split (load the project's weights, compile, load and split the digits, run the
model, every scikit-learn figure), then the HTML page built from it. The weights come from a
short training run in the same process (not timed). Timed in one warm process (torch and
scikit-learn imported once, as in the app), repeated, median; the first (cold) call is
reported apart.

Run:  python tests/benchmarks/bench_evaluate.py [--runs 7] [--steps 45]
Last line of stdout: a JSON object with the figures (seconds).
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

from graph.project import load  # noqa: E402
from runtime.train import Trainer  # noqa: E402
from runtime.weights import save_weights  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--steps", type=int, default=45)
    args = ap.parse_args()
    p = load(ROOT / "templates" / "cnn.json")
    trainer = Trainer(p, max_steps=args.steps)
    last = list(trainer.run())[-1]
    if last.kind != "finished":
        raise SystemExit(f"training failed: {last}")
    with tempfile.TemporaryDirectory() as d:
        w = Path(d) / "cnn.safetensors"
        save_weights(trainer.model, w)
        from runtime.evaluate import evaluate
        from runtime.evaluate.html import page
        t = time.perf_counter()
        ev = evaluate(p, ROOT / "templates", w)
        cold = time.perf_counter() - t
        times, html_times = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            ev = evaluate(p, ROOT / "templates", w)
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            page(ev)
            html_times.append(time.perf_counter() - t)
    res = {"template": "cnn", "samples": ev.figures["samples"],
           "accuracy": round(ev.figures["accuracy"], 4),
           "first_call_s": round(cold, 3), "evaluate_median_s": round(statistics.median(times), 3),
           "evaluate_max_s": round(max(times), 3),
           "html_median_s": round(statistics.median(html_times), 3), "runs": args.runs,
           "under_2_s": statistics.median(times) < 2.0}
    print(f"cnn evaluation: first {cold:.3f} s, then median {res['evaluate_median_s']} s "
          f"(max {res['evaluate_max_s']} s) over {args.runs}; HTML page "
          f"{res['html_median_s']} s")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
