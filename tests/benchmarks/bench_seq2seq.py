"""Context vector versus attention (issue 11), measured: the encoder_decoder template (a GRU
encoder whose last state h_T is the one context vector c, a GRU decoder) and the
attention_seq2seq template (a bidirectional GRU encoder, attention over all its states)
trained with the same budget (epochs, samples, seed, learning rate, batch size) in-process
with runtime.train.Trainer, as the Train button runs them.

1. dates: both train on the dates dataset; then each model's greedy decoding (the inference
   model, model.eval(), no_grad) is scored by exact match on a fresh held-out set made with
   another seed, bucketed by the source length in characters: the seed's 'limitations when
   handling long sequences' of one fixed context vector, on the real task.
2. reverse: the same two architectures, their vocabulary and decoding length adjusted, on
   string reversal (the decoder's first output is the encoder's last input) at growing
   lengths: val exact match of each per max_len.

Run:  python tests/benchmarks/bench_seq2seq.py [--n-samples N] [--epochs E]
          [--reverse-lengths 8,16,24] [--reverse-samples N] [--reverse-epochs E]
Last line of stdout: {"dates": {"budget", "encoder_decoder": {"val_exact_match", "seconds",
"heldout_exact_match", "by_length"}, "attention_seq2seq": {...}}, "reverse": {"8":
{"encoder_decoder": {...}, "attention_seq2seq": {...}}, ...}, "machine", "date"}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runtime.cpu import mark, training_threads  # noqa: E402  (no torch: mark before it loads)

_STARTED = mark()

import torch  # noqa: E402

from graph.project import load  # noqa: E402
from runtime.data import load_dataset  # noqa: E402
from runtime.events import Failed, Finished  # noqa: E402
from runtime.metrics import exact_match  # noqa: E402
from runtime.data.seq2seq import END_ID, PAD_ID  # noqa: E402
from runtime.train import Trainer  # noqa: E402

MODELS = ("encoder_decoder", "attention_seq2seq")
# Source length in characters (the non-pad tokens of x).
BUCKETS = (("<=10", 0, 10), ("11-15", 11, 15), ("16-20", 16, 20), ("21-25", 21, 25),
           (">=26", 26, 10**9))
HELDOUT_SEED = 12345


def configured(name: str, args, dataset: str, options: dict, epochs: int):
    p = load(ROOT / "templates" / f"{name}.json")
    s = p.training
    s.epochs, s.seed, s.device = epochs, args.seed, "cpu"
    if args.lr is not None:
        s.lr = args.lr
    if args.batch_size is not None:
        s.batch_size = args.batch_size
    p.data.dataset = dataset
    p.data.options = dict(options)
    return p


def train(p) -> tuple[Finished, torch.nn.Module]:
    trainer = Trainer(p, device="cpu")
    last = None
    for ev in trainer.run():
        last = ev
    if isinstance(last, Failed):
        raise SystemExit(f"{p.name}: training failed: {last.message}")
    assert isinstance(last, Finished), last
    return last, trainer.compiled.model


def decode_all(model, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            outs.append(model(x[i:i + batch]))
    return torch.cat(outs)


def fit_width(x: torch.Tensor, width: int) -> torch.Tensor:
    """x padded (or cut, where only padding is cut) to `width` columns: the encoder without
    attention reads the padding too, so held-out rows get the training data's padded width."""
    if x.shape[1] < width:
        return torch.cat([x, x.new_full((x.shape[0], width - x.shape[1]), PAD_ID)], 1)
    if x.shape[1] > width:
        assert (x[:, width:] == PAD_ID).all(), "a held-out date is longer than any in training"
        return x[:, :width]
    return x


