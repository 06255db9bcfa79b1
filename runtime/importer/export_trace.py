"""A PyTorch module -> the same Traced as trace.py, through torch.export (issue 26, item 3).

torch.fx traces symbolically, so Python control flow on an input (`if x.dim() == 3:`, a loop
over x.size(1), `if mask is None` with a config read at call time) stops it. torch.export
(non-strict) runs the forward on the example inputs' shapes instead, and records ATen
operations. This turns its graph into trace.py's `Op`s, so build.py, the weights' copy and the
check are the same:

- the ATen nodes that one call of a torch.nn module with a node type ran (the outermost such
  entry of a node's `nn_module_stack`) become ONE op for that module: its inputs the values
  made outside the call, its output the value used outside (which part of the module's
  result it is comes from a forward hook), its weights through `leaves`;
- the user's own modules in the stack (outer entries, the root left out) are its scope, so
  blocks appear as with fx;
- the other ATen operations translate to the torch names FUNCTIONS keys
  (graph/catalogue/aten_names.py) and map through trace.py's own function mapping; a
  parameter or buffer read outside a layer becomes a Parameter node, as fx's get_attr.

The batch axis is exported as dynamic where every input has the same batch of at least 2, so
that x.view(x.size(0), -1) reads as it does under fx; where torch.export refuses that, the
shapes are exported fixed, and a view's first size equal to the batch is taken as the batch.
Anything unmapped stops the import with an ImportProblem naming the operation and its line.
"""
from __future__ import annotations

import operator

import torch
import torch.fx as fx
from torch import nn
from torch.utils import _pytree as pytree

from graph import catalogue
from graph.catalogue.aten_names import (ATEN_NAMES, CHECKS, IDENTITIES, RESHAPES, SDPA,
                                        SLICES, SPLIT_AS)
from graph.catalogue.coverage import NODE_FOR
from graph.catalogue.torch_functions import INPUT, PARAMETER, getitem_node, parameter_params
from graph.catalogue.torch_functions_generic import sdpa

from .export_patterns import _flat_linears, _kept_as_minus_one, _same, _shape
from .export_run import _is_leaf, export
from .layers import TensorHolder, module_params, tensor_at
from .source import ImportProblem, InputSpec
from .trace import (Op, Traced, Value, _function_op, _is_state, _is_tuple, _is_user_class,
                    _line, _reshape_op, check_wires)

TRACER = "torch.export"
_BIG = 2 ** 62  # an end of slice at or past this is "to the end"
_DTYPES = ("int64", "bool")  # the constants besides floating point a Parameter node holds


class _Node:
    """What trace.py's function mapping reads of an fx node, for an ATen node translated to
    the torch call it came from."""

    def __init__(self, node: fx.Node, name: str, args, kwargs, stack: dict):
        self.name = node.name
        self.args, self.kwargs = tuple(args), dict(kwargs)
        self.meta = {"nn_module_stack": stack, "stack_trace": node.meta.get("stack_trace")}
        where, _, attr = name.partition(".")
        if where == "Tensor":
            self.op, self.target = "call_method", attr
        else:
            self.op = "call_function"
            module = {"F": "torch.nn.functional", "operator": "operator"}.get(where, "torch")
            self.target = type(attr, (), {})
            self.target.__module__, self.target.__name__ = module, attr


def _without_defaults(node: fx.Node) -> tuple[list, dict]:
    """The node's arguments with trailing ones at the ATen schema's defaults dropped, so that
    aten.max_pool2d(x, [2, 2], [], 0, 1, False) reads as F.max_pool2d(x, [2, 2])."""
    args, kwargs = list(node.args), dict(node.kwargs)
    schema = getattr(node.target, "_schema", None)
    if schema is None:
        return args, kwargs
    formal = schema.arguments
    while len(args) > 1 and len(args) <= len(formal):
        f = formal[len(args) - 1]
        if not f.has_default_value() or args[-1] != f.default_value:
            break
        args.pop()
    for f in formal:
        if f.name in kwargs and f.has_default_value() and kwargs[f.name] == f.default_value:
            del kwargs[f.name]
    return args, kwargs


def _equal_split(node: fx.Node) -> bool:
    """x.split(n, dim) into parts of n all alike (the size along dim a multiple of n)."""
    shape, n = _shape(node.args[0]), node.args[1] if len(node.args) > 1 else None
    dim = node.args[2] if len(node.args) > 2 else 0
    return (shape is not None and isinstance(n, int) and n > 0 and isinstance(dim, int)
            and isinstance(shape[dim], int) and shape[dim] % n == 0)


