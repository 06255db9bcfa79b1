"""Object detection (issue 13), measured: the rcnn and fast_rcnn templates trained in-process
with runtime.train.Trainer as `layerloom train` runs them, on the CPU, from an empty
proposal cache (so the time includes generating the data and selective search); then both
trained detectors run at inference on the same held-out images with the same proposals.

The seed's claim: Fast R-CNN is faster than R-CNN because it shares one feature map among
all proposals (R-CNN runs its CNN once per warped region). Reported: images per second of
each model (batches of 16, median of --repeats passes over the held-out images), their
ratio, and the same with selective search's time per image added (what a user waits for
from a new image).

Issue 14 adds two parts. --part faster: fast_rcnn and faster_rcnn trained the same way;
images per second at inference, Fast R-CNN with selective search's time added (its
proposals come from outside), Faster R-CNN's RPN inside the model (the seed's "eliminating
the need for external region proposal methods"). --part masks: mask_rcnn trained twice on
the same data, seed and budget, once as shipped (RoIAlign for the box and mask heads) and
once with both swapped for RoI pooling: box and mask mAP, mask IoU (the seed's point: RoIPool's
quantisation costs the masks most).

With --noisy, another process burns one core the whole time (the shared-machine case).

Run:  python tests/benchmarks/bench_detection.py [--part rcnn|faster|masks] [--seed 0]
      [--repeats 5] [--noisy]
Last line of stdout (rcnn): {"rcnn": {"seconds", "map50", "map", "images_per_s",
"images_per_s_with_proposals"}, "fast_rcnn": {…}, "fast_over_rcnn",
"fast_over_rcnn_with_proposals", "proposal_ms_per_image", "val_images", "threads", "noisy",
"machine", "date"}; (faster) {"fast_rcnn": {…}, "faster_rcnn": {…, "images_per_s"},
"faster_over_fast_with_proposals", …}; (masks) {"roi_align": {"seconds", "map50", "map",
"mask_map50", "mask_map", "mask_iou"}, "roi_pool": {…}, …}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runtime.cpu import mark, training_threads  # noqa: E402  (no torch: mark before it loads)

_STARTED = mark()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from graph.project import load  # noqa: E402
from runtime.events import Failed, Finished  # noqa: E402
from runtime.train import Trainer, split  # noqa: E402
from tests.benchmarks.bench_gan import _burn  # noqa: E402  (the noisy neighbour)


def train(name: str, seed: int, project=None):
    p = project if project is not None else load(ROOT / "templates" / f"{name}.json")
    p.training.seed, p.training.device = seed, "cpu"
    with tempfile.TemporaryDirectory() as cache:  # nothing cached: proposals computed
        os.environ["LAYERLOOM_CACHE"] = cache
        t0 = time.perf_counter()
        trainer = Trainer(p)
        last = None
        for ev in trainer.run():
            last = ev
        seconds = time.perf_counter() - t0
    if isinstance(last, Failed):
        raise SystemExit(f"{name}: training failed: {last.message}")
    assert isinstance(last, Finished), last
    return trainer, last, seconds


def images_per_s(trainer, images, proposals, repeats: int, batch: int = 16) -> float:
    """Images per second of the trained model; `proposals` None: a model of the image alone
    (Faster R-CNN's RPN proposes inside it)."""
    model = trainer.compiled.model.eval()
    ins = [images] if proposals is None else [images, proposals]
    times = []
    with torch.no_grad():
        model(*(x[:batch] for x in ins))  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, len(images), batch):
                model(*(x[i:i + batch] for x in ins))
            times.append(time.perf_counter() - t0)
    return len(images) / statistics.median(times)


def _trained(out: dict, name: str, seed: int, project=None, keys=("map50", "map")):
    trainer, fin, secs = train(name, seed, project)
    out[name] = {"seconds": round(secs, 1), "steps": fin.step,
                 **{k: round(fin.metrics[f"val_{k}"], 4) for k in keys}}
    print(f"{name}: trained in {secs:.1f} s (data and proposals included): "
          + ", ".join(f"{k} {fin.metrics[f'val_{k}']:.3f}" for k in keys), flush=True)
    return trainer


