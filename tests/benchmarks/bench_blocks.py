"""Blocks (issue 25): what building from blocks costs.

1. resnet18: a ResNet-18 built from blocks (a 7 × 7 stem, stages of basic blocks at 64, 128,
   256 and 512 channels, the 'basic' / 'down' / 'stage' definitions of
   tools/make_block_templates.py, global average pooling, a Linear head; 3 × 64 × 64 input,
   batch 16) against a hand-written, torchvision-like ResNet-18 holding the same weights
   (copied in order; outputs compared): one training step each (forward, cross-entropy,
   backward, SGD) in alternating paired rounds in one process; ratio = blocks / hand, median
   of the per-round ratios. Target <= 1.03.
2. encoder12: a 12-layer Transformer encoder (the transformer template's Encoder layer block,
   d 64, 4 heads, with repeat 12) on 32 tokens: graph.analysis.analyse of the project (cold:
   the block caches emptied; warm: as after an edit elsewhere), one edit (the instance's d_ff)
   + analysis, both < 50 ms; and in the window (QT_QPA_PLATFORM=offscreen) MainWindow.open_path
   of its project file until the scene is built and painted (< 1 s), and one edit through the
   undo stack + re-analysis + repaint.
3. lstm_from_gates (slot for the gate-built LSTM, issue 25 item 8): the step time of
   templates/lstm_from_gates.json (the cell from Linear, Sigmoid, Tanh, Multiply, Add, looped
   over T = 50 in Python) against nn.LSTM + Linear at batch 64, paired rounds; skipped when
   that template does not exist.

Run:  QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_blocks.py [--rounds R]
      [--steps S] [--repeats K] [--part resnet18|encoder12|lstm|all]

The last line of stdout is a JSON object.
"""
from __future__ import annotations

import argparse
import gc
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
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_HOME", tempfile.mkdtemp())

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from graph.model import Graph  # noqa: E402
from graph.project import Project  # noqa: E402
from runtime.compile import compile_graph  # noqa: E402
from tools.make_block_templates import basic_block, stage  # noqa: E402
from tools.make_recurrent_templates import placed, wire  # noqa: E402


# 1. ResNet-18 ------------------------------------------------------------------------------

def resnet18_graph(classes: int = 10, size: int = 64) -> Graph:
    g = Graph()
    basic_block(g, "basic", downsample=False)
    basic_block(g, "down", downsample=True)
    stage(g)
    g.add_node("Input", "image", {"shape": [3, size, size]})
    g.add_node("Conv2d", "conv1", {"out_channels": 64, "kernel_size": 7, "stride": 2,
                                   "padding": 3, "bias": False})
    g.add_node("BatchNorm2d", "bn1")
    g.add_node("ReLU", "relu")
    g.add_node("MaxPool2d", "maxpool", {"kernel_size": 3, "stride": 2, "padding": 1})
    g.add_node("block:basic", "layer1", {"channels": 64, "repeat": 2})
    for i, c in ((2, 128), (3, 256), (4, 512)):
        g.add_node("block:stage", f"layer{i}", {"channels": c, "blocks": 1})
    g.add_node("GlobalAvgPool2d", "avgpool")
    g.add_node("Linear", "fc", {"out_features": classes})
    g.add_node("Output", "logits")
    g.add_node("Target", "label", {"shape": [], "dtype": "int64"})
    g.add_node("CategoricalCrossEntropyLoss", "loss", {"from_logits": True})
    wire(g, ("image", "out"), ("conv1", "x"))
    chain = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
             "avgpool", "fc", "logits"]
    for a, b in zip(chain, chain[1:]):
        g.connect(a, "y", b, "x")
    wire(g, ("fc", "y"), ("loss", "pred"))
    wire(g, ("label", "out"), ("loss", "target"))
    return placed(g)