def export_trace(model: nn.Module, inputs: list[InputSpec],
                 unmapped: dict | None = None) -> Traced:
    """Traced, as trace.trace gives it. `unmapped` (a dict): every operation with no node is
    listed there (its name -> the refusals, each naming its line) instead of stopping at the
    first, then the import is refused (the benchmark's list of what is missing)."""
    xs = [i.example(torch.Generator().manual_seed(0)) for i in inputs]
    ep, results, _dynamic = export(model, xs)
    sig = ep.graph_signature
    modules = dict(model.named_modules())
    reads = {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
             **sig.inputs_to_lifted_tensor_constants}
    learned = set(sig.inputs_to_parameters)
    user = list(sig.user_inputs)
    if len(user) != len(inputs):
        raise ImportProblem(f"the model's forward takes {len(user)} tensor input(s) under "
                            f"torch.export; {len(inputs)} --input given")
    graph = ep.graph
    nodes = list(graph.nodes)

    def stack_of(node: fx.Node) -> list[tuple[str, str, nn.Module]]:
        out = []
        for key, (path, _cls) in (node.meta.get("nn_module_stack") or {}).items():
            m = modules.get(path)
            if path and m is not None:
                out.append((key, path, m))
        return out

    def leaf_of(node: fx.Node):
        for key, path, m in stack_of(node):
            if _is_leaf(m):
                return key, path, m
        return None

    def scope_of(node: fx.Node) -> dict:
        scope = {}
        for _key, path, m in stack_of(node):
            if _is_leaf(m):
                break
            if _is_user_class(type(m)):
                scope[path] = (path, type(m))
        return scope

    groups: dict[str, list[fx.Node]] = {}
    group_of: dict[str, str] = {}
    for node in nodes:
        if node.op == "call_function":
            leaf = leaf_of(node)
            if leaf:
                groups.setdefault(leaf[0], []).append(node)
                group_of[node.name] = leaf[0]

    ops: list[Op] = []
    by_name: dict[str, Op] = {}
    values: dict[str, object] = {}
    leaves: dict[str, nn.Module] = {}
    done: set[str] = set()
    calls_seen: dict[str, int] = {}
    dummy = fx.Graph()

    def add(op: Op, value: Value | None = None) -> None:
        ops.append(op)
        by_name[op.name] = op
        values[op.name] = value or Value(op.name)

    def state(a: fx.Node) -> torch.Tensor:
        target = reads[a.name]
        return ep.constants[target] if target in ep.constants else tensor_at(model, target,
                                                                              a.name)

    # Constants: the buffers, and what is computed from them alone (a buffer sliced, a mask
    # of ones, positions from arange) is computed here once, and is a fixed Parameter node
    # where something else reads it
    consts: dict[str, object] = {}
    for node in nodes:
        if node.op == "placeholder" and node.name in reads and node.name not in learned:
            consts[node.name] = state(node)
        elif node.op == "call_function" and node.name not in group_of \
                and str(node.target) not in CHECKS and node.meta.get("val") is not None:
            args = pytree.tree_leaves((node.args, node.kwargs))
            if all(a.name in consts for a in args if isinstance(a, fx.Node)):
                real = pytree.tree_map(lambda a: consts[a.name] if isinstance(a, fx.Node)
                                       else a, (node.args, node.kwargs))
                try:
                    with torch.no_grad():
                        consts[node.name] = node.target(*real[0], **real[1])
                except Exception:  # noqa: BLE001 (then it is mapped as any other)
                    pass

    def use(a, where: str, user_node: fx.Node) -> None:
        """A parameter, buffer or constant read outside a layer: a Parameter node (fixed, but
        for an nn.Parameter), made at first use."""
        if not isinstance(a, fx.Node) or a.name in values:
            return
        if a.op == "placeholder" and a.name in reads:
            target = reads[a.name]
            t = state(a)
        elif a.name in consts and isinstance(consts[a.name], torch.Tensor):
            target, t = f"constant_{a.name}", consts[a.name]
        else:
            return
        dtype = "float32" if t.is_floating_point() else str(t.dtype)[6:]
        if dtype != "float32" and dtype not in _DTYPES:
            problem(f"{_line(a) or where}: a constant {dtype} tensor computed by "
                    f"{str(a.target).rsplit('.', 1)[0]} has no node (a Parameter node holds "
                    "float32, int64 or bool values)", f"{a.target} (a {dtype} constant)")
            values[a.name] = Value(a.name)
            return
        params = parameter_params(list(t.shape), a.name in learned)
        if dtype != "float32":  # integer and bool constants: fixed, saved with the weights
            params.update(dtype=dtype, learn=False)
        leaves[target] = TensorHolder(t)
        add(Op(a.name, PARAMETER, params, [], tuple(scope_of(user_node).values()),
               module=target, label=target.rsplit(".", 1)[-1], line=where))

    def problem(msg: str, name: str) -> None:
        if unmapped is None:
            raise ImportProblem(msg)
        unmapped.setdefault(name, []).append(msg)

    for i, name in enumerate(user):
        add(Op(name, INPUT, {}, [], (), label=inputs[i].name))
    linears = _flat_linears(nodes, reads, learned)

    for node in nodes:
        if node.op != "call_function" or node.name in done:
            continue
        where = _line(node) or node.name
        if node.name in linears:  # HF's Conv1D: x.view(-1, D), addmm, view back
            x, mm, back, w, b = linears[node.name]
            if not isinstance(values.get(x.name), Value):
                problem(f"{where}: a linear layer (view, addmm) of a value that is not a "
                        "tensor the graph computes", "aten.addmm.default")
                values[back.name] = Value(back.name)
                done.update((node.name, mm.name, back.name))
                continue
            path = reads[w.name].rpartition(".")[0] or f"linear_{node.name}"  # the root's
            layer = nn.Linear(*state(w).shape)
            with torch.no_grad():
                layer.weight.copy_(state(w).t())
                layer.bias.copy_(state(b))
            spec = catalogue.get(NODE_FOR[type(layer).__name__])
            leaves[path] = layer
            add(Op(back.name, spec.type, module_params(spec, layer, where),
                   [(spec.inputs[0].name, values[x.name])],
                   tuple(v for k, v in scope_of(node).items() if k != path), module=path,
                   label=path.rsplit(".", 1)[-1], line=where))
            done.update((node.name, mm.name, back.name))
            continue
        if node.name in group_of:
            names = {n.name for n in groups[group_of[node.name]]}
            for n in groups[group_of[node.name]]:
                for a in pytree.tree_leaves((n.args, n.kwargs)):
                    if isinstance(a, fx.Node) and a.name not in names and (
                            a.name in consts or (a.name in reads and not reads[a.name]
                                                 .startswith(leaf_of(node)[1] + "."))):
                        use(a, where, node)
            leaf = leaf_of(node)
            k = calls_seen[leaf[1]] = calls_seen.get(leaf[1], -1) + 1
            made = results.get(leaf[1], [])
            _leaf_op(node, groups[group_of[node.name]], leaf, scope_of(node),
                     made[k] if k < len(made) else None, values, reads, add, done, leaves,
                     where, problem)
            continue
        name = str(node.target)
        if node.name in consts:
            continue
        for a in pytree.tree_leaves((node.args, node.kwargs)):
            use(a, where, node)
        val = node.meta.get("val")
        if name in CHECKS or val is None:
            continue
        if name == "aten.sym_size.int":
            values[node.name] = ("size", tuple(node.args), {})
            continue
        if not isinstance(val, torch.Tensor) and not (
                isinstance(val, (list, tuple)) and val
                and all(isinstance(t, torch.Tensor) for t in val)):  # arithmetic of sizes
            values[node.name] = ("symint", node.name)
            continue
        src = node.args[0] if node.args else None
        if name in IDENTITIES and isinstance(src, fx.Node) and isinstance(
                src.meta.get("val"), torch.Tensor) and src.meta["val"].dtype == val.dtype \
                and src.meta["val"].device == val.device and isinstance(values.get(src.name), Value):
            values[node.name] = values[src.name]
            continue
        stack = scope_of(node)
        try:
            if node.target is operator.getitem:  # a part of a tuple result (torch.chunk's)
                base = values.get(src.name) if isinstance(src, fx.Node) else None
                if not (isinstance(base, Value) and isinstance(node.args[1], int)
                        and base.op in by_name and _is_tuple(by_name[base.op], base)):
                    raise ImportProblem(f"{where}: taking item {node.args[1]!r} of "
                                        f"{src} has no node")
                values[node.name] = Value(base.op, (*base.path, node.args[1]))
            elif name in SLICES:
                _slice(node, values, by_name, stack, add, where)
            elif name in RESHAPES or name == "aten.expand.default" and _same(
                    _shape(node), _shape(src)):
                before, after = _shape(src), _shape(node)
                if _same(before, after) and isinstance(values.get(src.name), Value):
                    values[node.name] = values[src.name]  # x.view(-1, T) of an N × T
                    continue
                args = list(node.args)
                if before and after and _same(before[:1], after[:1]) and all(
                        isinstance(d, int) for d in after[1:]):
                    # the first axis stays (contiguous rows: each sample's stay its own)
                    size = dummy.placeholder(f"batch_of_{src.name}")
                    values[size.name] = ("size", (src, 0), {})
                    args[1] = [size, *after[1:]]
                add(_reshape_op(_Node(node, "Tensor.view", args, {}, stack), values, where))
            elif name == SPLIT_AS[0] and _equal_split(node):  # x.split(n, d) as x.chunk
                dim = node.args[2] if len(node.args) > 2 else 0
                parts = _shape(src)[dim] // node.args[1]
                add(_function_op(_Node(node, SPLIT_AS[1], [src, parts, dim], {}, stack),
                                 values, where))
            elif name == SDPA:
                add(_sdpa_op(node, values, stack, where))
            elif name in ATEN_NAMES:
                args, kwargs = _without_defaults(node)
                if name == "aten.expand.default":
                    args = _kept_as_minus_one(node, args)
                add(_function_op(_Node(node, ATEN_NAMES[name], args, kwargs, stack), values,
                                 where))
            else:
                raise ImportProblem(f"{where}: {name.rsplit('.', 1)[0]} (as torch.export "
                                    "names it) has no node: the import stops (nothing was "
                                    "written)")
        except ImportProblem as e:
            problem(str(e), name)
            values[node.name] = Value(node.name)

    outputs: list[Value] = []
    for it in pytree.tree_leaves(next(n for n in nodes if n.op == "output").args[0]):
        if isinstance(it, fx.Node):
            use(it, "the model's result", it)
        v = values.get(it.name) if isinstance(it, fx.Node) else None
        if not isinstance(v, Value):
            raise ImportProblem("the model returns values that are not tensors of the graph "
                                "(a constant, a size)")
        outputs.append(v)
    if unmapped:
        raise ImportProblem(f"torch.export: {sum(map(len, unmapped.values()))} operation(s) "
                            "have no node: " + ", ".join(f"{k} × {len(n)}"
                                                        for k, n in sorted(unmapped.items())))
    check_wires(ops, outputs, by_name)
    counts: dict[str, int] = {}
    for op in ops:
        if op.module:
            counts[op.module] = counts.get(op.module, 0) + 1
    for path, n in counts.items():
        if n > 1 and any(True for _ in leaves[path].parameters()):
            raise ImportProblem(f"the layer '{path}' is applied {n} times (shared weights): "
                                "not imported yet")
    return Traced(ops, outputs, [i.name for i in inputs], leaves)


