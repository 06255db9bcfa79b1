"""What kornia's augmentation costs per training batch (runtime/augment.py), against the
training step of the cnn template: (1) the augmenter alone per batch, each transform and all
together, on the cnn's 1 × 8 × 8 digits and on 3 × 32 × 32 / 3 × 64 × 64 images; (2) whole
training runs of the cnn template with and without augmentation, alternating in one process,
medians (the machine is shared: see ../shared/NOTES-ENV.md).

Run:  python tests/benchmarks/bench_augment.py [--runs 5] [--epochs 3] [--threads 1]
Last line of stdout: a JSON object with the figures (milliseconds, samples/s).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from graph.project import load  # noqa: E402
from graph.settings import AugmentSettings  # noqa: E402
from runtime.augment import Augmenter  # noqa: E402
from runtime.train import Trainer  # noqa: E402

ALL = dict(random_resized_crop={"scale": [0.7, 1.0]}, hflip=0.5, rotation=10,
           brightness=0.2, contrast=0.2)
EACH = {"crop": dict(random_resized_crop={"scale": [0.7, 1.0]}), "hflip": dict(hflip=0.5),
        "rotation": dict(rotation=10), "colour": dict(brightness=0.2, contrast=0.2),
        "all": ALL}


def per_batch_ms(settings: dict, shape, repeats: int, device: str = "cpu") -> float:
    x = torch.rand(*shape, device=device)
    aug = Augmenter(AugmentSettings(**settings), [0], [tuple(shape[-2:])], seed=0)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        aug([x])
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        aug([x])
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def run(epochs: int, augment: dict | None, device: str = "cpu"):
    p = load(ROOT / "templates" / "cnn.json")
    p.training.epochs = epochs
    if augment:
        p.data.augment = AugmentSettings(**augment)
    t0 = time.perf_counter()
    events = list(Trainer(p, device=device).run())
    fin = events[-1]
    if fin.kind != "finished":
        raise SystemExit(f"the run did not finish: {fin}")
    return fin, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--device", default="cpu", help="where the per-batch figures are taken "
                    "(cuda on a GPU machine); the template runs follow the project's device")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out: dict = {"threads": args.threads, "runs": args.runs, "epochs": args.epochs,
                 "device": args.device, "kornia": __import__("kornia").__version__}
    for shape in ((32, 1, 8, 8), (128, 3, 32, 32), (32, 3, 64, 64)):
        key = "x".join(map(str, shape))
        for name, s in EACH.items():
            ms = per_batch_ms(s, shape, args.repeats, args.device)
            out[f"ms_{name}_{key}"] = round(ms, 3)
            print(f"batch {key}: {name:8s} {ms:7.2f} ms")
    rates = {"plain": [], "augmented": []}
    steps = None
    for r in range(args.runs):
        for which in (("plain", "augmented") if r % 2 == 0 else ("augmented", "plain")):
            fin, _ = run(args.epochs, ALL if which == "augmented" else None, args.device)
            rates[which].append(fin.samples_per_s)
            steps = fin.step
    plain, aug = (statistics.median(rates[k]) for k in ("plain", "augmented"))
    batch = 32
    step_ms_plain, step_ms_aug = batch / plain * 1000, batch / aug * 1000
    print(f"cnn template, {steps} steps: plain {plain:,.0f} samples/s "
          f"({step_ms_plain:.2f} ms/step), augmented {aug:,.0f} samples/s "
          f"({step_ms_aug:.2f} ms/step): x{aug / plain:.3f}")
    out.update(cnn_samples_per_s_plain=round(plain), cnn_samples_per_s_augmented=round(aug),
               cnn_step_ms_plain=round(step_ms_plain, 3), cnn_step_ms_augmented=round(
                   step_ms_aug, 3), cnn_speed_ratio=round(aug / plain, 3))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
