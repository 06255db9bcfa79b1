"""What the Trainer tells about gradients: each layer's gradient norm and, for recurrent
layers, the gradient at each time step of their input (GradStats), and, when the loss goes
non-finite, which layer and node went first and what to try (a TrainingError)."""
from __future__ import annotations

import math

import torch
import torch.fx as fx

from .compile import Compiled
from .errors import TrainingError


def grad_norms(by_layer: dict[str, list[torch.Tensor]]) -> dict[str, float]:
    """Each layer's gradient norm (over all its parameters), for the layers that have one."""
    names, grads = [], []
    for n, ps in by_layer.items():
        for p in ps:
            if p.grad is not None:
                names.append(n)
                grads.append(p.grad)
    if not grads:
        return {}
    norms = torch.stack(torch._foreach_norm(grads)).double().pow(2).tolist()
    out: dict[str, float] = {}
    for n, sq in zip(names, norms):
        out[n] = out.get(n, 0.0) + sq
    return {n: math.sqrt(v) for n, v in out.items()}


class StepGradients:
    """On a log step: keeps the input sequence of each recurrent module (made to require a
    gradient where it is data), so that after backward the size of ∂L/∂x_t at every step t
    can be read. Hooks are on for that one forward pass only."""

    def __init__(self, modules: dict):
        self.inputs: dict[str, torch.Tensor] = {}
        self.handles = [m.register_forward_pre_hook(self._hook(n), with_kwargs=True)
                        for n, m in modules.items()]

    def _hook(self, name: str):
        def hook(module, args, kwargs):
            x = args[0]
            if not x.requires_grad:  # data straight from an Input
                x = x.detach().requires_grad_()
            else:
                x.retain_grad()
            self.inputs[name] = x
            return (x, *args[1:]), kwargs
        return hook

    def finish(self) -> dict[str, list[float]]:
        for h in self.handles:
            h.remove()
        out = {}
        for n, x in self.inputs.items():
            if x.grad is not None and x.dim() == 3:  # N × T × F
                out[n] = x.grad.detach().norm(dim=-1).mean(0).double().tolist()
        return out


def non_finite_error(c: Compiled, batch, loss, by_layer, *, step: int, epoch: int, lr: float,
                     objective=None) -> TrainingError:
    """Name the first layer (in forward order) whose gradient is not finite, and the first
    node whose forward output is not, so the user knows where to look (`batch`: what
    `objective`, by default the whole one, was called with; `step`: the step named as the
    one that stopped, `lr`: the learning rate the advice quotes)."""
    value = loss.detach().item()
    what = "NaN" if math.isnan(value) else "infinite"
    grad_bad = next((n for n, ps in by_layer.items()
                     if any(p.grad is not None and not torch.isfinite(p.grad).all()
                            for p in ps)), None)
    fwd_bad = first_non_finite_node(c, batch, objective)
    g = c.graph
    parts = [f"Training stopped at step {step} (epoch {epoch}): the loss "
             f"became {what}."]
    if grad_bad:
        parts.append(f"The first layer whose gradient went non-finite is "
                     f"{g.spec(grad_bad).title} '{grad_bad}'.")
    if fwd_bad and fwd_bad != grad_bad:
        parts.append(f"In the forward pass, {g.spec(fwd_bad).title} '{fwd_bad}' is the first "
                     "node to output non-finite values.")
    parts.append(f"Try a lower learning rate (now {lr:g}), gradient clipping "
                 "(clip_norm), or batch normalization.")
    return TrainingError(" ".join(parts), grad_bad or fwd_bad)


class _NonFiniteFinder(fx.Interpreter):
    def __init__(self, gm):
        super().__init__(gm)
        self.first: str | None = None

    def run_node(self, n):
        result = super().run_node(n)
        if self.first is None and n.op in ("call_module", "call_function") and \
                isinstance(result, torch.Tensor) and result.is_floating_point() and \
                not torch.isfinite(result).all():
            self.first = n.name
        return result


def first_non_finite_node(c: Compiled, batch, objective=None) -> str | None:
    """The first node of `objective` (by default the whole one) run on `batch` whose output
    is not finite, if any."""
    finder = _NonFiniteFinder(objective if objective is not None else c.objective)
    with torch.no_grad():
        finder.run(*batch)
    if finder.first in c.graph:
        return finder.first
    # fx names a block's inner node without its dots: "layer2_0_conv1" is "layer2.0.conv1"
    return {n.replace(".", "_"): n for n in c.graph.nodes()}.get(finder.first)