def run_dates(args) -> dict:
    options = {"n_samples": args.n_samples}
    budget = {"n_samples": args.n_samples, "epochs": args.epochs, "seed": args.seed}
    train_width = load_dataset("dates", options, args.seed).fields["x"].shape[1]
    held = load_dataset("dates", {"n_samples": args.heldout}, HELDOUT_SEED)
    hx, hy = fit_width(held.fields["x"], train_width), held.fields["y"]
    lengths = (hx != PAD_ID).sum(1)
    counts = {label: int(((lengths >= lo) & (lengths <= hi)).sum()) for label, lo, hi in BUCKETS}
    print(f"dates: {args.n_samples:,} samples, {args.epochs} epochs, seed {args.seed}; held-out "
          f"{args.heldout:,} dates (seed {HELDOUT_SEED}), per source length {counts}",
          flush=True)
    out = {}
    for name in MODELS:
        p = configured(name, args, "dates", options, args.epochs)
        budget.update(lr=p.training.lr, batch_size=p.training.batch_size)
        fin, model = train(p)
        got = decode_all(model, hx)
        by_length = {}
        for label, lo, hi in BUCKETS:
            rows = (lengths >= lo) & (lengths <= hi)
            by_length[label] = (round(exact_match(got[rows], hy[rows], END_ID, PAD_ID), 4)
                                if rows.any() else None)
        res = {"val_exact_match": round(fin.metrics["val_exact_match"], 4),
               "heldout_exact_match": round(exact_match(got, hy, END_ID, PAD_ID), 4),
               "seconds": round(fin.seconds, 1), "by_length": by_length}
        out[name] = res
        print(f"  {name}: val exact match {res['val_exact_match']:.3f}, held-out "
              f"{res['heldout_exact_match']:.3f} in {res['seconds']:.1f} s; by source length "
              + ", ".join(f"{k} {'-' if v is None else f'{v:.3f}'}" for k, v in by_length.items()),
              flush=True)
    out["budget"] = budget
    out["heldout"] = {"n_samples": args.heldout, "seed": HELDOUT_SEED, "per_bucket": counts}
    return out


def run_reverse(args) -> dict:
    out = {}
    for max_len in args.reverse_lengths:
        options = {"n_samples": args.reverse_samples, "min_len": max(1, max_len // 2),
                   "max_len": max_len, "symbols": args.symbols}
        vocab = len(load_dataset("reverse", options, args.seed).vocab)
        row = {}
        for name in MODELS:
            p = configured(name, args, "reverse", options, args.reverse_epochs)
            p.data.bind = {"date": "x", "iso": "y"}
            g = p.graph
            for node in ("src_embed", "tgt_embed"):
                g.set_param(node, "num_embeddings", vocab)
            g.set_param("head", "out_features", vocab)
            g.set_param("decode", "max_len", max_len + 1)
            fin, _ = train(p)
            row[name] = {"val_exact_match": round(fin.metrics["val_exact_match"], 4),
                         "seconds": round(fin.seconds, 1)}
            print(f"reverse, {options['min_len']}-{max_len} symbols: {name}: val exact match "
                  f"{row[name]['val_exact_match']:.3f} in {row[name]['seconds']:.1f} s", flush=True)
        row["options"] = options
        out[str(max_len)] = row
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-samples", type=int, default=10000, help="dates: samples (default 10000)")
    ap.add_argument("--epochs", type=int, default=8, help="dates: epochs (default 8, the "
                    "encoder_decoder template's own; at 4 it is still at ~0.15 exact match)")
    ap.add_argument("--heldout", type=int, default=3000, help="dates: held-out dates")
    ap.add_argument("--reverse-lengths", type=lambda s: [int(v) for v in s.split(",")],
                    default=[8, 16, 24], help="reverse: max_len values (min_len = max_len // 2)")
    ap.add_argument("--reverse-samples", type=int, default=5000)
    ap.add_argument("--reverse-epochs", type=int, default=4)
    ap.add_argument("--symbols", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=None, help="both models (default: the "
                    "templates' 0.003)")
    ap.add_argument("--batch-size", type=int, default=None, help="both models (default: the "
                    "templates' 64)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: the idle cores, as `layerloom train` picks)")
    ap.add_argument("--skip-dates", action="store_true")
    ap.add_argument("--skip-reverse", action="store_true")
    args = ap.parse_args()
    threads = args.threads or training_threads(_STARTED)
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} thread(s) of {os.cpu_count()} cores", flush=True)
    t0 = time.perf_counter()
    summary = {}
    if not args.skip_dates:
        summary["dates"] = run_dates(args)
    if not args.skip_reverse:
        summary["reverse"] = run_reverse(args)
    summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
    summary["machine"] = {"platform": platform.platform(), "python": platform.python_version(),
                          "processor": platform.processor() or platform.machine(),
                          "cores": os.cpu_count(), "threads": threads,
                          "torch": torch.__version__}
    summary["date"] = datetime.date.today().isoformat()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
