"""Import (issue 26): what importing a ResNet-50-sized PyTorch module costs.

1. import time: runtime.importer.import_model of a ResNet-50 written here as torchvision
   writes it (a 7 × 7 stem, Bottleneck stages of 3, 4, 6 and 3 at widths 256 to 2048, a
   1 × 1 projection where the shape changes, global average pooling, a Linear head; 25.6 M
   parameters, torchvision is not importable on this machine): trace, graph with blocks,
   analysis, compile, weights copied, and the check against the original on three inputs
   of 1 × 3 × 224 × 224 (the check is most of it). Median of --repeats runs, each a fresh
   model. Target < 5 s.
2. train step: the imported graph's objective (its Output into a cross-entropy loss node is
   not what an import makes, so the step here is model -> F.cross_entropy, as for the
   original) against the original module holding the same weights: forward, cross-entropy,
   backward, SGD, batch 8 of 3 × 64 × 64, in alternating paired rounds in one process;
   ratio = imported / original, median of the per-round ratios. Target <= 1.03.

Run:  python tests/benchmarks/bench_import.py [--repeats K] [--rounds R] [--steps S]
      [--threads T]

The last line of stdout is a JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LAYERLOOM_HOME", tempfile.mkdtemp())

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from runtime.importer import import_model, parse_input  # noqa: E402
from tests.benchmarks.bench_blocks import paired  # noqa: E402


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride=1):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin, layers = 64, []
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = []
            for i in range(blocks):
                stage.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * 4
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def bench_import(repeats: int) -> tuple[dict, object, nn.Module]:
    times, r, model = [], None, None
    for i in range(repeats):
        torch.manual_seed(i)
        model = ResNet50().eval()
        t = time.perf_counter()
        r = import_model(model, [parse_input("x=1,3,224,224")])
        times.append(time.perf_counter() - t)
    params = sum(p.numel() for p in model.parameters())
    med = statistics.median(times)
    print(f"import of a ResNet-50 ({params:,} parameters, {r.nodes} nodes, {r.blocks} block "
          f"definitions), checked on 3 inputs of 1 x 3 x 224 x 224: median {med:.2f} s of "
          f"{repeats} ({', '.join(f'{t:.2f}' for t in times)}); largest difference "
          f"{r.max_abs_diff:.2e}")
    return ({"import_s": round(med, 3), "import_runs_s": [round(t, 3) for t in times],
             "params": params, "nodes": r.nodes, "blocks": r.blocks,
             "max_abs_diff": r.max_abs_diff}, r, model)


def bench_step(r, model: nn.Module, rounds: int, steps: int) -> dict:
    imported = r.compiled.model
    x, y = torch.randn(8, 3, 64, 64), torch.randint(0, 1000, (8,))
    imported.train(), model.train()
    opt_i = torch.optim.SGD(imported.parameters(), lr=0.01)
    opt_o = torch.optim.SGD(model.parameters(), lr=0.01)

    def step_imported():
        opt_i.zero_grad(set_to_none=True)
        F.cross_entropy(imported(x), y).backward()
        opt_i.step()

    def step_original():
        opt_o.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt_o.step()

    ti, to, ratio, ratios = paired(step_imported, step_original, rounds, steps)
    print(f"train step, batch 8 of 3 x 64 x 64: imported {ti * 1e3:.1f} ms, original "
          f"{to * 1e3:.1f} ms, ratio {ratio:.4f} (median of {rounds} paired rounds of {steps} "
          f"steps; spread {min(ratios):.3f}-{max(ratios):.3f})")
    return {"step_ratio": round(ratio, 4), "imported_ms": round(ti * 1e3, 1),
            "original_ms": round(to * 1e3, 1), "ratios": [round(v, 3) for v in ratios]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    out = {"machine": platform.node(), "cpu_count": os.cpu_count(),
           "threads": torch.get_num_threads(), "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%d %H:%M")}
    figures, r, model = bench_import(a.repeats)
    out.update(figures)
    out.update(bench_step(r, model, a.rounds, a.steps))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
