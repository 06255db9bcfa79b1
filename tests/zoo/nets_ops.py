"""Import zoo (issue 26): forwards full of tensor operations with no layer meaning, written as
a PyTorch user writes them; each maps to the generic tensor-operation nodes
(graph/catalogue/tensor_ops.py, tensor_shape_ops.py) and must come back equal."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class HandNorm(nn.Module):
    """A layer norm written by hand, a gate and arithmetic with constants on both sides."""

    def __init__(self, d=6):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.scale = nn.Parameter(torch.rand(d) + 0.5)

    def forward(self, x):
        h = self.fc(x)
        mu = h.mean(-1, keepdim=True)
        var = ((h - mu) ** 2).mean(-1, keepdim=True)
        h = (h - mu) / torch.sqrt(var + 1e-5) * self.scale
        gate = torch.sigmoid(h).clamp(0.05, 0.95)
        y = gate * h + (1 - gate) * torch.exp(-h.abs())
        return y / 2 - 0.5 * x.sum(-1, keepdim=True) + 2 / (1 + x.abs()) + 2 ** -h.abs()


class HandAttention(nn.Module):
    """Scaled dot-product attention by hand: q @ kᵀ via matmul, softmax, a masked fill by
    torch.where, unsqueeze, chunked projections and a squeeze."""

    def __init__(self, d=8):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, 1)
        self.d = d

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, -1)
        scores = torch.matmul(q, k.transpose(1, 2)) / self.d ** 0.5
        scores = torch.where(scores > 0, scores, scores * 0.1)
        w = F.softmax(scores, dim=2)
        ctx = w @ v
        pooled = ctx.amax(1).unsqueeze(1) + ctx[:, :1]
        return self.out(pooled).squeeze(-1) * 2


class ShapeOps(nn.Module):
    """Slices, flips, rolls, tiling and reductions between layers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)

    def forward(self, x):
        h = self.conv(x)
        a = h[..., ::2]
        b = torch.flip(h, [-1])[:, :, 1:7:2]
        c = torch.roll(a, 1, -1).repeat(1, 1, 2)[..., :3]
        s = torch.logsumexp(a, -1) + b.std(-1, unbiased=False) + c.norm(dim=-1)
        s = s + a.sigmoid().prod(-1) + torch.var(h, (1, 2))[:, None]
        first = x.narrow(2, 0, 1).squeeze(-1).sum(1, keepdim=True)
        return torch.maximum(s, -s) ** 2 + first
