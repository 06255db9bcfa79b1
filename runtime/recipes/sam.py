"""Sharpness-Aware Minimization (Foret et al., 2021): the supervised step, with the gradient
taken at the worst nearby weights (to first order) instead of at w.

    g = ∇L(w),   ε = ρ g / ‖g‖,   g_SAM = ∇L(w + ε),   w ← optimizer step of g_SAM at w

‖g‖ is the global norm over the weights the optimizer moves (each optimizer record's own,
with records), ρ is training.sam_rho. Everything else is the supervised recipe's: the loss
reported is L(w) (its metrics, its non-finite check), weight decay is the optimizer's (added
to g_SAM at w, as the paper's λ‖w‖² beside L^SAM), gradient clipping clips g_SAM, and the
gradient norms plotted are g_SAM's before clipping (what the update is made of). The probe at
w + ε leaves no trace but its gradients: the weights are copied back exactly, and the module
buffers (a batch norm's running statistics) as they were after the pass at w. Noise inputs
keep the sample drawn at w; dropout draws its masks afresh.
"""
from __future__ import annotations

import torch

from ..errors import TrainingError
from .supervised import Supervised


class SAM(Supervised):
    name = "sam"

    def __init__(self, ctx, c, trainable, needed):
        super().__init__(ctx, c, trainable, needed)
        self.rho = float(self.s.sam_rho)

    def backward(self, loss, args, params, layers, check, objective=None) -> None:
        """∂L/∂w at w + ε into `params`' .grad, the weights back at w."""
        loss.backward()
        with torch.no_grad():
            moved = [p for p in params if p.grad is not None]
            if not moved:
                return
            grads = [p.grad for p in moved]
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
            eps = torch._foreach_mul(grads, self.rho / (norm + 1e-12))
            saved = [p.detach().clone() for p in moved]
            buffers = [(b, b.clone()) for b in self.c.modules.buffers()]
            torch._foreach_add_(moved, eps)
        for p in params:
            p.grad = None
        ctx, c = self.ctx, self.c
        objective = objective if objective is not None else c.objective
        try:
            with ctx.autocast():
                probe = objective(*args)["loss"]
            if check:
                try:
                    ctx.finite_or_raise(c, args, probe, layers,
                                        None if objective is c.objective else objective)
                except TrainingError as e:
                    raise TrainingError(
                        f"{e} (SAM: this is the loss at the probed weights w + ε, "
                        f"ρ = {self.rho:g} from w; a smaller sam_rho may help.)",
                        e.node) from None
            probe.backward()
        finally:
            with torch.no_grad():
                for p, w in zip(moved, saved):
                    p.copy_(w)
                for b, v in buffers:
                    b.copy_(v)
