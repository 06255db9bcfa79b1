"""COCO detection data streamed against loaded whole (issue 27): a generated COCO set of
--count JPEG pictures (--side pixels a side, 1-3 coloured shapes each, under /tmp) and the
fast_rcnn template with its Input set to 3 × side × side and 100 selective-search proposals
per image, trained one epoch on the CPU (batch --batch) with its validation mAP. Each run is
its own child process (this file with --child), so its memory is its own:

- memory: in memory (streaming 'off': every picture decoded before the run), streamed with 0
  workers (read in the training process) and with 1 worker (a DataLoader worker process);
- images/s: the median of the Step events' samples/s (the first left out: warm-up);
- peak memory: the process's max RSS (resource.getrusage), its waited-for children's max RSS,
  and the largest sum of the process's and its workers' Pss sampled every 0.1 s from /proc;
- wall_s: loading, the epoch's steps and its validation (the mAP over the validation split,
  batch by batch when streamed), and the run's final evaluation.

The proposals are searched once per mode before the timed runs (their cache, beside the
annotations, is then read by every run). Modes alternate, --repeat times; the medians are
reported with the ratio streamed / in memory, measured in this one invocation.

Run:  python tests/benchmarks/bench_coco_stream.py [--count N] [--side S] [--batch B]
      [--repeat R] [--threads T]

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

from tests.benchmarks.bench_data import _descendants, _pss_kb  # noqa: E402

MODES = {"memory": {"streaming": "off", "workers": 0},
         "stream_w0": {"streaming": "on", "workers": 0},
         "stream_w1": {"streaming": "on", "workers": 1}}


def make_coco(root: Path, n: int, side: int) -> None:
    """n JPEGs of side × side with 1-3 squares or discs each, and ann.json."""
    import numpy as np
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(0)
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        pic = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 80, 3)))
        draw = ImageDraw.Draw(pic)
        for _ in range(1 + i % 3):
            s = int(rng.integers(side // 6, side // 3))
            x, y = (int(v) for v in rng.integers(0, side - s, 2))
            disc = bool(rng.integers(0, 2))
            (draw.ellipse if disc else draw.rectangle)(
                [x, y, x + s - 1, y + s - 1], (230, 50, 40) if disc else (40, 210, 70))
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": 2 if disc else 1, "bbox": [x, y, s, s]})
        pic.save(root / "imgs" / f"{i}.jpg", quality=90)
        images.append({"id": i + 1, "file_name": f"{i}.jpg", "width": side, "height": side})
    (root / "ann.json").write_text(json.dumps({
        "images": images, "annotations": anns,
        "categories": [{"id": 1, "name": "square"}, {"id": 2, "name": "disc"}]}))
    (root / ".count").write_text(f"{n} {side}")


def project(cfg: dict, mode: dict):
    from graph.project import load
    from graph.settings import DataSettings
    p = load(ROOT / "templates" / "fast_rcnn.json")
    side = cfg["side"]
    p.graph.set_param("image", "shape", [3, side, side])
    opts = {"path": str(Path(cfg["folder"]) / "ann.json"), "images": "imgs", "height": side,
            "width": side, "proposals": 100, "proposal_scale": 1.0, "max_objects": 4,
            "streaming": mode["streaming"]}
    p.data = DataSettings(dataset="coco", options=opts, bind=dict(p.data.bind),
                          workers=mode["workers"])
    p.training.batch_size = cfg["batch"]
    p.training.epochs = 1
    return p


def child(cfg: dict) -> None:
    import torch

    from runtime.train import Trainer
    torch.set_num_threads(cfg["threads"])
    mode = MODES[cfg["mode"]]
    if cfg.get("warm"):  # the proposals searched and cached, nothing else
        from runtime.data import load_dataset
        p = project(cfg, mode)
        load_dataset("coco", p.data.options, p.training.seed, None)
        print(json.dumps({"warm": True}))
        return
    peak = {"sum_kb": 0}
    done = threading.Event()

    def sample():
        me = os.getpid()
        while not done.wait(0.1):
            peak["sum_kb"] = max(peak["sum_kb"],
                                 sum(_pss_kb(p) for p in [me, *_descendants(me)]))
    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    events = list(Trainer(project(cfg, mode), device="cpu", log_every=2).run())
    wall = time.perf_counter() - t0
    done.set()
    if events[-1].kind != "finished":
        raise SystemExit(f"the run did not finish: {events[-1]}")
    st = [e for e in events if e.kind == "step"][1:]
    ends = [e for e in events if e.kind == "epochend"]
    mb = 1 / 1024  # ru_maxrss is in KiB on Linux
    print(json.dumps({
        "images_per_s": round(statistics.median(e.samples_per_s for e in st), 1),
        "wall_s": round(wall, 1),
        "val_map50": round(ends[-1].metrics.get("val_map50", float("nan")), 4),
        "maxrss_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * mb),
        "maxrss_workers_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * mb),
        "peak_sum_pss_mb": round(peak["sum_kb"] * mb)}))


def _run(cfg: dict) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)],
                       capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--side", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--child", default="")
    args = ap.parse_args()
    if args.child:
        return child(json.loads(args.child))
    root = Path(f"/tmp/layerloom_bench_coco_{args.count}_{args.side}")
    if not ((root / ".count").exists()
            and (root / ".count").read_text() == f"{args.count} {args.side}"):
        make_coco(root, args.count, args.side)
    base = {"folder": str(root), "side": args.side, "batch": args.batch,
            "threads": args.threads}
    modes = args.modes.split(",")
    out: dict = {"count": args.count, "side": args.side, "batch": args.batch,
                 "threads": args.threads, "cpus": os.cpu_count(), "repeat": args.repeat}
    for name in modes:
        t = time.perf_counter()
        _run({**base, "mode": name, "warm": True})
        out[f"proposals_{name}_s"] = round(time.perf_counter() - t, 1)
    runs: dict = {m: [] for m in modes}
    for rep in range(args.repeat):
        for name in modes:
            r = _run({**base, "mode": name})
            runs[name].append(r)
            print(rep, name, r, flush=True)
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            out[name] = rs[0]
            continue
        out[name] = {k: statistics.median(r[k] for r in ok) for k in ok[0]}
        out[name]["runs"] = len(ok)
    mem = out.get("memory", {})
    for name in modes:
        if name != "memory" and "images_per_s" in out[name] and "images_per_s" in mem:
            out[f"{name}_vs_memory"] = {
                k: round(out[name][k] / mem[k], 2) for k in
                ("images_per_s", "wall_s", "maxrss_process_mb", "peak_sum_pss_mb")}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
