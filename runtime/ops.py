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
             eps: float = 1e-7) -> torch.Tensor:
    """−(1/n) Σᵢ Σⱼ yᵢⱼ log ŷᵢⱼ, with class indices or one-hot / soft targets."""
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