def part_faster(out: dict, seed: int, repeats: int) -> None:
    fast = _trained(out, "fast_rcnn", seed)
    faster = _trained(out, "faster_rcnn", seed)
    s = fast.project.training
    val_idx, _ = split(len(fast.dataset), s.seed, s.val_split, fast.dataset.name)
    images = fast.dataset.fields["image"][val_idx]
    proposals = fast.dataset.fields["proposals"][val_idx]
    ms = proposal_ms(images.numpy())
    ips = images_per_s(fast, images, proposals, repeats)
    out["fast_rcnn"]["images_per_s"] = round(ips, 1)
    out["fast_rcnn"]["images_per_s_with_proposals"] = round(1 / (1 / ips + ms / 1000), 1)
    out["faster_rcnn"]["images_per_s"] = round(images_per_s(faster, images, None, repeats), 1)
    out["faster_over_fast_with_proposals"] = round(
        out["faster_rcnn"]["images_per_s"] / out["fast_rcnn"]["images_per_s_with_proposals"], 2)
    out["faster_over_fast_model_only"] = round(
        out["faster_rcnn"]["images_per_s"] / out["fast_rcnn"]["images_per_s"], 2)
    out["proposal_ms_per_image"] = round(ms, 2)
    out["val_images"] = len(images)
    print(f"fast_rcnn: {ips:.1f} images/s, {out['fast_rcnn']['images_per_s_with_proposals']}"
          f" with selective search ({ms:.1f} ms per image); faster_rcnn: "
          f"{out['faster_rcnn']['images_per_s']} images/s, proposals included: "
          f"{out['faster_over_fast_with_proposals']}x", flush=True)


def part_masks(out: dict, seed: int) -> None:
    from tools.make_detection_templates import mask_rcnn
    keys = ("map50", "map", "mask_map50", "mask_map", "mask_iou")
    for label, pool in (("roi_align", "RoIAlign"), ("roi_pool", "RoIPool")):
        _trained(out, "mask_rcnn", seed, mask_rcnn(pool), keys)
        out[label] = out.pop("mask_rcnn")
    out["mask_map50_align_minus_pool"] = round(out["roi_align"]["mask_map50"]
                                               - out["roi_pool"]["mask_map50"], 4)
    out["mask_map_align_minus_pool"] = round(out["roi_align"]["mask_map"]
                                             - out["roi_pool"]["mask_map"], 4)


def proposal_ms(images: np.ndarray, count: int = 60) -> float:
    """Selective search's time per image, as the data step runs it (fast mode, images
    enlarged 2×), one image at a time on one thread: what a new image costs."""
    from runtime.detection.proposals import selective_search
    import cv2
    cv2.setNumThreads(1)
    u8 = (np.clip(images[:count], 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)
    t0 = time.perf_counter()
    for im in u8:
        selective_search(im, "fast", 2.0)
    return (time.perf_counter() - t0) / len(u8) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("rcnn", "faster", "masks"), default="rcnn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--noisy", action="store_true")
    args = ap.parse_args()
    burner = None
    since = _STARTED
    if args.noisy:  # the neighbour first: the threads are picked as `layerloom train` would
        burner = mp.get_context("spawn").Process(target=_burn, daemon=True)
        burner.start()
        time.sleep(2.0)
        since = mark()
        time.sleep(1.0)
    threads = training_threads(since)
    torch.set_num_threads(threads)
    out: dict = {"part": args.part}
    try:
        if args.part == "faster":
            part_faster(out, args.seed, args.repeats)
        elif args.part == "masks":
            part_masks(out, args.seed)
        else:
            part_rcnn(out, args.seed, args.repeats)
    finally:
        if burner is not None:
            burner.terminate()
    out.update({"threads": threads, "noisy": args.noisy, "machine": platform.node(),
                "date": datetime.date.today().isoformat()})
    print(json.dumps(out))


def part_rcnn(out: dict, seed: int, repeats: int) -> None:
    trained = {name: _trained(out, name, seed) for name in ("rcnn", "fast_rcnn")}
    t = trained["fast_rcnn"]
    s = t.project.training
    val_idx, _ = split(len(t.dataset), s.seed, s.val_split, t.dataset.name)
    images = t.dataset.fields["image"][val_idx]
    proposals = t.dataset.fields["proposals"][val_idx]
    ms = proposal_ms(images.numpy())
    for name, trainer in trained.items():
        ips = images_per_s(trainer, images, proposals, repeats)
        out[name]["images_per_s"] = round(ips, 1)
        out[name]["images_per_s_with_proposals"] = round(1 / (1 / ips + ms / 1000), 1)
        print(f"{name}: {ips:.1f} images/s at inference ({len(images)} held-out images, "
              f"{int((proposals[..., 2] > 0).sum()) / len(images):.1f} proposals each); "
              f"{out[name]['images_per_s_with_proposals']:.1f} with selective search "
              f"({ms:.1f} ms per image)", flush=True)
    out["fast_over_rcnn"] = round(out["fast_rcnn"]["images_per_s"]
                                  / out["rcnn"]["images_per_s"], 2)
    out["fast_over_rcnn_with_proposals"] = round(
        out["fast_rcnn"]["images_per_s_with_proposals"]
        / out["rcnn"]["images_per_s_with_proposals"], 2)
    out["proposal_ms_per_image"] = round(ms, 2)
    out["val_images"] = len(images)
    print(f"Fast R-CNN / R-CNN at inference: {out['fast_over_rcnn']}x "
          f"({out['fast_over_rcnn_with_proposals']}x with selective search)", flush=True)

if __name__ == "__main__":
    main()
