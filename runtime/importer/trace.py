"""A PyTorch module -> a list of Ops, each a catalogue node to be (issue 26, item 3).

torch.fx traces the module symbolically. Standard torch.nn modules with a node type
(graph/catalogue/coverage.py) stay leaves; the user's own modules are traced through, and
each op keeps the chain of user modules it ran in (fx's nn_module_stack), from which
build.py makes block definitions. Functions and tensor methods map through FUNCTIONS: a
fixed table, never eval. A tensor the model reads directly (a ViT's class token, an
nn.Parameter or buffer outside a layer) becomes a Parameter node holding it; the layers'
own params, call keywords and torch containers traced as their children: layers.py. Anything else stops the import with an ImportProblem naming the
operation and its source line: no partial graph.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.fx as fx
from torch import nn

from graph import catalogue
from graph.catalogue.coverage import NODE_FOR
from graph.catalogue.torch_functions import (FUNCTIONS, INPUT, PARAMETER, getitem_node,
                                             parameter_params, reshape_node)

from .layers import TensorHolder, call_keywords, chained, module_params, tensor_at
from .own_export import own_node_type
from .source import ImportProblem


@dataclass(frozen=True)
class Value:
    """What flows on a wire: an op's output, or a part of it (`path` into a tuple result)."""
    op: str
    path: tuple[int, ...] = ()


@dataclass
class Op:
    name: str  # the fx node's name
    type: str  # catalogue type id
    params: dict
    inputs: list[tuple[str, Value]]  # (port, value); a multi port appears once per value
    scope: tuple[tuple[str, type], ...]  # the user modules it runs in: (path, class), outer first
    module: str | None = None  # a leaf module's path in the original model
    label: str = ""  # a readable name for its node id ("conv1", "add")
    line: str = ""  # where in the source it comes from
    reads_state: bool = False  # indexes a recurrent layer's final state (h[-1])
    spoiled: frozenset = frozenset()  # output ports that differ from torch's at this call
    own: bool = False  # a copy of LayerLoom's own class: its outputs are the node's, as they are


@dataclass
class Traced:
    ops: list[Op]
    outputs: list[Value]  # what the model returns, in order
    inputs: list[str]  # the placeholders' names, in order
    leaves: dict[str, nn.Module] = field(default_factory=dict)  # module path -> module


def _is_user_class(cls: type) -> bool:
    return not cls.__module__.startswith("torch.")


def node_type_of(m: nn.Module) -> str | None:
    """The node type a module is a leaf of: a torch.nn class with a node, or a copy of a
    runtime class a node builds (a project's own Python export: own_export.py)."""
    if type(m).__name__ in NODE_FOR and type(m) is getattr(nn, type(m).__name__, None):
        return NODE_FOR[type(m).__name__]
    return own_node_type(m)


class _Tracer(fx.Tracer):
    """Leaves: the torch.nn modules that have a node type; everything else is traced into."""

    def __init__(self):
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return node_type_of(m) is not None

    def call_module(self, m: nn.Module, forward, args, kwargs):
        """torch containers whose forward cannot be traced (nn.TransformerEncoder's fast-path
        checks) run as their children in a row (torch_functions.CHAINS)."""
        return super().call_module(m, chained(m, forward), args, kwargs)


_TORCH = str(Path(torch.__file__).parent)


def _line(node: fx.Node) -> str:
    """The user's source line an fx node came from: 'file.py, line 12: x = a + b' (the last
    frame outside torch's own files)."""
    trace = node.meta.get("stack_trace") or ""
    lines = [ln.strip() for ln in trace.strip().splitlines()]
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].startswith("File "):
            continue
        try:
            file = lines[i].split('"')[1]
            lineno = lines[i].split("line ")[1].split(",")[0]
        except IndexError:
            continue
        if file.startswith(_TORCH):
            continue
        code = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("File ") else ""
        return f"{Path(file).name}, line {lineno}: {code}".rstrip(": ")
    return ""


