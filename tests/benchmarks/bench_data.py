"""Data at scale (issue 27, 'Done means'): a generated folder of --count 128 × 128 JPEG images
(default 50,000, in 10 classes, under /tmp), and the cnn template with its Input set to
3 × 128 × 128, trained on the CPU for --steps steps of batch --batch. Each mode runs in its own
child process (this file with --child), so its memory is its own:

- peak memory of a streamed run (2 workers): the largest resident set of the training process
  and of its DataLoader workers (resource.getrusage max RSS of the process, and of its waited-
  for children), and the largest sum of the process's and its workers' VmRSS sampled every
  0.1 s from /proc (an upper bound: pages shared with the workers are counted in each);
  target < 1.5 GB. The folder (50,000 × 3 × 128 × 128 floats: 9.2 GiB) cannot be in memory.
- images/s of streaming (2 workers) against the in-memory path (streaming 'off': decoded once
  before the run) on a part of the folder that fits memory (limit_per_class = --fit per class);
- the data-wait fraction (the Step events' data_wait: the share of each step waiting for its
  batch) of a streamed run of the whole folder with 0, 1 and 2 workers.

samples/s and data_wait: the median / mean over the Step events (the first window left out:
warm-up). The runs stop after their last step's event: the final evaluation over every
sample of both splits (minutes at 50,000 images on 2 cores) is not part of what is measured;
wall_s is loading and the steps.

Run:  python tests/benchmarks/bench_data.py [--count N] [--steps S] [--batch B] [--fit K]
      [--folder DIR] (an existing folder of the same count is reused)

The last line of stdout is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LAYERLOOM_HOME", tempfile.mkdtemp())

SIDE = 128
MODES = {"stream_w2_memory": {"streaming": "on", "workers": 2},
         "fit_memory": {"streaming": "off", "workers": 0, "fit": True},
         "fit_stream_w2": {"streaming": "on", "workers": 2, "fit": True},
         "stream_w0": {"streaming": "on", "workers": 0},
         "stream_w1": {"streaming": "on", "workers": 1}}


def make_folder(root: Path, n: int) -> None:
    """n JPEGs, 128 × 128, in c0..c9: a class colour, a smooth random pattern and noise."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for k in range(10):
        (root / f"c{k}").mkdir(parents=True, exist_ok=True)
    colours = rng.integers(40, 216, (10, 3))
    for i in range(n):
        k = i % 10
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        a = np.asarray(Image.fromarray(small).resize((SIDE, SIDE), Image.BILINEAR), np.int16)
        a = (a // 2 + colours[k] // 2 + rng.integers(-8, 9, (SIDE, SIDE, 3))).clip(0, 255)
        Image.fromarray(a.astype(np.uint8)).save(root / f"c{k}" / f"{i}.jpg", quality=90)
    (root / ".count").write_text(str(n))


def _pss_kb(pid: int) -> int:
    """The process's proportional set size: its pages, shared ones divided among sharers."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(c) for t in os.listdir(f"/proc/{p}/task")
                    for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def child(cfg: dict) -> None:
    import torch

    from graph.project import load
    from graph.settings import DataSettings
    from runtime.train import Trainer
    torch.set_num_threads(cfg["threads"])
    peak = {"sum_kb": 0}
    done = threading.Event()

    def sample():
        me = os.getpid()
        while not done.wait(0.1):
            peak["sum_kb"] = max(peak["sum_kb"],
                                 sum(_pss_kb(p) for p in [me, *_descendants(me)]))
    threading.Thread(target=sample, daemon=True).start()
    mode = cfg["mode"]
    p = load(ROOT / "templates" / "cnn.json")
    p.graph.set_param("image", "shape", [3, SIDE, SIDE])
    opts = {"path": cfg["folder"], "channels": 3, "height": SIDE, "width": SIDE,
            "streaming": mode["streaming"]}
    if mode.get("fit"):
        opts["limit_per_class"] = cfg["fit"]
    p.data = DataSettings(dataset="images", options=opts, bind={"image": "x", "label": "y"},
                          workers=mode["workers"])
    p.training.batch_size = cfg["batch"]
    p.training.epochs = 1000
    t0 = time.perf_counter()
    t = Trainer(p, device="cpu", max_steps=cfg["steps"], log_every=5)
    events = []
    run = t.run()
    for e in run:  # the training steps only: the run's final evaluation reads every sample
        events.append(e)
        if e.kind in ("failed", "stopped") or (e.kind == "step" and e.step >= cfg["steps"]):
            break
    run.close()  # the DataLoaders' workers end
    wall = time.perf_counter() - t0
    if events[-1].kind != "step":
        raise SystemExit(f"the run did not reach step {cfg['steps']}: {events[-1]}")
    st = [e for e in events if e.kind == "step"][1:]
    del t, events
    import gc
    gc.collect()
    done.set()
    mb = 1 / 1024  # ru_maxrss is in KiB on Linux
    print(json.dumps({
        "images_per_s": round(statistics.median(e.samples_per_s for e in st), 1),
        "data_wait": round(statistics.mean(e.data_wait for e in st), 3),
        "wall_s": round(wall, 1),
        "maxrss_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * mb),
        "maxrss_workers_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * mb),
        "peak_sum_pss_mb": round(peak["sum_kb"] * mb)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50000)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--fit", type=int, default=200, help="images per class of the in-memory set")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--folder", default="")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--child", default="")
    args = ap.parse_args()
    if args.child:
        return child(json.loads(args.child))
    root = Path(args.folder or f"/tmp/layerloom_bench_data_{args.count}")
    out: dict = {"count": args.count, "side": SIDE, "steps": args.steps, "batch": args.batch,
                 "fit_images": 10 * args.fit, "threads": args.threads, 
                 "cpus": os.cpu_count()}
    count = root / ".count"
    if not (count.exists() and count.read_text() == str(args.count)):
        t = time.perf_counter()
        make_folder(root, args.count)
        out["make_folder_s"] = round(time.perf_counter() - t, 1)
    out["folder_mb"] = round(sum(f.stat().st_size for f in root.rglob("*.jpg")) / 2 ** 20)
    for name in args.modes.split(","):
        cfg = {"mode": MODES[name], "folder": str(root), "steps": args.steps,
               "batch": args.batch, "fit": args.fit, "threads": args.threads}
        r = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)],
                           capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            out[name] = {"error": r.stderr.strip().splitlines()[-1:]}
        else:
            out[name] = json.loads(r.stdout.strip().splitlines()[-1])
        print(name, out[name], flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
