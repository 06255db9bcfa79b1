"""The import zoo's models that torch.fx cannot trace and torch.export can (issue 26, item
3): Python control flow on an input's shape, on whether an argument is None, a loop over
x.size(1) steps, a config read at call time. tests/runtime/test_import_export.py imports each
through the torch.export fallback. Line numbers matter to the refusal test (it names this
file's line)."""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class Residual(nn.Module):
    """A pre-norm residual MLP block that accepts N × D or N × T × D (a branch on x.dim())."""

    def __init__(self, d=16):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def forward(self, x):
        if x.dim() == 2:  # one token per sample: as a sequence of one
            x = x.unsqueeze(1)
        return x + self.fc2(F.gelu(self.fc1(self.norm(x))))


class ShapeBranch(nn.Module):
    """Two blocks, then a pooling picked by the input's length (a shape-dependent branch)."""

    def __init__(self, d=16, classes=5):
        super().__init__()
        self.blocks = nn.ModuleList([Residual(d), Residual(d)])
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        if x.size(1) > 1:
            x = x.mean(1)
        else:
            x = x[:, 0]
        return self.head(x)


class OptionalMask(nn.Module):
    """`if mask is None`, and a mask made inside only when the input's length asks for one."""

    def __init__(self, d=8, mask=None):
        super().__init__()
        self.proj = nn.Linear(d, d)
        self.gate = nn.Linear(d, d)
        self.mask = mask

    def forward(self, x):
        mask = self.mask
        h = self.proj(x)
        if mask is None and x.shape[1] > 100:
            mask = torch.ones_like(h)
        if mask is not None:
            h = h * mask
        return torch.sigmoid(self.gate(h)) * h


class Cell(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.inp = nn.Linear(d, d)
        self.rec = nn.Linear(d, d, bias=False)

    def forward(self, x, h):
        return torch.tanh(self.inp(x) + self.rec(h))


class Unrolled(nn.Module):
    """An Elman loop written by hand: one step per x.size(1), unrolled by torch.export (the
    same Cell each step: its layers are applied several times, so this one shares nothing,
    a new cell per step up to `steps`)."""

    def __init__(self, d=6, steps=4):
        super().__init__()
        self.cells = nn.ModuleList([Cell(d) for _ in range(steps)])
        self.out = nn.Linear(d, 3)

    def forward(self, x):
        h = torch.tanh(x[:, 0])
        outs = []
        for t in range(x.size(1)):
            h = self.cells[t](x[:, t], h)
            outs.append(h)
        return self.out(torch.cat(outs, 1).view(x.size(0), x.size(1), -1).mean(1))


@dataclass
class Config:
    hidden: int = 12
    layers: int = 2
    activation: str = "relu"
    pool: str = "mean"


class Configured(nn.Module):
    """A Hugging Face-style model: built from a dataclass config that its forward reads
    (the activation by name, the pooling by a flag), and a dict of layers."""

    def __init__(self, config: Config = Config()):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleDict({f"layer{i}": nn.Linear(config.hidden, config.hidden)
                                     for i in range(config.layers)})
        self.classifier = nn.Linear(config.hidden, 2)

    def forward(self, x):
        act = {"relu": F.relu, "gelu": F.gelu}[self.config.activation]
        for name in sorted(self.layers):
            x = act(self.layers[name](x))
        if x.dim() == 3:
            x = x.mean(1) if self.config.pool == "mean" else x[:, 0]
        return self.classifier(x)


class TokensAndFeatures(nn.Module):
    """Two inputs (token ids and features), a branch on the length, an LSTM whose last
    layer's final state is read (h[-1]) and two results."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.fc = nn.Linear(8, 8)
        self.lstm = nn.LSTM(8, 8, num_layers=2, batch_first=True)

    def forward(self, tokens, x):
        h = self.emb(tokens)
        if h.size(1) > 3:
            h = h + self.fc(x)
        out, (hn, cn) = self.lstm(h)
        return out.mean(1), hn[-1]


class TensorOps(nn.Module):
    """Tensor operations under torch.export's ATen names (sub, div, sum, split into equal
    parts, where, a comparison, scaling by a constant), behind a branch on the rank."""

    def __init__(self, d=12):
        super().__init__()
        self.fc = nn.Linear(d, 3 * d)

    def forward(self, x):
        if x.dim() == 3:
            x = self.fc(x)
        q, k, v = x.split(x.size(-1) // 3, dim=-1)
        gate = torch.where(q > 0, k, v)
        return (gate - v.sum(-1, keepdim=True) / 4) * 0.5


class Neither(nn.Module):
    """Control flow on the data's values: neither tracer can make one graph of it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:  # a branch on the values: no graph holds it
            return self.fc(x)
        return x


class UnmappedAfterBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.dim() == 2:
            x = self.fc(x)
        return torch.cumsum(x, 1)  # no node computes a running sum