def _scope(node: fx.Node, leaf: bool) -> tuple[tuple[str, type], ...]:
    stack = list((node.meta.get("nn_module_stack") or {}).values())
    if leaf and stack:
        stack = stack[:-1]  # the leaf module itself is the op, not a scope
    return tuple((path, cls) for path, cls in stack if _is_user_class(cls))


def _name_of(target) -> str:
    """An fx target's qualified name, as torch_functions.FUNCTIONS keys it: "torch.relu",
    "F.relu", "Tensor.relu", "operator.add"."""
    if isinstance(target, str):
        return f"Tensor.{target}"
    mod = getattr(target, "__module__", "") or ""
    name = getattr(target, "__name__", repr(target))
    if mod.startswith("torch.nn.functional"):
        return f"F.{name}"
    if mod in ("_operator", "operator"):
        return f"operator.{name}"
    return f"torch.{name}" if mod.startswith("torch") or mod == "" else f"{mod}.{name}"


_SYMBOLS = {"operator.add": "+", "operator.mul": "*", "operator.sub": "-",
            "operator.truediv": "/", "operator.matmul": "@", "operator.getitem": "[ ]",
            "operator.pow": "**", "operator.neg": "unary -", "operator.floordiv": "//",
            "operator.mod": "%", "operator.gt": ">", "operator.lt": "<", "operator.ge": ">=",
            "operator.le": "<=", "operator.eq": "==", "operator.ne": "!=",
            "operator.abs": "abs()", "operator.iadd": "+=", "operator.isub": "-=",
            "operator.imul": "*=", "operator.itruediv": "/="}


def _say(target) -> str:
    """How the user wrote it: 'torch.cumsum', 'x.cumsum', '-'."""
    name = _name_of(target)
    return _SYMBOLS.get(name, name)


# ----------------------------------------------------------------------------------------

