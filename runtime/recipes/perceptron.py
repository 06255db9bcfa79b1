"""The perceptron learning rule (the seed notes): no gradients, no optimizer.

    w ← w + η (y − ŷ) x,   b ← b + η (y − ŷ)
"""
from __future__ import annotations

import torch

from ..epoch_metrics import target_of
from ..errors import TrainingError
from .base import Recipe, StepResult


class PerceptronRule(Recipe):
    name = "perceptron"

    def __init__(self, ctx, c, trainable, needed):
        super().__init__(ctx, c, trainable, needed)
        g = c.graph
        if not c.taps:
            raise TrainingError("The 'perceptron' recipe trains Perceptron nodes, and the graph "
                                "has none: use the 'supervised' recipe.")
        for n in (n for n in c.layers if n not in c.taps):
            raise TrainingError(f"The 'perceptron' recipe trains only Perceptron nodes, but "
                                f"{g.spec(n).title} '{n}' has weights to learn: use the "
                                "'supervised' recipe.", n)
        self.targets = {}
        for p in c.taps:
            if len(c.analysis.edge_type(g.in_edges(p, g.spec(p).in_role("features"))[0]).shape) != 2:
                raise TrainingError(f"Perceptron '{p}' needs features N × F.", p)
            losses = [e.dst for e in g.out_edges(p) if g.spec(e.dst).role == "loss"
                      and e.dst_port == g.spec(e.dst).in_role("pred")]
            tgt = target_of(c, losses[0]) if losses else None
            if tgt is None:
                raise TrainingError(f"Perceptron '{p}' needs its output compared with a Target "
                                    "by a loss node, so that the rule knows the true labels.", p)
            self.targets[p] = tgt

    def step(self, batch, log_now, check) -> StepResult:
        c = self.c
        with torch.no_grad():
            out = c.objective(*batch)
            loss = out["loss"]
            self.update(out, batch)
            lv = loss.item() if check else None
        return StepResult(loss, lv, out)

    def update(self, out, batch) -> None:
        """Summed over the batch (the seed's rule exactly at batch size 1); nothing changes
        where ŷ = y."""
        lr = self.s.lr
        for p, (x, y_hat) in out["taps"].items():
            y = batch[self.needed.index(self.targets[p])].reshape(y_hat.shape).to(y_hat.dtype)
            err = y - y_hat
            mod = self.c.module(p)
            mod.weight += lr * err.T @ x
            mod.bias += lr * err.sum(0)