def _sdpa_op(node: fx.Node, values: dict, stack: dict, where: str) -> Op:
    """aten.scaled_dot_product_attention: q, k, v and a mask (if a tensor) on torch's
    attention node's ports, the constants its params."""
    args, kwargs = _without_defaults(node)
    if any(isinstance(v, fx.Node) for v in kwargs.values()):
        raise ImportProblem(f"{where}: scaled_dot_product_attention with a computed keyword "
                            "argument has no node")
    got = sdpa([None if isinstance(a, fx.Node) else a for a in args], kwargs)
    if got is None:
        raise ImportProblem(f"{where}: scaled_dot_product_attention with these arguments "
                            f"({', '.join(repr(a) for a in args[3:])}, {kwargs}) has no node")
    type_id, params = got
    inputs = []
    for port, a in zip(("query", "key", "value", "attn_mask"), args):
        if isinstance(a, fx.Node):
            v = values.get(a.name)
            if not isinstance(v, Value):
                raise ImportProblem(f"{where}: scaled_dot_product_attention's {port} is not "
                                    "a tensor the graph computes")
            inputs.append((port, v))
    return Op(node.name, type_id, params, inputs, tuple(stack.values()), label="sdpa",
              line=where)


def _slice(node: fx.Node, values: dict, by_name: dict, stack: dict, add, where: str) -> None:
    """x[:, a:b] and x[:, i] (as fx's getitem); a whole-range slice passes through."""
    args = list(node.args) + [None] * 5
    src, dim = args[0], args[1] or 0
    shape = _shape(src) or ()
    base = values.get(src.name) if isinstance(src, fx.Node) else None
    if not isinstance(base, Value) or base.op not in by_name:
        raise ImportProblem(f"{where}: slicing a value that is not a tensor has no node")
    if dim < 0:
        dim += len(shape)
    if str(node.target) == "aten.slice.Tensor":
        start, end, step = args[2] or 0, args[3], args[4] or 1
        if end is not None and (end >= _BIG or (shape and end >= shape[dim])):
            end = None
        if start == 0 and end is None and step == 1:
            values[node.name] = base
            return
        index = slice(start or None, end, step if step != 1 else None)
    else:
        index = args[2]
    made = getitem_node((slice(None), index)) if dim == 1 else None
    state = _is_state(by_name[base.op], base) if dim == 0 and isinstance(index, int) else False
    if state:
        made = getitem_node(index, True)
    if made is None:
        raise ImportProblem(f"{where}: indexing or slicing along axis {dim} (with "
                            f"{index!r}) has no node (x[:, i] and x[:, a:b] have)")
    type_id, params = made
    port = catalogue.get(type_id).inputs[0].name
    add(Op(node.name, type_id, params, [(port, base)], tuple(stack.values()),
           label=type_id.lower(), line=where, reads_state=state))


