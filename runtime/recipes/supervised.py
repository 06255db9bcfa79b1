"""Backpropagation of the summed losses: L = Σ wᵢ Lᵢ, one optimizer over every weight (the
settings' own), or one per optimizer record, each over its sub-network and losses."""
from __future__ import annotations

import torch

from .base import OptimizerSet, Recipe, StepResult, build_optimizer, finite_or_raise


class Supervised(Recipe):
    name = "supervised"

    def __init__(self, trainer, c, trainable, needed):
        super().__init__(trainer, c, trainable, needed)
        from ..train import TrainingError, eager_step
        if c.taps:
            raise TrainingError(f"Perceptron '{c.taps[0]}' learns with the perceptron "
                                "rule, not by gradients: set the training recipe to "
                                "'perceptron'.", c.taps[0])
        if not trainable:
            raise TrainingError("Nothing to train: the graph has no layer with weights.")
        self.recs = self.records() if self.s.optimizers else []
        if self.recs:
            self.optimizer = OptimizerSet({r.spec.name: r.opt for r in self.recs})
        else:
            s = self.s
            self.optimizer = build_optimizer(s.optimizer, trainable, s.lr, s.momentum,
                                             s.weight_decay)
            self._opt_step = eager_step(self.optimizer)

    @property
    def lr(self) -> float:
        if self.recs:
            return self.recs[0].opt.param_groups[0]["lr"]
        return super().lr

    def step(self, batch, log_now, check) -> StepResult:
        if self.recs:
            return self.step_records(batch, log_now, check)
        t, c, s = self.t, self.c, self.s
        opt = self.optimizer
        opt.zero_grad(set_to_none=True)
        watch = t._watch_steps(t.seq_nodes) if log_now and t.seq_nodes else None
        args = self.args(c.feeds, batch) if self.noise else batch
        with t._autocast():
            out = c.objective(*args)
        loss = out["loss"]
        lv = finite_or_raise(t, c, args, loss, t.by_layer) if check else None
        loss.backward()
        if t.by_layer and log_now:
            t.norms = t._grad_norms(t.by_layer)  # before clipping: show explosions
        if watch is not None:
            t.time_norms = watch.finish()
        if s.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.trainable, s.clip_norm)
        self._opt_step()
        return StepResult(loss, lv, out)

    def step_records(self, batch, log_now, check) -> StepResult:
        """Each active record in turn: its objective (noise drawn afresh), its backward, its
        weights' update. The reported loss is the sum of the records' losses."""
        t, c, s = self.t, self.c, self.s
        step = t.pos.step
        total, value, parts, outs = None, 0.0 if check else None, {}, {}
        norms = {}
        for r in self.recs:
            if not r.active(step):
                continue
            r.set_lr(step, t.total_steps)
            for p in r.params:
                p.grad = None
            args = self.args(r.feeds, batch)
            with t._autocast():
                out = r.objective(*args)
            loss = out["loss"]
            if check:
                value += finite_or_raise(t, c, args, loss, r.layers, r.objective)
            loss.backward()
            if log_now:
                norms.update(t._grad_norms(r.layers))
            if s.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(r.params, s.clip_norm)
            r.step()
            d = loss.detach()
            total = d if total is None else total + d
            for l, v in out["losses"].items():
                parts[f"{l}.loss"] = v.detach()
            self.observe(out, parts)
            outs[r.spec.name] = out
        if log_now and norms:
            t.norms = norms
        if total is None:  # no record updates at this step
            total = torch.zeros((), device=t.device)
        merged = {"preds": {k: v for o in outs.values() for k, v in o["preds"].items()}}
        return StepResult(total, value, merged, parts)

    def observe(self, out: dict, parts: dict) -> None:
        """Named values of a record's step to log besides its losses (none here)."""
