"""Metrics reported beside the loss, chosen per loss node from the catalogue (`spec.metric`)
or its `metric` param. Each returns (sum, count) tensors that stay on the device until the
run reads them at an epoch end: no per-step sync."""
from __future__ import annotations

import math

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


def record(kind: str, pred: torch.Tensor) -> torch.Tensor:
    """What a step keeps of its predictions for the metric: one cheap op, no comparison
    and no sync. `finish` compares the records with the targets once per epoch."""
    if kind == "accuracy/argmax":
        return pred.argmax(1)  # records no autograd history
    if kind == "accuracy/argmax_last":  # a distribution per time step (N × T × V)
        return pred.argmax(-1)
    if kind == "accuracy/binary":
        return pred > 0.5
    if kind in ("accuracy/logit", "accuracy/sign"):
        return pred > 0.0
    if kind == "mae":
        return pred.detach()
    raise ValueError(kind)


def truth(kind: str, target: torch.Tensor) -> torch.Tensor:
    """The class each target holds, as the accuracy `kind` reads it: the index (or the
    argmax of one-hot / soft targets), or for a binary accuracy whether it is above the cut."""
    if kind in ("accuracy/argmax", "accuracy/argmax_last"):
        axis = 1 if kind == "accuracy/argmax" else -1
        return target.argmax(axis) if target.is_floating_point() else target
    return target > (0.0 if kind == "accuracy/sign" else 0.5)


def finish(kind: str, records: list[torch.Tensor], target: torch.Tensor,
           ignore: int | None = None) -> float:
    """The metric over the recorded predictions; `target` holds the same samples, in order.
    `ignore`: a class index (padding) whose positions the accuracy leaves out, as the loss
    does (a loss node's ignore_index)."""
    if not records:
        return math.nan
    got = torch.cat(records)
    target = target[: got.shape[0]]
    if kind in ("accuracy/argmax", "accuracy/argmax_last"):
        classes = truth(kind, target).reshape(got.shape)
        hit = got == classes
        if ignore is not None and not target.is_floating_point():
            keep = classes != ignore
            return (hit & keep).sum().item() / max(int(keep.sum()), 1)
        return hit.float().mean().item()
    if kind == "mae":
        return (got - target.reshape(got.shape).to(got.dtype)).abs().mean().item()
    return (got == truth(kind, target.reshape(got.shape))).float().mean().item()


def _until_end(tokens: torch.Tensor, end: int, pad: int) -> torch.Tensor:
    """Every token after a row's first end token set to pad."""
    seen = (tokens == end).long().cumsum(1) > 0
    after = torch.cat([torch.zeros_like(seen[:, :1]), seen[:, :-1]], 1)
    return torch.where(after, torch.full_like(tokens, pad), tokens)


def exact_match(decoded: torch.Tensor, truth: torch.Tensor, end: int, pad: int) -> float:
    """The share of rows whose decoded tokens equal the true ones up to and including the
    end token (what follows it, padding, does not count): whole sequences, not tokens."""
    n = min(decoded.shape[0], truth.shape[0])
    if n == 0:
        return math.nan
    decoded, truth = decoded[:n].long(), truth[:n].to(decoded.device).long()
    width = max(decoded.shape[1], truth.shape[1])
    grow = lambda t: torch.cat([t, t.new_full((n, width - t.shape[1]), pad)], 1)  # noqa: E731
    a, b = _until_end(grow(decoded), end, pad), _until_end(grow(truth), end, pad)
    return (a == b).all(1).float().mean().item()
