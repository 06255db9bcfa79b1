"""Training-step time of a compiled graph against a hand-written nn.Module with the same
weights: an MLP 784-512-512-10 at batch 128, the CNN template at batch 128 and the LSTM
template (adding problem, T = 50) at batch 64.

Run:  python tests/benchmarks/bench_compile.py [--rounds R] [--steps S] [--device cpu|cuda]
(--device cuda without a CUDA device: the last line is {"skipped": "no CUDA", ...}.)

Both models take identical steps (forward, loss, backward, SGD) in alternating rounds in one
process; each round's compiled/hand-written time ratio is recorded, and the medians reported.
Before timing, outputs are compared; after timing, the weights of both must still agree (they
took the same steps). The last line of stdout is a JSON object with mlp_ratio, cnn_ratio and
lstm_ratio.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from graph.project import load  # noqa: E402
from runtime.compile import compile_graph  # noqa: E402
from tests.graphs import mlp_graph  # noqa: E402


def cce(probs, y):  # what the CategoricalCrossEntropy node computes on probabilities
    return F.nll_loss(torch.log(probs.clamp(1e-7, 1.0)), y)


class HandMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 512), nn.Linear(512, 512), nn.Linear(512, 10)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return torch.softmax(self.fc3(x), dim=1)


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.dense = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), kernel_size=2, stride=2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), kernel_size=2, stride=2)
        return torch.softmax(self.dense(torch.flatten(x, 1)), dim=1)


class HandLSTM(nn.Module):
    """The lstm template by hand: LSTM 2 -> 32 over the sequence, its last step, Linear -> 1."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(2, 32, batch_first=True)
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(y[:, -1])


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def compare(name, graph, hand, x, y, dev, rounds, steps, loss=cce):
    compiled = compile_graph(graph)
    model, objective = compiled.model.to(dev), compiled.objective.to(dev)
    hand = hand.to(dev)
    hand.load_state_dict(model.state_dict())
    with torch.no_grad():
        diff = (model(x) - hand(x)).abs().max().item()
    opt_c = torch.optim.SGD(model.parameters(), lr=0.01)
    opt_h = torch.optim.SGD(hand.parameters(), lr=0.01)

    def step_compiled():
        opt_c.zero_grad(set_to_none=True)
        objective(x, y)["loss"].backward()
        opt_c.step()

    def step_hand():
        opt_h.zero_grad(set_to_none=True)
        loss(hand(x), y).backward()
        opt_h.step()

    for _ in range(5):  # warm-up, identical for both
        step_compiled()
        step_hand()
    times = {"compiled": [], "hand": []}
    ratios = []
    for r in range(rounds):
        order = [("compiled", step_compiled), ("hand", step_hand)]
        if r % 2:
            order.reverse()
        got = {}
        for label, fn in order:
            sync(dev)
            t = time.perf_counter()
            for _ in range(steps):
                fn()
            sync(dev)
            got[label] = (time.perf_counter() - t) / steps
            times[label].append(got[label])
        ratios.append(got["compiled"] / got["hand"])
    weight_diff = max((a - b).abs().max().item() for a, b in
                      zip(model.state_dict().values(), hand.state_dict().values()))
    med_c, med_h = statistics.median(times["compiled"]), statistics.median(times["hand"])
    ratio = statistics.median(ratios)
    print(f"{name}: compiled {med_c * 1e3:.3f} ms/step, hand-written {med_h * 1e3:.3f} ms/step, "
          f"ratio {ratio:.4f} (median of {rounds} paired rounds of {steps} steps; spread "
          f"{min(ratios):.3f}-{max(ratios):.3f}); max |output diff| {diff:.2e}, "
          f"max |weight diff| after training {weight_diff:.2e}")
    return ratio, diff, weight_diff, med_c, med_h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA", "device": args.device}))
        return
    dev = torch.device(args.device)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {dev}" + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""))

    x = torch.randn(128, 784, device=dev)
    y = torch.randint(0, 10, (128,), device=dev)
    mlp = compare("MLP 784-512-512-10, batch 128", mlp_graph((784, 512, 512, 10), softmax=True),
                  HandMLP(), x, y, dev, args.rounds, args.steps)

    cnn_project = load(ROOT / "templates" / "cnn.json")
    xi = torch.rand(128, 1, 8, 8, device=dev)
    cnn = compare("CNN template, batch 128", cnn_project.graph, HandCNN(), xi, y, dev,
                  args.rounds, args.steps)
    lstm_project = load(ROOT / "templates" / "lstm.json")
    xs = torch.rand(64, 50, 2, device=dev)
    ys = torch.rand(64, 1, device=dev)
    lstm = compare("LSTM template (adding, T = 50), batch 64", lstm_project.graph, HandLSTM(),
                   xs, ys, dev, args.rounds, args.steps, loss=F.mse_loss)
    result = {"mlp_ratio": round(mlp[0], 4), "cnn_ratio": round(cnn[0], 4),
              "lstm_ratio": round(lstm[0], 4), "lstm_max_abs_diff": lstm[1],
              "lstm_weight_diff_after": lstm[2], "lstm_ms": round(lstm[3] * 1e3, 4),
              "lstm_hand_ms": round(lstm[4] * 1e3, 4),
              "mlp_max_abs_diff": mlp[1], "cnn_max_abs_diff": cnn[1],
              "mlp_weight_diff_after": mlp[2], "cnn_weight_diff_after": cnn[2],
              "mlp_ms": round(mlp[3] * 1e3, 4), "mlp_hand_ms": round(mlp[4] * 1e3, 4),
              "cnn_ms": round(cnn[3] * 1e3, 4), "cnn_hand_ms": round(cnn[4] * 1e3, 4),
              "device": str(dev), "rounds": args.rounds, "steps": args.steps}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
