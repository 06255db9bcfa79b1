"""The window's longest event-loop stall while torch loads in the background (app/warmup.py),
with the GIL-free preload of libtorch_cpu and without it (the reference), each in a fresh
process. Target: no stall over 100 ms.

Run:  python tests/benchmarks/bench_warmup_stall.py [--runs 5]
Last line of stdout: a JSON object with the median longest stall of each.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import app.warmup as w
if sys.argv[2] == "off":
    w._preload_libtorch = lambda: False
qapp = QApplication([])
gaps, last = [], [time.perf_counter()]
def tick():
    now = time.perf_counter(); gaps.append(now - last[0]); last[0] = now
probe = QTimer(interval=10); probe.timeout.connect(tick); probe.start()
QTimer.singleShot(200, w.warmup().start)
w.warmup().ready.connect(lambda: QTimer.singleShot(300, qapp.quit))
qapp.exec()
print(max(gaps) * 1e3)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    res = {"on": [], "off": []}
    for r in range(args.runs):
        for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), mode], check=True,
                                 capture_output=True, text=True).stdout
            res[mode].append(float(out.strip().splitlines()[-1]))
        print(f"run {r + 1}: longest stall with preload {res['on'][-1]:.0f} ms, "
              f"without {res['off'][-1]:.0f} ms")
    print(json.dumps({"runs": args.runs,
                      "stall_ms_with_preload": round(statistics.median(res["on"]), 1),
                      "stall_ms_without_preload": round(statistics.median(res["off"]), 1)}))


if __name__ == "__main__":
    main()
