"""The few operations torch lacks under the name and contract a catalogue entry needs.

Each is small, plain PyTorch. The standalone Python export (issue 4) copies the ones a model
uses into the exported file, so they must stay self-contained (torch imports only).
"""
from __future__ import annotations

import functools
import math
import operator

import torch
import torch.nn.functional as F
from torch import nn


def step(z: torch.Tensor) -> torch.Tensor:
    """Heaviside step: 1 where z >= 0, else 0 (no gradient)."""
    return (z >= 0).to(z.dtype)


class Perceptron(nn.Module):
    """Rosenblatt's perceptron: y = step(W x + b). It learns by the perceptron rule, not by
    gradients, so its parameters do not require grad."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(out_features), requires_grad=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return step(F.linear(x, self.weight, self.bias))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Standardize(nn.Module):
    """Feature standardisation (z-score): y = (x - mean) / std, per feature. mean and std are
    buffers fitted on the training split (never on validation data) and saved with the
    weights, so the exported model applies the same scaling to raw features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Mean and standard deviation of each feature of `x` (N × F); a constant feature
        keeps std 1, so it becomes 0 rather than NaN."""
        x = x.to(self.mean.dtype)
        self.mean.copy_(x.mean(0))
        std = x.std(0, unbiased=False) if x.shape[0] > 1 else torch.ones_like(self.std)
        self.std.copy_(torch.where(std > 1e-12, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _to_torch_state(h: torch.Tensor) -> torch.Tensor:
    """N × (layers·directions) × H (ours, batch first) -> torch's (layers·directions) × N × H."""
    return h.transpose(0, 1).contiguous()


class RNN(nn.RNN):
    """nn.RNN, batch first, with batch-first states: forward(x, h0=None) -> (y, h) with
    y N × T × (D·H) and h N × (layers·D) × H. The weights are nn.RNN's own (same names)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0,
                 nonlinearity: str = "tanh"):
        super().__init__(input_size, hidden_size, num_layers=num_layers,
                         nonlinearity=nonlinearity, batch_first=True, dropout=dropout,
                         bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        y, h = super().forward(x, None if h0 is None else _to_torch_state(h0))
        return y, h.transpose(0, 1)


class GRU(nn.GRU):
    """nn.GRU, batch first, with batch-first states (as RNN above)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        y, h = super().forward(x, None if h0 is None else _to_torch_state(h0))
        return y, h.transpose(0, 1)


class LSTM(nn.LSTM):
    """nn.LSTM, batch first, with batch-first states: forward(x, h0=None, c0=None) ->
    (y, (h, c)), the nesting torch returns; a state not given starts at zeros."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None,
                c0: torch.Tensor | None = None):
        hx = None
        if h0 is not None or c0 is not None:
            d = 2 if self.bidirectional else 1
            zeros = x.new_zeros(x.shape[0], self.num_layers * d, self.hidden_size)
            hx = (_to_torch_state(zeros if h0 is None else h0),
                  _to_torch_state(zeros if c0 is None else c0))
        y, (h, c) = super().forward(x, hx)
        return y, (h.transpose(0, 1), c.transpose(0, 1))


def time_step(x: torch.Tensor, index: int = -1) -> torch.Tensor:
    """One step of a sequence: x[:, index] (N × T × F -> N × F)."""
    return x[:, index]


def time_slice(x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Steps start .. stop − 1 of a sequence: x[:, start:stop]."""
    return x[:, start:stop]


def add_all(xs: list[torch.Tensor]) -> torch.Tensor:
    """x₁ + x₂ + … + xₖ."""
    return functools.reduce(operator.add, xs)


def reshape(x: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """Reshape each sample, keeping the batch dimension."""
    return x.reshape(x.shape[0], *shape)


def _like(target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    return target.reshape(pred.shape).to(pred.dtype)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, _like(target, pred))


def bce_loss(pred: torch.Tensor, target: torch.Tensor, from_logits: bool = False) -> torch.Tensor:
    t = _like(target, pred)
    if from_logits:
        return F.binary_cross_entropy_with_logits(pred, t)
    return F.binary_cross_entropy(pred, t)


def cce_loss(pred: torch.Tensor, target: torch.Tensor, from_logits: bool = False,
             eps: float = 1e-7, class_dim: int = 1) -> torch.Tensor:
    """−(1/n) Σᵢ Σⱼ yᵢⱼ log ŷᵢⱼ, with class indices or one-hot / soft targets. class_dim -1:
    the scores are on the last axis (N × T × V, one distribution per step), averaged over
    every step."""
    if class_dim != 1:
        pred = pred.movedim(class_dim, 1)
        if target.is_floating_point():
            target = target.movedim(class_dim, 1)
    logp = F.log_softmax(pred, 1) if from_logits else torch.log(pred.clamp(eps, 1.0))
    if target.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        return F.nll_loss(logp, target.long())
    return -(target.to(logp.dtype) * logp).sum(1).mean()


def hinge_loss(pred: torch.Tensor, target: torch.Tensor, zero_one: bool = False) -> torch.Tensor:
    """mean(max(0, 1 − y·ŷ)) with y ∈ {−1, +1} (0/1 targets mapped to ±1)."""
    t = _like(target, pred)
    if zero_one:
        t = 2 * t - 1
    return F.relu(1 - t * pred).mean()


def huber_loss(pred: torch.Tensor, target: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    return F.huber_loss(pred, _like(target, pred), delta=delta)


def smooth_l1_loss(pred: torch.Tensor, target: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    return F.smooth_l1_loss(pred, _like(target, pred), beta=beta)
