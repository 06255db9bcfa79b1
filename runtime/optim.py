"""Optimizers: building one from the settings, several saved as one (optimizer records), a
checkpoint's optimizer state checked and loaded, and the way around torch.optim's dynamo
wrappers (their import cost 1.4 s of `layerloom train`'s start-up, BENCHMARKS.md)."""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import torch

from .checkpoint import CheckpointError
from .errors import first_line


def build_optimizer(kind: str, params, lr: float, momentum: float = 0.0,
                    weight_decay: float = 0.0, beta1: float = 0.9) -> torch.optim.Optimizer:
    if kind == "adam":
        if beta1 == 0.9:  # torch's default, passed as today: the same optimizer, bit for bit
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999), weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


class OptimizerSet:
    """Several optimizers saved and restored as one: their parameter groups one after the
    other (each tagged with its record's name), parameter ids numbered through. The
    checkpoint format stays that of one optimizer."""

    def __init__(self, named: dict[str, torch.optim.Optimizer]):
        self.named = named

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.named.values() for g in o.param_groups]

    def state_dict(self) -> dict:
        state, groups, base = {}, [], 0
        for name, opt in self.named.items():
            sd = opt.state_dict()
            for pid, st in sd["state"].items():
                state[pid + base] = st
            for g in sd["param_groups"]:
                groups.append({**g, "params": [p + base for p in g["params"]], "record": name})
            base += sum(len(g["params"]) for g in sd["param_groups"])
        return {"state": state, "param_groups": groups}

    def check_state(self, sd: dict) -> None:
        """ValueError unless `sd` was saved from optimizers of the same records."""
        names = [g.get("record") for g in sd["param_groups"]]
        want = [name for name, o in self.named.items() for _ in o.param_groups]
        if names != want:
            raise ValueError(f"its optimizer records are {_names(names)}, this project's "
                             f"{_names(want)}")

    def load_state_dict(self, sd: dict) -> None:
        self.check_state(sd)
        groups = sd["param_groups"]
        base, i = 0, 0
        for name, opt in self.named.items():
            mine = groups[i:i + len(opt.param_groups)]
            i += len(opt.param_groups)
            ids = [p for g in mine for p in g["params"]]
            remap = {p: p - base for p in ids}
            state = {remap[int(p)]: st for p, st in sd["state"].items() if int(p) in remap}
            opt.load_state_dict({"state": state, "param_groups": [
                {k: v for k, v in g.items() if k != "record"} | {"params": [remap[p] for p in
                                                                           g["params"]]}
                for g in mine]})
            base += len(ids)


def _names(names) -> str:
    return ", ".join(f"'{n}'" for n in dict.fromkeys(names)) or "none"


def load_optimizer_state(opt, state: dict, where: Path) -> None:
    """Load a checkpoint's optimizer state (the checkpoint in folder `where`), checking each
    tensor against its parameter first (torch would take a wrong shape and fail at the first
    step). CheckpointError when it does not fit."""
    check = getattr(opt, "check_state", None)  # several optimizers: the same records?
    if check is not None:
        try:
            check(state)
        except ValueError as e:
            raise CheckpointError(f"{where / 'trainer.json'}: optimizer: {e}") from None
    params = [p for g in opt.param_groups for p in g["params"]]
    for pid, st in state.get("state", {}).items():
        if not 0 <= pid < len(params):
            raise CheckpointError(f"{where / 'optimizer.safetensors'}: state of "
                                  f"parameter {pid}, which this graph lacks")
        for name, v in st.items():
            if isinstance(v, torch.Tensor) and v.dim() > 0 and \
                    tuple(v.shape) != tuple(params[pid].shape):
                raise CheckpointError(
                    f"{where / 'optimizer.safetensors'}: '{pid}.{name}' has shape "
                    f"{tuple(v.shape)}, its parameter {tuple(params[pid].shape)}")
    try:
        opt.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{where / 'optimizer.safetensors'}: does not fit this "
                              f"graph's optimizer ({first_line(e)})") from None


# torch.optim without torch._dynamo --------------------------------------------------------------
def spare_dynamo_import() -> None:
    """torch.optim wraps Optimizer.add_param_group, zero_grad, state_dict and
    load_state_dict in torch._disable_dynamo, which imports torch._dynamo (sympy, the FSDP
    modules, …) on the first call, to keep torch.compile out of them: the first optimizer
    cost 1.4 s here, a third of `layerloom train`'s start-up (BENCHMARKS.md). Nothing here
    runs them under torch.compile, so each is marked as already wrapped (the attribute the
    wrapper caches its wrapped function in, set to the function itself). Only while
    torch._dynamo is not loaded, and only for wrappers of that exact shape: with another
    torch, nothing changes but the import cost."""
    if "torch._dynamo" in sys.modules:
        return
    for cls in (torch.optim.Optimizer, torch.optim.Adam, torch.optim.SGD):
        for f in vars(cls).values():
            fn = getattr(f, "__wrapped__", None)
            code = getattr(f, "__code__", None)
            if fn is not None and code is not None and code.co_filename.endswith("_compile.py") \
                    and code.co_name == "inner" and not hasattr(fn, "__dynamo_disable"):
                fn.__dynamo_disable = fn


spare_dynamo_import()  # before any optimizer is made: every one is made after this import


def eager_step(opt: torch.optim.Optimizer):
    """`opt.step` without the two wrappers torch.optim puts around it: one that imports
    torch._dynamo on every call (the first import: 1.4 s) to mark a graph break for
    torch.compile, and one that runs step hooks inside a profiler range. With no hooks
    registered and `differentiable` off, what is left is exactly what they run: the
    optimizer's own update under no_grad (a test checks the weights are bit-identical).
    Anything else (hooks, a differentiable optimizer, another torch's layout) gets the
    usual opt.step."""
    from torch.optim import optimizer as _o
    step = type(opt).step
    raw = inspect.unwrap(step)
    hooks = (opt._optimizer_step_pre_hooks, opt._optimizer_step_post_hooks,
             getattr(_o, "_global_optimizer_pre_hooks", {None: None}),
             getattr(_o, "_global_optimizer_post_hooks", {None: None}))
    if raw is step or raw.__name__ != "step" or any(hooks) or opt.defaults.get("differentiable"):
        return opt.step

    def run() -> None:
        with torch.no_grad():
            raw(opt)
        opt._opt_called = True  # what the hook wrapper records (for LR schedulers)
    return run
