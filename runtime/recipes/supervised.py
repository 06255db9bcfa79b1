"""Backpropagation of the summed losses: L = Σ wᵢ Lᵢ, one optimizer over every weight (the
settings' own), or one per optimizer record, each over its sub-network and losses."""
from __future__ import annotations

import torch

from ..diagnosis import StepGradients, grad_norms
from ..errors import TrainingError
from ..optim import OptimizerSet, build_optimizer, eager_step
from .base import Recipe, StepResult


class Supervised(Recipe):
    name = "supervised"
    compilable = True  # training.compile applies to its steps (runtime/torch_compile.py)

    def __init__(self, ctx, c, trainable, needed):
        super().__init__(ctx, c, trainable, needed)
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
        ctx, c, s = self.ctx, self.c, self.s
        opt = self.optimizer
        opt.zero_grad(set_to_none=True)
        watch = StepGradients(ctx.seq_nodes) if log_now and ctx.seq_nodes else None
        args = self.args(c.feeds, batch) if self.noise else batch
        with ctx.autocast():
            out = c.objective(*args)
        loss = out["loss"]
        lv = ctx.finite_or_raise(c, args, loss, ctx.by_layer) if check else None
        self.backward(loss, args, self.trainable, ctx.by_layer, check)
        res = StepResult(loss, lv, out)
        if ctx.by_layer and log_now:
            res.norms = grad_norms(ctx.by_layer)  # before clipping: show explosions
        if watch is not None:
            res.time_norms = watch.finish()
        if s.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.trainable, s.clip_norm)
        self._opt_step()
        return res

    def step_records(self, batch, log_now, check) -> StepResult:
        """Each active record in turn: its objective (noise drawn afresh), its backward, its
        weights' update. The reported loss is the sum of the records' losses."""
        ctx, c, s = self.ctx, self.c, self.s
        step = ctx.pos.step
        total, value, parts, outs = None, 0.0 if check else None, {}, {}
        norms = {}
        for r in self.recs:
            if not r.active(step):
                continue
            r.set_lr(step, ctx.total_steps)
            for p in r.params:
                p.grad = None
            args = self.args(r.feeds, batch)
            with ctx.autocast():
                out = r.objective(*args)
            loss = out["loss"]
            if check:
                value += ctx.finite_or_raise(c, args, loss, r.layers, r.objective)
            self.backward(loss, args, r.params, r.layers, check, r.objective)
            if log_now:
                norms.update(grad_norms(r.layers))
            if s.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(r.params, s.clip_norm)
            r.step()
            d = loss.detach()
            total = d if total is None else total + d
            for l, v in out["losses"].items():
                parts[f"{l}.loss"] = v.detach()
            self.observe(out, parts)
            outs[r.spec.name] = out
        if total is None:  # no record updates at this step
            total = torch.zeros((), device=ctx.device)
        merged = {"preds": {k: v for o in outs.values() for k, v in o["preds"].items()}}
        return StepResult(total, value, merged, parts, norms if log_now and norms else None)

    def backward(self, loss, args, params, layers, check, objective=None) -> None:
        """The gradients the update is made of, in `params`' .grad (`loss`: what `objective`,
        by default the whole one, gave on `args`; `layers`: `params` by node; `check`:
        whether losses are read, as the step's). Here ∂loss/∂w; the 'sam' recipe's differ."""
        loss.backward()

    def observe(self, out: dict, parts: dict) -> None:
        """Named values of a record's step to log besides its losses (none here)."""