def _leaf_op(node, group, leaf, scope, call, values, reads, add, done, leaves, where,
             problem) -> None:
    """One call of a torch.nn module with a node type: one op, whatever ATen it ran. `call`
    (the hook's record, or None) says which argument is which and which part of the
    module's result each value used outside is."""
    key, path, module = leaf
    names = {n.name for n in group}
    done |= names
    own = {p for p, target in reads.items() if target.startswith(path + ".")}
    ins: list[fx.Node] = []  # the tensors made outside the call, in order of first use
    for n in group:
        for a in pytree.tree_leaves((n.args, n.kwargs)):
            if isinstance(a, fx.Node) and a.name not in names and a.name not in own \
                    and isinstance(a.meta.get("val"), torch.Tensor) and a not in ins:
                ins.append(a)
    if call is not None and call.args and len(ins) == max(call.args) + 1:
        ins = [ins[k] for k in call.args]  # attn(x, x, x): the one tensor on three ports
    outs = [n for n in group if any(u.name not in names for u in n.users)]
    type_id = NODE_FOR[type(module).__name__]
    spec = catalogue.get(type_id)
    ports = [p.name for p in spec.inputs]
    try:
        params = module_params(spec, module, f"{path} ({where})")
        if len(ins) > len(ports):
            raise ImportProblem(f"{where}: {path} is given {len(ins)} tensors; its node takes "
                                f"{len(ports)} inputs")
        inputs = []
        for port, a in zip(ports, ins):
            v = values.get(a.name)
            if not isinstance(v, Value):
                raise ImportProblem(f"{where}: {path}'s argument {port} is not a tensor the "
                                    "graph computes")
            inputs.append((port, v))
    except ImportProblem as e:
        problem(str(e), f"{type(module).__name__} (a layer)")
        for n in outs:
            values[n.name] = Value(n.name)
        return
    name = outs[0].name if outs else group[-1].name
    leaves[path] = module
    add(Op(name, type_id, params, inputs, tuple(scope.values()), module=path,
           label=path.rsplit(".", 1)[-1], line=where))
    parts = call.parts if call is not None else []
    for n in outs:
        values[n.name] = Value(name, _part_of(n, names, parts))


def _part_of(n: fx.Node, names: set, parts: list) -> tuple:
    """Which part of a leaf module's result node `n` is: item i of the tuple an ATen call
    gave (aten.lstm's output, h, c) is the module's i-th tensor; else the one of its shape."""
    if n.target is operator.getitem and isinstance(n.args[0], fx.Node) \
            and n.args[0].name in names and isinstance(n.args[1], int) \
            and n.args[1] < len(parts):
        return parts[n.args[1]][0]
    if len(parts) == 1:
        return parts[0][0]
    like = [p for p, shape in parts if shape == _shape(n)]
    return like[0] if like else ()
