"""The live plots at scale: one refresh + repaint with 1,000, 10,000 and 100,000 steps of
history (every step logged, a gradient sample per step for 3 layers, 200 epochs).
Target: the 100,000-step repaint costs about what a short run's does (downsampling and
clip-to-view), so a long run does not slow the window (or, through it, the training).

Run:  QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_plots.py
Last line of stdout: a JSON object with the median ms per size.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from app.plotdata import LiveData  # noqa: E402
from app.plots import LivePlots  # noqa: E402
from runtime.events import EpochEnd, GradStats, Started, Step  # noqa: E402


def filled(n: int) -> LiveData:
    d = LiveData()
    d.feed(Started("cpu", "CPU", 200, n // 200, n + 1000, 1, 0, 1, ["conv1", "conv2", "dense"],
                   "supervised", 1))
    for s in range(1, n + 1):
        d.feed(Step(s, 1, 1.0 / (1 + s * 1e-3) + 0.05 * ((s * 7919) % 13) / 13, 0.005, 1.0))
        d.feed(GradStats(s, {"conv1": 0.5 + (s % 17) / 40, "conv2": 0.3, "dense": 0.2}))
        if s % max(n // 200, 1) == 0:
            d.feed(EpochEnd(s // max(n // 200, 1), s, {"loss": 0.1, "accuracy": 0.9,
                                                        "val_loss": 0.2, "val_accuracy": 0.88}, 1))
    return d


def main():
    app = QApplication.instance() or QApplication([])
    out = {}
    for n in (1_000, 10_000, 100_000):
        d = filled(n)
        p = LivePlots(d)
        p.resize(1500, 330)
        p.show()
        app.processEvents()
        p.refresh()
        times = []
        step = n
        for _ in range(30):  # the run goes on: 10 new steps per frame, as at ~10 Hz
            for _ in range(10):
                step += 1
                d.feed(Step(step, 1, 0.1, 0.005, 1.0))
                d.feed(GradStats(step, {"conv1": 0.5, "conv2": 0.3, "dense": 0.2}))
            t = time.perf_counter()
            p.refresh()
            p.view.viewport().repaint()
            times.append((time.perf_counter() - t) * 1e3)
        out[f"refresh_ms_{n}"] = round(statistics.median(times), 2)
        print(f"{n:>7} steps of history: refresh + full repaint median "
              f"{statistics.median(times):.2f} ms (max {max(times):.2f})")
        p.close()
    out["ratio_100k_vs_1k"] = round(out["refresh_ms_100000"] / out["refresh_ms_1000"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
