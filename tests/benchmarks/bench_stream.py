"""Streaming data (issue 27 item 1): the cnn template (its Input set to 3 × 32 × 32) on a
generated folder of --images 32 × 32 PNG images in 10 classes, trained for --steps steps of
batch --batch, with the data in memory (streaming 'off': decoded once, before the run) and
streamed (decoded per sample through DataLoader) with 0 and 2 workers, and with the cache.

Figures per mode: samples/s of the training steps (the median of the Step events' rates,
the first window left out: warm-up), the mean data-wait share (Step.data_wait), and the whole
run's wall time (loading, training, the final evaluation over both splits). With --noisy, the
same again beside a `yes > /dev/null` process (a noisy neighbour taking a core).

Run:  python tests/benchmarks/bench_stream.py [--images N] [--steps S] [--batch B]
      [--threads T] [--noisy]

The last line of stdout is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LAYERLOOM_HOME", tempfile.mkdtemp())

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from graph.project import load  # noqa: E402
from graph.settings import DataSettings  # noqa: E402
from runtime.train import Trainer  # noqa: E402

MODES = {"memory": {"streaming": "off"},
         "stream_w0": {"streaming": "on", "workers": 0},
         "stream_w2": {"streaming": "on", "workers": 2},
         "stream_w2_cache": {"streaming": "on", "workers": 2, "cache": True}}


def make_folder(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for k in range(10):
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(a).save(root / f"c{i % 10}" / f"{i}.png")


def run(root: Path, mode: dict, steps: int, batch: int) -> dict:
    p = load(ROOT / "templates" / "cnn.json")
    p.graph.set_param("image", "shape", [3, 32, 32])
    opts = {"path": str(root), "channels": 3, "height": 32, "width": 32,
            "streaming": mode["streaming"]}
    p.data = DataSettings(dataset="images", options=opts, bind={"image": "x", "label": "y"},
                          **{k: v for k, v in mode.items() if k != "streaming"})
    p.training.batch_size = batch
    p.training.epochs = 100
    t0 = time.perf_counter()
    events = list(Trainer(p, device="cpu", max_steps=steps, log_every=10).run())
    wall = time.perf_counter() - t0
    if events[-1].kind != "finished":
        raise SystemExit(f"the run did not finish: {events[-1]}")
    st = [e for e in events if e.kind == "step"][1:]
    return {"samples_per_s": round(statistics.median(e.samples_per_s for e in st), 1),
            "data_wait": round(statistics.mean(e.data_wait for e in st), 3),
            "wall_s": round(wall, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--noisy", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out: dict = {"images": args.images, "steps": args.steps, "batch": args.batch,
                 "threads": args.threads, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "imgs"
        t = time.perf_counter()
        make_folder(root, args.images)
        out["make_folder_s"] = round(time.perf_counter() - t, 1)
        for quiet in ([True, False] if args.noisy else [True]):
            noise = None if quiet else subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
            try:
                for name, mode in MODES.items():
                    res = run(root, mode, args.steps, args.batch)
                    out[name if quiet else f"{name}_noisy"] = res
                    print(name, "" if quiet else "(noisy)", res, flush=True)
            finally:
                if noise is not None:
                    noise.terminate()
                    noise.wait()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
