"""The loss functions the catalogue's loss nodes call, each returning a scalar (regression,
classification, margin and GAN losses; the detectors' are in runtime/detection/).

Each is small, plain PyTorch. The standalone Python export copies the ones a model uses
into the exported file, so they must stay self-contained (torch imports only).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


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
             eps: float = 1e-7, class_dim: int = 1,
             ignore_index: int | None = None) -> torch.Tensor:
    """−(1/n) Σᵢ Σⱼ yᵢⱼ log ŷᵢⱼ, with class indices or one-hot / soft targets. class_dim -1:
    the scores are on the last axis (N × T × V, one distribution per step), averaged over
    every step. ignore_index: a class index whose positions (padding) count for nothing."""
    if class_dim != 1:
        pred = pred.movedim(class_dim, 1)
        if target.is_floating_point():
            target = target.movedim(class_dim, 1)
    logp = F.log_softmax(pred, 1) if from_logits else torch.log(pred.clamp(eps, 1.0))
    if target.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        if ignore_index is not None:
            return F.nll_loss(logp, target.long(), ignore_index=ignore_index)
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


def gan_d_loss(real: torch.Tensor, fake: torch.Tensor, from_logits: bool = True) -> torch.Tensor:
    """L_D = −mean[log D(x)] − mean[log(1 − D(G(z)))]; with logits s, log σ(s) = −softplus(−s)
    and log(1 − σ(s)) = −softplus(s)."""
    if from_logits:
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    eps = 1e-7
    return -(real.clamp(eps, 1 - eps).log().mean() + (1 - fake).clamp(eps, 1 - eps).log().mean())


def gan_g_loss(fake: torch.Tensor, form: str = "non-saturating",
               from_logits: bool = True) -> torch.Tensor:
    """non-saturating: L_G = −mean[log D(G(z))]; minimax: L_G = mean[log(1 − D(G(z)))]."""
    if from_logits:
        return F.softplus(-fake).mean() if form == "non-saturating" else -F.softplus(fake).mean()
    eps = 1e-7
    p = fake.clamp(eps, 1 - eps)
    return -p.log().mean() if form == "non-saturating" else (1 - p).log().mean()
