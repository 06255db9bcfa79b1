"""torch.nn modules as nodes, for trace.py (issue 26): a module's node params, the wiring of
its call (keyword arguments included), the tensors a model reads directly, and the torch
containers traced as their children in a row. What is particular to a node type is in
graph/catalogue/torch_functions.py (MODULE_READS, CALL_KEYWORDS, CHAINS): tables, read here.
"""
from __future__ import annotations

import inspect
import math

import torch
import torch.fx as fx
from torch import nn

from graph.catalogue.torch_functions import CALL_KEYWORDS, CHAINS, MODULE_READS

from .source import ImportProblem


def _plain(v):
    """A module attribute as a project param value: uniform tuples to one int, tuples to
    lists, sizes to lists."""
    if isinstance(v, torch.Size):
        v = tuple(v)
    if isinstance(v, tuple):
        if v and all(x == v[0] for x in v) and isinstance(v[0], (int, float)):
            return v[0]
        return list(v)
    return v


def _defaults(fn) -> dict:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in sig.parameters.items()
            if p.default is not inspect.Parameter.empty}


# attributes torch keeps that are not constructor arguments, or that say nothing here
_IGNORED = {"training", "inplace", "device", "dtype", "batch_first",
            "_reversed_padding_repeated_twice"}
_MISSING = object()


def _has_bias(module: nn.Module) -> bool:
    b = getattr(module, "bias", None)
    return b if isinstance(b, bool) else b is not None


def _read(module: nn.Module, type_id: str, name: str, default=None):
    """The value of param or constructor argument `name` on `module`: where MODULE_READS
    says it is (a tensor or None read as whether it is there), else the attribute of that
    name; _MISSING where it has none, None where the inputs set it."""
    reads = MODULE_READS.get(type_id, {})
    if name not in reads:
        return getattr(module, name) if hasattr(module, name) else _MISSING
    where = reads[name]
    if where is None:
        return None
    path, values = where if isinstance(where, tuple) else (where, None)
    v = module
    for part in path.split("."):
        v = getattr(v, part, _MISSING)
        if v is _MISSING:
            return _MISSING
    if values is not None:
        return values.get(v, _MISSING)
    if (v is None or isinstance(v, torch.Tensor)) and isinstance(default, bool):
        return v is not None
    return v


def module_params(spec, module: nn.Module, where: str) -> dict:
    """The node params that make `module`: every spec param with a same-named attribute (or
    one MODULE_READS names); a constructor argument the node has no param for must be at
    torch's default, else the import stops naming it."""
    params = {}
    names = {p.name for p in spec.params}
    cls = type(module).__name__
    for p in spec.params:
        raw = _read(module, spec.type, p.name, p.default)
        if p.name == "bias" and p.kind == "bool" and p.name not in MODULE_READS.get(spec.type, {}):
            params["bias"] = _has_bias(module)
        elif raw is not _MISSING and not callable(raw):
            if p.kind in ("ints", "dims", "shape", "numbers", "axes"):
                raw = list(raw) if isinstance(raw, (tuple, list, torch.Size)) else [raw]
            v = _plain(raw) if not isinstance(raw, list) else raw
            # an auto param gets the module's value too: 'auto' may mean another value than
            # the module has (a MaxPool's stride = its window), and a size set is checked
            if p.kind in ("int", "float", "bool", "choice", "str", "padding") and isinstance(v, list):
                raise ImportProblem(
                    f"{where}: {cls}'s {p.name} is {tuple(v)}: the {spec.type} node has one "
                    f"{p.name} for every axis")
            params[p.name] = v
        elif raw is _MISSING and p.name in MODULE_READS.get(spec.type, {}):
            raise ImportProblem(f"{where}: {cls}'s {p.name} is not one the {spec.type} node "
                                f"has ({', '.join(map(repr, p.choices)) or 'its kind'})")
    if _read(module, spec.type, "batch_first", True) not in (True, _MISSING) and \
            "batch_first" not in names:
        raise ImportProblem(f"{where}: {cls}(batch_first=False): the {spec.type} node reads "
                            "the batch first; build the module with batch_first=True")
    for k, default in _defaults(type(module).__init__).items():
        if k in names or k in _IGNORED:
            continue
        if k == "bias" and k not in MODULE_READS.get(spec.type, {}):
            if hasattr(module, "bias") and _has_bias(module) != bool(default):
                raise ImportProblem(f"{where}: {cls}(bias={_has_bias(module)}): the "
                                    f"{spec.type} node has no bias setting (only torch's "
                                    "default)")
            continue
        v = _read(module, spec.type, k, default)
        if v is _MISSING or v is None and k in MODULE_READS.get(spec.type, {}):
            continue
        if callable(v) or isinstance(v, (torch.Tensor, nn.Module)):
            continue
        if _plain(v) != _plain(default) and not (isinstance(default, (int, float)) and
                                                  isinstance(_plain(v), (int, float)) and
                                                  math.isclose(_plain(v), default)):
            raise ImportProblem(f"{where}: {cls}({k}={_plain(v)!r}): the {spec.type} node "
                                f"has no {k} (only torch's default, {default!r})")
    for p in spec.params:
        if p.name in params:
            why = p.check(params[p.name])
            if why:
                raise ImportProblem(f"{where}: {cls}'s {p.name} = {params[p.name]!r}: the "
                                    f"{spec.type} node's {p.name} {why}")
    return params