def trace(model: nn.Module, input_names: list[str]) -> Traced:
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except ImportProblem:
        raise
    except Exception as e:  # noqa: BLE001 (fx: control flow on data, and the like)
        raise ImportProblem(f"torch.fx cannot trace the model: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from None
    leaves = dict(model.named_modules())
    ops: list[Op] = []
    values: dict[str, object] = {}  # fx node name -> Value, a constant, or a list of them
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(input_names):
        names = ", ".join(n.target for n in placeholders)
        raise ImportProblem(f"the model's forward takes {len(placeholders)} input(s) ({names}); "
                            f"{len(input_names)} --input given")
    outputs: list[Value] = []
    by_name: dict[str, Op] = {}
    for node in graph.nodes:
        where = _line(node) or node.name
        if node.op == "placeholder":
            values[node.name] = Value(node.name)
            ops.append(Op(node.name, INPUT, {}, [], (), label=node.target))
            by_name[node.name] = ops[-1]
            continue
        if node.op == "output":
            out = node.args[0]
            items = list(out) if isinstance(out, (tuple, list)) else [out]
            for it in items:
                v = values.get(it.name) if isinstance(it, fx.Node) else None
                if not isinstance(v, Value):
                    raise ImportProblem(f"the model returns {type(it).__name__} values that "
                                        "are not tensors of the graph (a dict, a constant)")
                outputs.append(v)
            continue
        if node.op == "get_attr":  # a tensor of its own: an nn.Parameter or a buffer
            tensor = tensor_at(model, node.target, where)
            leaves[node.target] = TensorHolder(tensor)
            ops.append(Op(node.name, PARAMETER,
                          parameter_params(list(tensor.shape), isinstance(tensor, nn.Parameter)),
                          [], _scope(node, False), module=node.target,
                          label=node.target.rsplit(".", 1)[-1], line=where))
            by_name[node.name] = ops[-1]
            values[node.name] = Value(node.name)
            continue
        if node.op == "call_function" and node.target is getattr and node.args[1:] == ("shape",):
            values[node.name] = ("size", node.args[:1], {})  # x.shape, as x.size()
            continue
        if node.op == "call_function" and node.target is operator.getitem:
            src, index = node.args
            base = values.get(src.name) if isinstance(src, fx.Node) else None
            if isinstance(base, tuple) and base[0] == "size" and len(base[1]) == 1 \
                    and isinstance(index, int):
                values[node.name] = ("size", (*base[1], index), {})  # x.shape[0]
                continue
            if isinstance(base, Value) and isinstance(index, int) and _is_tuple(by_name[base.op], base):
                values[node.name] = Value(base.op, (*base.path, index))  # a part of a result
                continue
            state = isinstance(base, Value) and _is_state(by_name[base.op], base)
            made = getitem_node(index, state) if isinstance(base, Value) else None
            if made is None:
                raise ImportProblem(f"{where}: indexing or slicing a tensor (with {index!r}) "
                                    "has no node (x[:, i] and x[:, a:b] have)")
            type_id, params = made
            port = catalogue.get(type_id).inputs[0].name
            ops.append(Op(node.name, type_id, params, [(port, Value(base.op, base.path))],
                          _scope(node, False), label=type_id.lower(), line=where,
                          reads_state=state))
            by_name[node.name] = ops[-1]
            values[node.name] = Value(node.name)
            continue
        if node.op == "call_method" and node.target == "size":
            values[node.name] = ("size", node.args, node.kwargs)
            continue
        if node.op == "call_module":
            module = leaves[node.target]
            type_id = node_type_of(module)
            spec = catalogue.get(type_id)
            params = module_params(spec, module, f"{node.target} ({where})")
            by_keyword, spoiled = call_keywords(spec, module, node, where)
            ports = [p.name for p in spec.inputs]
            inputs = []
            for i, (port, a) in enumerate([*zip(ports, node.args), *by_keyword]):
                v = values.get(a.name) if isinstance(a, fx.Node) else None
                if not isinstance(v, Value) or i >= len(ports):
                    raise ImportProblem(f"{where}: {node.target}'s argument {port} is not a "
                                        "tensor the graph computes")
                inputs.append((port, v))
            if len(node.args) > len(ports):
                raise ImportProblem(f"{where}: {node.target} is called with "
                                    f"{len(node.args)} arguments; its node takes "
                                    f"{len(ports)} inputs")
            ops.append(Op(node.name, type_id, params, inputs, _scope(node, True),
                          module=node.target, label=node.target.rsplit(".", 1)[-1], line=where,
                          spoiled=frozenset(spoiled),
                          own=own_node_type(module) is not None))
            by_name[node.name] = ops[-1]
            values[node.name] = Value(node.name)
            leaves[node.target] = module
            continue
        if node.op in ("call_function", "call_method"):
            ops.append(_function_op(node, values, where))
            by_name[node.name] = ops[-1]
            values[node.name] = Value(node.name)
            continue
        raise ImportProblem(f"{where}: fx operation {node.op} is not mapped")
    check_wires(ops, outputs, by_name)
    used = {op.module for op in ops if op.module}
    counts = {}
    for op in ops:
        if op.module:
            counts[op.module] = counts.get(op.module, 0) + 1
    for path, n in counts.items():
        if n > 1 and any(True for _ in leaves[path].parameters()):
            raise ImportProblem(f"the layer '{path}' is applied {n} times (shared weights): "
                                "not imported yet")
    return Traced(ops, outputs, input_names, {p: leaves[p] for p in used})


def check_wires(ops: list[Op], outputs: list[Value], by_name: dict) -> None:
    """Each wire takes one tensor the node gives as torch gives it: no whole tuple, no
    recurrent state in torch's layout, no output the call's settings change."""
    for op in ops:
        for _port, v in op.inputs:
            if not op.reads_state:
                _check_whole(by_name[v.op], v, op.line or op.name)
            _check_spoiled(by_name[v.op], v, op.line or op.name)
    for v in outputs:
        _check_whole(by_name[v.op], v, "the model's result")
        _check_spoiled(by_name[v.op], v, "the model's result")


def _ports_of(op: Op, v: Value) -> list:
    """The output ports of `op` that `v` (a path into its result) covers."""
    spec = catalogue.get(op.type)
    if len(spec.outputs) == 1:
        return list(spec.outputs) if not v.path else []
    return [p for i, p in enumerate(spec.outputs) if (p.path or (i,))[:len(v.path)] == v.path]


def _is_tuple(op: Op, v: Value) -> bool:
    """Whether `v` is a tuple of several ports (so indexing it picks a part of the result)."""
    if len(catalogue.get(op.type).outputs) == 1:
        return False
    ports = _ports_of(op, v)
    return len(ports) > 1 or (len(ports) == 1 and len(ports[0].path or (0,)) > len(v.path))


def _is_state(op: Op, v: Value) -> bool:
    """A recurrent layer's final state: torch lays it out layers × N × H, the node N ×
    layers × H."""
    spec = catalogue.get(op.type)
    ports = _ports_of(op, v)
    return (not op.own and spec.sequence_input is not None and len(ports) == 1
            and ports[0] is not spec.outputs[0] and len(ports[0].path or (0,)) == len(v.path))


def _check_whole(op: Op, v: Value, where: str) -> None:
    if _is_tuple(op, v):
        raise ImportProblem(f"{where}: uses {op.module or op.name}'s whole result (a tuple) "
                            "where one tensor is needed")
    if _is_state(op, v):
        raise ImportProblem(f"{where}: uses {op.module or op.name}'s final state as torch "
                            "lays it out (layers × N × H) where the node gives it batch first "
                            "(N × layers × H): index it, h[-1], to take the last layer's")


def _check_spoiled(op: Op, v: Value, where: str) -> None:
    used = {p.name for p in _ports_of(op, v)} & op.spoiled
    if used:
        raise ImportProblem(f"{where}: uses {op.module or op.name}'s {', '.join(sorted(used))}, "
                            f"which torch computes otherwise at this call's settings than the "
                            f"{op.type} node gives it")


def _function_op(node: fx.Node, values: dict, where: str) -> Op:
    target = node.target
    entry = FUNCTIONS.get(_name_of(target))
    args = list(node.args)
    if node.op == "call_method" and target in ("view", "reshape"):
        return _reshape_op(node, values, where)
    if entry is None:
        raise ImportProblem(f"{where}: {_say(target)} has no node: the import stops "
                            "(nothing was written)")
    type_id, get_params, wired = entry
    if wired == "batch" and len(args) == 2 and isinstance(args[1], (list, tuple)):
        args = [args[0], *args[1]]  # x.expand((n, -1, -1)) as x.expand(n, -1, -1)
    consts = [None if isinstance(a, fx.Node) else a for a in args]
    params = get_params(consts, dict(node.kwargs))
    if params is None:
        raise ImportProblem(f"{where}: {_say(target)} with these arguments "
                            f"({', '.join(repr(a) for a in consts[1:])}) has no node")
    if isinstance(params, tuple):  # these arguments make another node than the entry's
        type_id, params = params
    inputs: list[tuple[str, Value]] = []
    spec = catalogue.get(type_id)
    port = spec.inputs[0].name
    if wired == "list":  # torch.cat([a, b], 1)
        items = args[0]
        for a in items:
            v = values.get(a.name) if isinstance(a, fx.Node) else None
            if not isinstance(v, Value):
                raise ImportProblem(f"{where}: {_say(target)} of a value that is not a tensor")
            inputs.append((port, v))
    elif wired == "binary":
        if len(args) != 2 or not all(isinstance(a, fx.Node) for a in args) or node.kwargs:
            raise ImportProblem(f"{where}: {_say(target)} with a constant "
                                f"({', '.join(repr(a) for a in args if not isinstance(a, fx.Node))})"
                                " has no node yet: only tensor + tensor")
        for a in args:
            v = values.get(a.name)
            if not isinstance(v, Value):
                raise ImportProblem(f"{where}: {_say(target)} of a value that is not a tensor")
            inputs.append((port, v))
    elif wired == "batch":  # x.expand(y.shape[0], -1, ...): x, and y for its batch size
        v = values.get(args[0].name) if isinstance(args[0], fx.Node) else None
        n = values.get(args[1].name) if isinstance(args[1], fx.Node) else None
        like = (values.get(n[1][0].name) if isinstance(n, tuple) and n[0] == "size" and
                len(n[1]) == 2 and n[1][1] == 0 and isinstance(n[1][0], fx.Node) else None)
        if not isinstance(v, Value) or not isinstance(like, Value):
            raise ImportProblem(f"{where}: {_say(target)} to a size other than another "
                                "tensor's batch (y.shape[0], -1, ...) has no node")
        inputs += [(port, v), (spec.inputs[1].name, like)]
    elif wired == "tensors":  # each tensor argument into the node's ports, in order
        inputs += _tensor_inputs(node, args, spec, values, where)
    else:  # "first"
        a = args[0]
        v = values.get(a.name) if isinstance(a, fx.Node) else None
        if not isinstance(v, Value):
            raise ImportProblem(f"{where}: {_say(target)} of a value that is not a tensor")
        inputs.append((port, v))
        if any(isinstance(x, fx.Node) for x in args[1:]) or any(
                isinstance(x, fx.Node) for x in node.kwargs.values()):
            raise ImportProblem(f"{where}: {_say(target)} with a computed argument has no "
                                "node yet")
    label = getattr(target, "__name__", str(target)).strip("_")
    return Op(node.name, type_id, params, inputs, _scope(node, False), label=label, line=where)


def _has_node(x) -> bool:
    if isinstance(x, (list, tuple)):
        return any(_has_node(i) for i in x)
    return isinstance(x, fx.Node)


def _tensor_inputs(node: fx.Node, args: list, spec, values: dict, where: str) -> list:
    """The tensor arguments of a call, in order, on the node's ports (the last port, if it
    is a multi port, takes the rest); every other argument is a constant, already a param."""
    say = _say(node.target)
    if any(_has_node(a) for a in args if not isinstance(a, fx.Node)) or any(
            _has_node(v) for v in node.kwargs.values()):
        raise ImportProblem(f"{where}: {say} with a computed argument (not a constant) has "
                            "no node yet")
    ports = [p for p in spec.inputs if not p.optional]
    tensors = [a for a in args if isinstance(a, fx.Node)]
    out = []
    for i, a in enumerate(tensors):
        v = values.get(a.name)
        if not isinstance(v, Value):
            raise ImportProblem(f"{where}: {say} of a value that is not a tensor")
        if i >= len(ports) and not (ports and ports[-1].multi):
            break
        out.append((ports[min(i, len(ports) - 1)].name, v))
    if len(tensors) != len(ports) and not (ports and ports[-1].multi and
                                          len(tensors) >= len(ports)):
        consts = ", ".join(repr(a) for a in args if not isinstance(a, fx.Node))
        raise ImportProblem(f"{where}: {say} of {len(tensors)} tensor(s) and the constant(s) "
                            f"{consts or 'none'}: its node, {spec.title}, takes "
                            f"{len(ports)} tensor(s) ({', '.join(p.name for p in ports)})")
    return out


def _reshape_op(node: fx.Node, values: dict, where: str) -> Op:
    """x.view(x.size(0), -1) and x.reshape(n, a, b): the batch stays, the rest is constant."""
    args = list(node.args)
    x = args[0]
    v = values.get(x.name) if isinstance(x, fx.Node) else None
    dims = args[1:] if len(args) > 2 or not isinstance(args[1], (list, tuple)) else list(args[1])
    if not isinstance(v, Value) or not dims:
        raise ImportProblem(f"{where}: Tensor.{node.target} of a value that is not a tensor")
    first, rest = dims[0], dims[1:]
    batch = (isinstance(first, fx.Node) and isinstance(values.get(first.name), tuple)
             and values[first.name][0] == "size" and tuple(values[first.name][1][1:]) == (0,))
    if not batch or not all(isinstance(d, int) for d in rest) or not rest:
        raise ImportProblem(f"{where}: Tensor.{node.target} to a shape that does not keep the "
                            "batch first (write x.view(x.size(0), ...)) has no node yet")
    type_id, params = reshape_node(list(rest))
    port = catalogue.get(type_id).inputs[0].name
    return Op(node.name, type_id, params, [(port, v)], _scope(node, False),
              label=type_id.lower(), line=where)
