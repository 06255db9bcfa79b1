"""The modules a compiled graph is made of: where the functions and classes a catalogue
entry names live (OP_MODULES), weight initialisation, modules built on the meta device (for
sizes without memory), and the containers of a block's inner modules (Block)."""
from __future__ import annotations

import functools
import inspect
import operator
from types import SimpleNamespace

import torch
from torch import nn

from graph.spec import Make

from . import losses, ops, recurrent, tensor_ops
from .detection import boxes, heads, masks, rpn

# The modules that define what a catalogue entry names "ops.<name>" (a Make's or a Call's
# target). A name is looked up where it is defined, never through a module that imports it.
OP_MODULES = (ops, recurrent, losses, tensor_ops, boxes, heads, rpn, masks)


def _op_table() -> dict[str, object]:
    """The public functions and classes of OP_MODULES, by name, each from the module that
    defines it; a name two of them define would be ambiguous, so it is refused."""
    table: dict[str, object] = {}
    for mod in OP_MODULES:
        for name, obj in vars(mod).items():
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                    obj.__module__ == mod.__name__ and not name.startswith("_"):
                if name in table:
                    raise ImportError(f"ops.{name} is defined twice: in {table[name].__module__} "
                                      f"and {mod.__name__}")
                table[name] = obj
    return table


OPS = _op_table()
NAMESPACE = {"torch": torch, "nn": nn, "F": torch.nn.functional,
             "ops": SimpleNamespace(**OPS), "operator": operator}


def resolve(target: str):
    """The function or class a plan's target names: 'nn.Linear', 'F.relu', 'ops.roi_align'
    (runtime.detection.boxes.roi_align: see OP_MODULES)."""
    head, *rest = target.split(".")
    obj = NAMESPACE[head]
    for part in rest:
        obj = getattr(obj, part)
    return obj


def init_weights(module: nn.Module, scheme: str) -> None:
    """'xavier': Glorot normal, Var(W) = 2 / (n_in + n_out), which is the seed notes'
    N(0, 1/n_in) when n_in = n_out. 'he': Kaiming normal, W ~ N(0, 2/n_in). Biases to 0."""
    if scheme == "default":
        return
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() < 2:
        return
    with torch.no_grad():
        if scheme == "xavier":
            nn.init.xavier_normal_(w)
        elif scheme == "he":
            nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
        else:
            raise ValueError(f"unknown init scheme {scheme!r}")
        b = getattr(module, "bias", None)
        if isinstance(b, torch.Tensor):
            b.zero_()


def module_at(root: nn.Module, path: str) -> nn.Module | None:
    try:
        return root.get_submodule(path)
    except AttributeError:
        return None


class Block(nn.Module):
    """Holds the modules of one block instance (or one repetition): its state_dict keys
    follow the nesting, `stage2.0.conv1.weight`. `definition` names the block; the forward
    is the model's (one traced graph calls the inner modules)."""

    def __init__(self, definition: str):
        super().__init__()
        self.definition = definition

    def extra_repr(self) -> str:
        return f"block={self.definition!r}"


def place(root: nn.Module, path: str, module: nn.Module, containers: dict) -> None:
    """Register `module` at a dotted `path`, making the containers on the way."""
    *parents, leaf = path.split(".")
    at = root
    for i, part in enumerate(parents):
        here = ".".join(parents[:i + 1])
        child = at._modules.get(part)
        if child is None:
            kind, name = containers.get(here, ("block", ""))
            child = nn.ModuleList() if kind == "list" else Block(name)
            if isinstance(at, nn.ModuleList):
                assert int(part) == len(at), path  # repetitions come in order
                at.append(child)
            else:
                at.add_module(part, child)
        at = child
    if isinstance(at, nn.ModuleList):
        at.append(module)
    else:
        at.add_module(leaf, module)


def meta_module(plan: Make) -> nn.Module:
    """The module `plan` builds, on the meta device: every parameter's shape and dtype, and no
    memory (a 4-TiB Linear takes microseconds). torch raises RuntimeError for sizes it cannot
    hold at all (more than 2⁶³ bytes in one tensor). Shared between equal plans: read it only."""
    key = tuple(sorted(plan.kwargs.items()))
    try:
        hash(key)
    except TypeError:  # a list among the kwargs
        return _meta_build(plan.target, key)
    return _meta_cached(plan.target, key)


def _meta_build(target: str, kwargs: tuple) -> nn.Module:
    cls = resolve(target)
    if _takes_device(cls):  # ~3x cheaper than the device context, which sees every torch call
        return cls(**dict(kwargs), device="meta")
    with torch.device("meta"):
        return cls(**dict(kwargs))


_meta_cached = functools.lru_cache(maxsize=4096)(_meta_build)


@functools.lru_cache(maxsize=None)
def _takes_device(cls) -> bool:
    try:
        return "device" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