def call_keywords(spec, module: nn.Module, node: fx.Node, where: str
                  ) -> tuple[list[tuple[str, fx.Node]], set[str]]:
    """A layer's call's keyword arguments: (port, fx node) for those naming an input port,
    and the output ports that differ from torch's at the call's settings (CALL_KEYWORDS).
    A keyword at its forward's default changes nothing; any other stops the import."""
    ports = {p.name for p in spec.inputs}
    defaults = _defaults(module.forward)
    table = CALL_KEYWORDS.get(spec.type, {})
    wired, spoiled = [], set()
    for k, v in node.kwargs.items():
        if k in ports and isinstance(v, fx.Node):
            wired.append((k, v))
        elif k in ports and v is None or k in table:
            continue
        elif k in defaults and not isinstance(v, fx.Node) and _same(v, defaults[k]):
            continue
        else:
            shown = "a computed value" if isinstance(v, fx.Node) else repr(v)
            raise ImportProblem(f"{where}: {node.target} is called with {k}={shown}: the "
                                f"{spec.type} node has no such setting")
    for k, (keeps, outputs) in table.items():
        if not _same(node.kwargs.get(k, defaults.get(k, keeps)), keeps):
            spoiled |= set(outputs)
    return wired, spoiled


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 (a tensor's ==)
        return False


class TensorHolder(nn.Module):
    """A tensor the model reads directly (an nn.Parameter, or a buffer), held as `weight`,
    the name a Parameter node's module gives it: the import copies it across with it."""

    def __init__(self, tensor: torch.Tensor):
        super().__init__()
        if isinstance(tensor, nn.Parameter):
            self.weight = tensor
        else:
            self.register_buffer("weight", tensor)


def tensor_at(model: nn.Module, target: str, where: str) -> torch.Tensor:
    """The tensor an fx get_attr node reads ('cls_token', 'blocks.0.gamma')."""
    obj = model
    for part in target.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, torch.Tensor):
        raise ImportProblem(f"{where}: the model reads its attribute '{target}' "
                            f"({type(obj).__name__}), which is not a tensor")
    return obj


def chained(m: nn.Module, forward):
    """For a torch container in CHAINS: a forward that calls its children in a row, with a
    refusal for calls that pass more than the input (masks: its own forward then differs)."""
    names = CHAINS.get(type(m).__name__)
    if names is None or type(m) is not getattr(nn, type(m).__name__, None):
        return forward

    def run(*args, **kwargs):
        extra = [k for k, v in kwargs.items() if v is not None and v is not False]
        if len(args) != 1 or extra:
            raise ImportProblem(f"nn.{type(m).__name__} is called with "
                                f"{', '.join(extra) or 'more than its input'}: it is imported "
                                "as its layers in a row, which it is called with its input "
                                "alone")
        x = args[0]
        for name in names:
            child = getattr(m, name, None)
            if child is None:
                continue
            for c in (child if isinstance(child, (nn.ModuleList, nn.Sequential)) else [child]):
                x = c(x)
        return x
    return run