class BasicBlock(nn.Module):
    def __init__(self, c_in, c, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.downsample = None
        if stride != 1 or c_in != c:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False),
                                            nn.BatchNorm2d(c))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class HandResNet18(nn.Module):
    """torchvision's resnet18, written out."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    a, b = list(src.state_dict().items()), list(dst.state_dict().items())
    assert len(a) == len(b), (len(a), len(b))
    with torch.no_grad():
        for (ka, va), (kb, vb) in zip(a, b):
            assert va.shape == vb.shape, (ka, kb, va.shape, vb.shape)
            vb.copy_(va)


def paired(step_a, step_b, rounds: int, steps: int):
    for _ in range(3):
        step_a()
        step_b()
    ta, tb, ratios = [], [], []
    for r in range(rounds):
        order = [("a", step_a), ("b", step_b)] if r % 2 == 0 else [("b", step_b), ("a", step_a)]
        got = {}
        for label, fn in order:
            t = time.perf_counter()
            for _ in range(steps):
                fn()
            got[label] = (time.perf_counter() - t) / steps
        ta.append(got["a"])
        tb.append(got["b"])
        ratios.append(got["a"] / got["b"])
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios), ratios


def bench_resnet18(rounds: int, steps: int) -> dict:
    torch.manual_seed(0)
    c = compile_graph(resnet18_graph())
    model, objective = c.model, c.objective
    hand = HandResNet18()
    copy_weights(model, hand)
    x, y = torch.randn(16, 3, 64, 64), torch.randint(0, 10, (16,))
    model.eval(), hand.eval()
    with torch.no_grad():
        diff = (model(x) - hand(x)).abs().max().item()
    model.train(), hand.train()
    opt_b = torch.optim.SGD(model.parameters(), lr=0.01)
    opt_h = torch.optim.SGD(hand.parameters(), lr=0.01)

    def step_blocks():
        opt_b.zero_grad(set_to_none=True)
        objective(x, y)["loss"].backward()
        opt_b.step()

    def step_hand():
        opt_h.zero_grad(set_to_none=True)
        F.cross_entropy(hand(x), y).backward()
        opt_h.step()

    tb, th, ratio, ratios = paired(step_blocks, step_hand, rounds, steps)
    params = sum(p.numel() for p in model.parameters())
    print(f"ResNet-18 from blocks ({params:,} parameters), 3 x 64 x 64, batch 16: blocks "
          f"{tb * 1e3:.1f} ms/step, hand-written {th * 1e3:.1f} ms/step, ratio {ratio:.4f} "
          f"(median of {rounds} paired rounds of {steps} steps; spread {min(ratios):.3f}-"
          f"{max(ratios):.3f}); max |output diff| (eval) {diff:.2e}")
    return {"resnet18_ratio": round(ratio, 4), "resnet18_blocks_ms": round(tb * 1e3, 2),
            "resnet18_hand_ms": round(th * 1e3, 2), "resnet18_output_diff": diff}


# 2. A 12-layer Transformer encoder ----------------------------------------------------------

def encoder_project(layers: int = 12, d: int = 64, heads: int = 4, hidden: int = 128) -> Project:
    from tools.make_seq2seq_templates import encoder_layer
    g = Graph()
    encoder_layer(g, d, heads, hidden)
    g.add_node("Input", "tokens", {"shape": [32], "dtype": "int64"})
    g.add_node("Embedding", "embed", {"num_embeddings": 100, "embedding_dim": d})
    g.add_node("PositionalEncoding", "position", {"max_len": 64})
    g.add_node("PaddingMask", "padding", {"pad_id": 0})
    g.add_node("block:encoder_layer", "encoder", {"repeat": layers})
    g.add_node("Linear", "head", {"out_features": 100})
    g.add_node("Output", "scores")
    wire(g, ("tokens", "out"), ("embed", "x"))
    wire(g, ("embed", "y"), ("position", "x"))
    wire(g, ("tokens", "out"), ("padding", "x"))
    g.connect("position", "y", "encoder", "x")
    g.connect("padding", "mask", "encoder", "padding")
    wire(g, ("encoder", "y"), ("head", "x"))
    wire(g, ("head", "y"), ("scores", "x"))
    return Project(graph=placed(g), name=f"Transformer encoder x {layers}")


def bench_encoder(repeats: int) -> dict:
    from graph.analysis import analyse
    p = encoder_project()
    g = p.graph
    cold, warm, edit = [], [], []
    for r in range(repeats):
        g.blocks._types.clear()
        g.blocks._specs.clear()
        t = time.perf_counter()
        a = analyse(g)
        cold.append((time.perf_counter() - t) * 1e3)
        assert not a.errors, a.errors
        t = time.perf_counter()
        analyse(g)
        warm.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        g.set_param("encoder", "d_ff", 128 + 16 * (r % 5 + 1))
        a = analyse(g)
        edit.append((time.perf_counter() - t) * 1e3)
        assert not a.errors, a.errors
    g.set_param("encoder", "d_ff", 128)
    out = {"encoder12_analyse_cold_ms": round(statistics.median(cold), 2),
           "encoder12_analyse_warm_ms": round(statistics.median(warm), 2),
           "encoder12_edit_analyse_ms": round(statistics.median(edit), 2)}
    print(f"12-layer encoder (repeat 12 of a {len(p.graph.blocks['encoder_layer'].graph)}-node "
          f"block): analyse cold {out['encoder12_analyse_cold_ms']} ms (max {max(cold):.1f}), "
          f"warm {out['encoder12_analyse_warm_ms']} ms, one edit (d_ff) + analyse "
          f"{out['encoder12_edit_analyse_ms']} ms (max {max(edit):.1f}); median of {repeats}")
    out.update(bench_encoder_window(p, repeats))
    return out


def bench_encoder_window(p: Project, repeats: int) -> dict:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication
    from app.mainwindow import MainWindow
    app = QApplication.instance() or QApplication([])
    path = Path(tempfile.mkdtemp()) / "encoder12.json"
    p.save(path)
    win = MainWindow()
    win.resize(1600, 1000)
    win.show()
    for d in ("summary", "code"):  # refreshed later on timers (bench_canvas.py's method)
        win.docks[d].hide()
    from app.warmup import warmup
    warmup().done.wait(60)
    app.processEvents()
    opens, edits = [], []
    for r in range(repeats):
        win.new()
        app.processEvents()
        t = time.perf_counter()
        win.open_path(path, ask=False)
        for _ in range(3):
            app.processEvents()
        opens.append(time.perf_counter() - t)
        assert len(win.scene.nodes) == len(win.doc.graph)
        app.sendPostedEvents(None, QEvent.DeferredDelete)
        gc.collect()
        for k in range(3):
            t = time.perf_counter()
            win.editor.set_param("encoder", "d_ff", 144 + 16 * ((r * 3 + k) % 4))
            win.doc.reanalyse()
            app.processEvents()
            edits.append((time.perf_counter() - t) * 1e3)
        win.doc.undo.setClean()
    win.close()
    out = {"encoder12_open_s": round(statistics.median(opens), 3),
           "encoder12_window_edit_ms": round(statistics.median(edits), 2)}
    print(f"12-layer encoder in the window: open + draw {out['encoder12_open_s']} s (max "
          f"{max(opens):.3f}), edit + re-analysis + repaint {out['encoder12_window_edit_ms']} "
          f"ms (max {max(edits):.1f}); median of {repeats} opens, {len(edits)} edits")
    return out


# 3. The gate-built LSTM (issue 25, item 8) ----------------------------------------------------

def bench_lstm(rounds: int, steps: int) -> dict:
    """SLOT: the gate-built LSTM against nn.LSTM (skipped until templates/lstm_from_gates.json
    exists)."""
    from graph.project import load
    path = ROOT / "templates" / "lstm_from_gates.json"
    if not path.exists():
        print("lstm_from_gates: skipped (templates/lstm_from_gates.json does not exist yet)")
        return {"lstm_ratio": None}
    from tests.benchmarks.bench_compile import HandLSTM
    torch.manual_seed(0)
    c = compile_graph(load(path).graph)
    objective = c.objective
    hand = HandLSTM()
    x, y = torch.rand(64, 50, 2), torch.rand(64, 1)
    opt_g = torch.optim.SGD(c.model.parameters(), lr=0.01)
    opt_h = torch.optim.SGD(hand.parameters(), lr=0.01)

    def step_gates():
        opt_g.zero_grad(set_to_none=True)
        objective(x, y)["loss"].backward()
        opt_g.step()

    def step_hand():
        opt_h.zero_grad(set_to_none=True)
        F.mse_loss(hand(x), y).backward()
        opt_h.step()

    tg, th, ratio, ratios = paired(step_gates, step_hand, rounds, steps)
    print(f"LSTM from gates (T = 50, hidden 32, batch 64): {tg * 1e3:.1f} ms/step, nn.LSTM "
          f"{th * 1e3:.1f} ms/step, ratio {ratio:.2f} (the fused kernel is {ratio:.1f}x "
          f"faster; median of {rounds} paired rounds, spread {min(ratios):.2f}-"
          f"{max(ratios):.2f})")
    return {"lstm_ratio": round(ratio, 3), "lstm_gates_ms": round(tg * 1e3, 2),
            "lstm_hand_ms": round(th * 1e3, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--part", default="all", choices=("resnet18", "encoder12", "lstm", "all"))
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads")
    out = {}
    if args.part in ("resnet18", "all"):
        out.update(bench_resnet18(args.rounds, args.steps))
    if args.part in ("encoder12", "all"):
        out.update(bench_encoder(args.repeats))
    if args.part in ("lstm", "all"):
        out.update(bench_lstm(args.rounds, 5 * args.steps))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
