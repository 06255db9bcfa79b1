"""Import (issue 26, item 3, measured and reported, not required): Hugging Face transformers'
BertModel and GPT2Model, built from tiny configs (no download), through
runtime.importer.import_model, whose torch.fx tracing fails on them and falls back to
torch.export.

Each model is wrapped in a module whose forward takes the token ids alone and returns
last_hidden_state (import_model wants one --input per forward argument and tensors out,
where HF's forward takes 13 optional arguments and returns a ModelOutput). Per model and
attention implementation ("sdpa", HF's default, and "eager", attention written as matmul
and softmax): whether it imported, else the first refusal and every operation with no node
(names and counts, from export_trace's collecting mode), the seconds, and max_abs_diff.

Needs `pip install transformers` (not a dependency of the app). Run:
    python tests/benchmarks/bench_import_hf.py [--batch N] [--length T]
The last line of stdout is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
from torch import nn  # noqa: E402


class LastHidden(nn.Module):
    """A Hugging Face model as import_model takes it: token ids in, last_hidden_state out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids).last_hidden_state


def models(attention: str) -> dict[str, nn.Module]:
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model
    bert = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128, vocab_size=1000)
    gpt2 = GPT2Config(n_embd=64, n_layer=2, n_head=2, n_inner=128, vocab_size=1000,
                      n_positions=128, bos_token_id=0, eos_token_id=0)
    for c in (bert, gpt2):
        c._attn_implementation = attention
    torch.manual_seed(0)
    return {"BertModel": LastHidden(BertModel(bert)).eval(),
            "GPT2Model": LastHidden(GPT2Model(gpt2)).eval()}


def measure(name: str, model: nn.Module, batch: int, length: int) -> dict:
    from runtime.importer import ImportProblem, import_model, parse_input
    from runtime.importer.export_trace import export_trace
    inputs = [parse_input(f"input_ids={batch},{length}:int64:1000")]
    t0 = time.perf_counter()
    out = {"model": name}
    try:
        r = import_model(model, inputs, name)
        out.update(imported=True, seconds=round(time.perf_counter() - t0, 2),
                   max_abs_diff=r.max_abs_diff, tracer=r.tracer, nodes=r.nodes,
                   blocks=r.blocks)
        return out
    except ImportProblem as e:
        out.update(imported=False, seconds=round(time.perf_counter() - t0, 2),
                   max_abs_diff=None, refusal=str(e))
    missing: dict = {}
    try:
        export_trace(model, inputs, missing)
    except ImportProblem:
        pass
    out["unmapped"] = {k: len(v) for k, v in sorted(missing.items())}
    out["unmapped_where"] = {k: v[0] for k, v in sorted(missing.items())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--length", type=int, default=16)
    a = ap.parse_args()
    try:
        import transformers
    except ImportError:
        print(json.dumps({"error": "transformers is not installed"}))
        sys.exit(1)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    results = []
    for attention in ("sdpa", "eager"):
        for name, model in models(attention).items():
            r = measure(name, model, a.batch, a.length)
            r["attention"] = attention
            results.append(r)
            print(f"{name} ({attention} attention): "
                  + (f"imported, {r['nodes']} nodes, {r['blocks']} blocks, largest difference "
                     f"{r['max_abs_diff']:.3g}" if r["imported"] else
                     f"refused: {r['refusal'][:300]}") + f"; {r['seconds']} s")
            for op, n in r.get("unmapped", {}).items():
                print(f"    no node: {op} × {n}   ({r['unmapped_where'][op][:160]})")
    print(json.dumps({"machine": platform.node(), "torch": torch.__version__,
                      "transformers": transformers.__version__, "batch": a.batch,
                      "length": a.length,
                      "results": [{k: v for k, v in r.items() if k not in ("unmapped_where",
                                                                           "refusal")}
                                  for r in results]}))


if __name__ == "__main__":
    main()
