"""`training.compile` (issue 27, item 6): the objective a recipe steps, compiled with
torch.compile (TorchInductor) before the first step, with the eager fallback.

torch.compile is lazy: a graph it cannot handle fails at the first call, in the middle of a
step. So the Trainer tries it once before training, on a batch of the training split, in
training mode with gradients (the graph a step runs: forward and backward are compiled
together), and the module's buffers (batch norm's running statistics) are put back after that
trial call. When the trial fails, the objective is left eager and the reason is returned in
words for the run to say; the run then trains exactly as without the setting.

Only the recipes that step the whole objective with autograd are compiled (`compilable` on
the recipe class: the supervised one and sharpness-aware minimization); for the others the
reason it is not compiled is returned."""
from __future__ import annotations

import torch

__all__ = ["compile_objective", "compile_recipe"]


def compile_recipe(recipe, batch: list[torch.Tensor], backend="inductor") -> str:
    """Compile the objective `recipe` steps, tried once on `batch` (training data in the
    objective's data order). Returns '' when compiled, else why it trains eagerly."""
    if not getattr(type(recipe), "compilable", False):
        return (f"torch.compile is not applied to the '{recipe.name}' recipe's steps (only "
                "to the supervised and sam recipes): training eagerly")
    if getattr(recipe, "recs", None):
        return ("torch.compile is not applied to a run with optimizer records "
                "(training.optimizers: each steps its own part of the graph): training "
                "eagerly")
    objective = recipe.c.objective
    if isinstance(objective, torch.nn.parallel.DistributedDataParallel):
        objective = objective.module  # compiled inside DDP: no trial step through its reducer
    args = recipe.args(recipe.c.feeds, batch) if recipe.noise else batch
    with recipe.ctx.autocast():
        return compile_objective(objective, args, backend)


def compile_objective(objective: torch.nn.Module, args: list[torch.Tensor],
                      backend="inductor") -> str:
    """Compile `objective` in place (nn.Module.compile: its state dict keeps its names) and
    call it once on `args`; '' when that worked, else the first line of the failure, with the
    objective eager again."""
    kept = {k: v.detach().clone() for k, v in objective.state_dict().items()}
    rng = torch.get_rng_state()
    was = objective.training
    objective.train()
    try:
        objective.compile(backend=backend)
        out = objective(*args)
        loss = out["loss"] if isinstance(out, dict) else out
        if not torch.is_tensor(loss):
            raise RuntimeError("the compiled objective returned no loss tensor")
        return ""
    except Exception as e:  # noqa: BLE001 any failure of the compiler means: run eagerly
        objective._compiled_call_impl = None  # what nn.Module.compile set: eager again
        torch._dynamo.reset()
        root = getattr(e, "inner_exception", None) or e  # the backend's own error
        first = next((ln.strip() for ln in str(root).splitlines() if ln.strip()), "")
        return (f"torch.compile failed, training eagerly instead: {type(root).__name__}"
                + (f": {first[:300]}" if first else ""))
    finally:
        with torch.no_grad():  # the trial call is not a training step
            for k, v in objective.state_dict().items():
                v.copy_(kept[k])
        torch.set_rng_state(rng)
        objective.train(was)
