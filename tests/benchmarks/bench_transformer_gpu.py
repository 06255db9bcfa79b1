"""The transformer template's training throughput, fp32 against bf16 autocast (issue 11, item
7): tokens per second and model FLOPs utilisation (MFU) on a GPU; on the CPU (--device cpu) the
tokens per second only.

The template's graph, widened with --d-model / --heads / --ff (defaults: a size a GPU can
fill; `--d-model 64 --heads 4 --ff 128` is the template as shipped), trained with the
app's Trainer for --steps optimizer steps after --warmup steps, once per precision, rounds
alternating. Tokens: source and target positions of every sample (padding included: what
the GPU computes). Model FLOPs per token: 6 × parameters (forward and backward of every
weight) plus the attention products, 12 × d_model × the other sequence's length per layer
and attention (QKᵀ and αV, forward and backward). MFU: those FLOPs per second over the
device's dense bf16 peak (H100 / H200 SXM: 989 TFLOP/s).

    python tests/benchmarks/bench_transformer_gpu.py [--device cuda] [--rounds 3]
Last line: a JSON object with each precision's median tokens/s and MFU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from graph.project import load  # noqa: E402
from runtime.train import Trainer  # noqa: E402

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def project(args, precision: str):
    p = load(ROOT / "templates" / "transformer.json")
    g = p.graph
    for n in g.nodes():
        t = g.node_type(n)
        if t == "Embedding":
            g.set_param(n, "embedding_dim", args.d_model)
        elif t == "MultiHeadAttention":
            g.set_param(n, "num_heads", args.heads)
        elif n.endswith("_ff1"):
            g.set_param(n, "out_features", args.ff)
        elif n.endswith("_ff2"):
            g.set_param(n, "out_features", args.d_model)
    p.training.device = args.device
    p.training.precision = precision
    p.training.batch_size = args.batch
    p.training.epochs = 1000
    p.data.options = {"n_samples": args.samples}
    return p


def one_run(args, precision: str) -> dict:
    p = project(args, precision)
    t = Trainer(p, max_steps=args.warmup + args.steps, log_every=1)
    marks = {}
    for ev in t.run():
        kind = type(ev).__name__
        if kind == "Step":
            if ev.step == args.warmup:
                if args.device == "cuda":
                    torch.cuda.synchronize()
                marks["t0"] = time.perf_counter()
            if ev.step == args.warmup + args.steps:
                if args.device == "cuda":
                    torch.cuda.synchronize()
                marks["t1"] = time.perf_counter()
        if kind == "Failed":
            raise SystemExit(f"training failed: {ev.message}")
    c = t.compiled
    n_params = sum(q.numel() for q in c.modules.parameters())
    from runtime.data import load_dataset  # the padded source S and target T lengths
    d = load_dataset("dates", {"n_samples": args.samples}, seed=p.training.seed)
    s_len, t_len = d.fields["x"].shape[1], d.fields["y"].shape[1]
    tokens_per_sample = s_len + t_len
    seconds = marks["t1"] - marks["t0"]
    tokens = args.steps * args.batch * tokens_per_sample
    # per token: 6 N for the weights; attention products per layer: encoder self (S keys),
    # decoder self (T keys), cross (S keys), 12 d per key per query token
    attn = 12 * args.d_model * (s_len * s_len + t_len * t_len + t_len * s_len) / tokens_per_sample
    flops = tokens * (6 * n_params + attn)
    return {"tokens_per_s": tokens / seconds, "flops_per_s": flops / seconds,
            "parameters": n_params, "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--d-model", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ff", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA", "device": args.device}))
        return
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    results: dict[str, list[dict]] = {"fp32": [], "bf16": []}
    for r in range(args.rounds):
        for precision in (("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")):
            res = one_run(args, precision)
            results[precision].append(res)
            print(f"round {r + 1} {precision}: {res['tokens_per_s']:,.0f} tokens/s, "
                  f"{res['flops_per_s'] / 1e12:.2f} TFLOP/s", flush=True)
    top = peak(name)
    out = {"device": name, "config": vars(args), "date": datetime.date.today().isoformat()}
    for precision, runs in results.items():
        tps = statistics.median(r["tokens_per_s"] for r in runs)
        fps = statistics.median(r["flops_per_s"] for r in runs)
        out[precision] = {"tokens_per_s": tps, "tflops_per_s": fps / 1e12,
                          "mfu": fps / top if top else None,
                          "parameters": runs[0]["parameters"]}
    out["bf16_speedup"] = out["bf16"]["tokens_per_s"] / out["fp32"]["tokens_per_s"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
