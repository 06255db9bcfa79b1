"""Metrics reported beside the loss, chosen per loss node from the catalogue (`spec.metric`)
or its `metric` param. Each returns (sum, count) tensors that stay on the device until the
run reads them at an epoch end: no per-step sync."""
from __future__ import annotations

import torch

from graph.model import Graph


def metric_kind(graph: Graph, loss_node: str, pred_features: int | None) -> str | None:
    """'accuracy/argmax', 'accuracy/binary', 'accuracy/logit', 'accuracy/sign', 'mae' or None."""
    spec, params = graph.spec(loss_node), graph.params(loss_node)
    choice = params.get("metric", "auto")
    if choice == "none":
        return None
    if choice == "mae":
        return "mae"
    kind = spec.metric if choice == "auto" else (
        spec.metric if (spec.metric or "").startswith("accuracy") else
        ("accuracy/argmax" if (pred_features or 1) > 1 else "accuracy/binary"))
    if kind == "accuracy/binary" and params.get("from_logits"):
        kind = "accuracy/logit"
    return kind


def metric_name(kind: str) -> str:
    return kind.split("/")[0]


def compute(kind: str, pred: torch.Tensor, target: torch.Tensor):
    """(sum, count) for one batch."""
    pred = pred.detach()
    if kind == "accuracy/argmax":
        guess = pred.argmax(1)
        truth = target if not target.is_floating_point() else target.argmax(1)
        hits = guess == truth.reshape(guess.shape)
    elif kind in ("accuracy/binary", "accuracy/logit", "accuracy/sign"):
        cut = 0.5 if kind == "accuracy/binary" else 0.0
        t = target.reshape(pred.shape)
        t_cut = 0.0 if kind == "accuracy/sign" else 0.5
        hits = (pred > cut) == (t > t_cut)
    elif kind == "mae":
        err = (pred - target.reshape(pred.shape).to(pred.dtype)).abs()
        return err.sum(), err.numel()
    else:
        raise ValueError(kind)
    return hits.sum(), hits.numel()
