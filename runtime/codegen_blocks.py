"""The standalone Python of a model with blocks (issue 25, item 6): one nn.Module class per
block definition, as a person would write it.

The compiled model is flat (one fx graph calling the nested leaf modules, `Compiled.graph`
holds dotted node ids "layer2.0.b1.conv2"). Here it is cut back along the blocks: each
application of a definition (a *scope*: one instance, or one repetition of one) gets a
forward of its own, traced as an fx graph over its nodes, in which each nested instance is
one call of a submodule. Scopes of one definition whose code is the same share one class;
a constructor argument that differs between them becomes a parameter of its __init__ (named
after the block parameter that sets it, else `<node>_<arg>`); scopes whose code differs
(the definition applied to inputs that make other layers) give a class each (BasicBlock,
BasicBlock2). Repetitions become an nn.Sequential (one input, one output: `self.layer2(x)`)
or an nn.ModuleList called one repetition after the other; shared ones one module called N
times. Module paths are the app's, so its state_dict keys (`layer2.0.b1.conv2.weight`) are
the exported class's and the same weights file loads into both.
"""
from __future__ import annotations

import heapq
import keyword
import operator
from dataclasses import dataclass, field

import torch.fx as fx

from graph.spec import Make

from .compile import Compiled, _drop_unused_outputs, _reaching_outputs, resolve


class BlocksCodeError(Exception):
    """The model's blocks cannot be written as classes (said in words)."""


@dataclass
class Scope:
    """One application of a definition (or the model itself, definition None)."""
    definition: str | None
    prefix: str  # its nodes' flat ids start with it: "layer2.0.b1."
    mprefix: str  # their module paths start with it (a shared repetition: the first's)
    nodes: list[str] = field(default_factory=list)  # every flat node in it, nested too
    units: list = field(default_factory=list)  # ("node", id) | ("rep", Inst, r), in order
    insts: dict[str, "Inst"] = field(default_factory=dict)
    ins: list[tuple[str, tuple]] = field(default_factory=list)  # (Block input, value key)
    outs: list[tuple[str, tuple]] = field(default_factory=list)  # (Block output, value key)
    forward: list[str] = field(default_factory=list)
    slots: list = field(default_factory=list)  # ("module", attr, plan) | ("inst", attr, Inst)
    cls: "Klass | None" = None
    names: dict = field(default_factory=dict)  # value key -> its name in the forward


@dataclass
class Inst:
    name: str  # its node's id in the definition holding it
    definition: str
    kind: str  # "single" | "shared" | "seq" | "list"
    reps: list[Scope] = field(default_factory=list)

    @property
    def built(self) -> list[Scope]:
        """The scopes that have modules of their own (a shared instance's first only)."""
        return self.reps if self.kind in ("seq", "list") else self.reps[:1]


@dataclass
class Klass:
    name: str
    definition: str
    scopes: list[Scope]
    params: list[str] = field(default_factory=list)
    slot_param: dict = field(default_factory=dict)  # slot key -> param name


def _tree(c: Compiled, prefix: str, mprefix: str, definition: str | None,
          nodes: list[str]) -> Scope:
    s = Scope(definition, prefix, mprefix, list(nodes))
    groups: dict[str, list[str]] = {}
    for n in nodes:
        head, dot, _ = n[len(prefix):].partition(".")
        if dot:
            groups.setdefault(head, []).append(n)
    for head, members in groups.items():
        path = mprefix + head
        kind, dname = c.containers[path]
        reps: dict[int, list[str]] = {}
        for n in members:
            first = n[len(prefix + head) + 1:].partition(".")[0]
            reps.setdefault(int(first) if first.isdigit() else -1, []).append(n)
        inst = Inst(head, dname, "list" if kind == "list" else
                    ("shared" if -1 not in reps else "single"))
        for r in sorted(reps):
            if r < 0:
                inst.reps.append(_tree(c, f"{prefix}{head}.", f"{path}.", dname, reps[r]))
            else:
                mp = f"{path}.{r}." if kind == "list" else f"{path}."
                inst.reps.append(_tree(c, f"{prefix}{head}.{r}.", mp, dname, reps[r]))
        s.insts[head] = inst
    return s


def _unit_of(s: Scope, n: str):
    head, dot, _ = n[len(s.prefix):].partition(".")
    if not dot:
        return ("node", n)
    inst = s.insts[head]
    for r, rep in enumerate(inst.reps):
        if n.startswith(rep.prefix):
            return ("rep", head, r)
    raise AssertionError(n)


def _order_units(c: Compiled, s: Scope, keep: set[str]) -> None:
    """The scope's nodes and nested repetitions in an order that runs each after what it
    reads (the compiled order where it can)."""
    index = {n: i for i, n in enumerate(c.analysis.order)}
    members: dict = {}
    for n in s.nodes:
        if n in keep:
            members.setdefault(_unit_of(s, n), []).append(n)
    deps = {u: set() for u in members}
    for u, ns in members.items():
        for n in ns:
            for e in c.graph.in_edges(n):
                if e.src.startswith(s.prefix) and e.src in keep:
                    v = _unit_of(s, e.src)
                    if v != u and v in members:
                        deps[u].add(v)
    users: dict = {u: [] for u in members}
    for u, ds in deps.items():
        for d in ds:
            users[d].append(u)
    prio = {u: min(index[n] for n in ns) for u, ns in members.items()}
    ready = [(prio[u], u) for u, ds in deps.items() if not ds]
    heapq.heapify(ready)
    left = {u: len(ds) for u, ds in deps.items()}
    while ready:
        _, u = heapq.heappop(ready)
        s.units.append(u)
        for v in users[u]:
            left[v] -= 1
            if not left[v]:
                heapq.heappush(ready, (prio[v], v))
    if len(s.units) != len(members):
        raise BlocksCodeError("the blocks' computation has a cycle once each block is one call")


def _signature(c: Compiled, s: Scope) -> None:
    """The scope's inputs and outputs: (Block input or output name, the flat value)."""
    d = c.graph.blocks[s.definition]
    g = d.graph
    for i in d.inputs:
        key = None
        for e in g.out_edges(i):
            if e.dst in s.insts:
                child = s.insts[e.dst].reps[0]
                key = next((k for name, k in child.ins if name == e.dst_port), None)
            elif g.spec(e.dst).role.block_port:
                continue
            else:
                same = g.in_edges(e.dst, e.dst_port)
                flat = c.graph.in_edges(s.prefix + e.dst, e.dst_port)
                if len(flat) == len(same):
                    f = flat[same.index(e)]
                    key = (f.src, f.src_port)
            if key is not None:
                break
        if key is not None:
            s.ins.append((i, key))
    for o in d.outputs:
        edges = g.in_edges(o)
        if not edges:
            continue
        e = edges[0]
        if e.src in s.insts:
            last = s.insts[e.src].reps[-1]
            key = next((k for name, k in last.outs if name == e.src_port), None)
        elif g.spec(e.src).role.block_port:
            key = None
        else:
            key = (s.prefix + e.src, e.src_port)
        if key is not None:
            s.outs.append((o, key))


def _seq(inst: Inst) -> bool:
    """Whether a ModuleList can be an nn.Sequential: one input and one output chained."""
    if inst.kind != "list":
        return False
    reps = inst.reps
    return all(len(r.ins) == 1 and len(r.outs) == 1 for r in reps) and all(
        b.ins[0][1] == a.outs[0][1] for a, b in zip(reps, reps[1:]))


def _emit_node(c: Compiled, g: fx.Graph, n: str, vals: dict, target: str, name: str,
               outputs: dict) -> None:
    """Node n in graph g as compile._trace writes it at inference."""
    spec = c.graph.spec(n)
    args, kwargs = [], {}
    for port in spec.inputs:
        if port.phase == "train":
            continue
        vs = [vals[(e.src, e.src_port)] for e in c.graph.in_edges(n, port.name)]
        if not vs and not port.multi:
            continue
        v = vs if port.multi else vs[0]
        if port.optional or port.by_name:
            kwargs[port.name] = v
        else:
            args.append(v)
    if spec.role == "output":
        outputs[n] = args[0]
        return
    if spec.role == "apply":
        raise BlocksCodeError("a model with blocks that applies a sub-network again cannot "
                              "be written as classes yet; export TorchScript or ONNX")
    plan = c.plans[n]
    if isinstance(plan, Make):
        node = g.create_node("call_module", target, tuple(args), kwargs, name=name)
    else:
        node = g.create_node("call_function", resolve(plan.target), tuple(args),
                             {**kwargs, **plan.kwargs}, name=name)
    if len(spec.outputs) == 1:
        vals[(n, spec.outputs[0].name)] = node
        return
    for i, port in enumerate(spec.outputs):
        v = node
        path = port.path or (i,)
        for j, index in enumerate(path):
            v = g.create_node("call_function", operator.getitem, (v, index),
                              name=f"{name}_{port.name}" if j == len(path) - 1 else None)
        vals[(n, port.name)] = v


def _build_forward(c: Compiled, s: Scope, top: bool, entry: list | None = None,
                   returns: list | None = None, calls: dict | None = None) -> None:
    """The scope's forward (fx, then text) and its __init__'s slots, in forward order. A
    decoder's step (codegen_steps): `entry` its arguments ((name, value key)), `returns`
    the value keys it returns; `calls`: a decode node -> the value keys its call passes."""
    from .codegen import _body
    g = fx.Graph()
    vals: dict = {}
    outputs: dict = {}
    if entry is not None:
        for name, key in entry:
            vals.setdefault(key, g.placeholder(name))
    elif top:
        for n in c.inputs:
            v = g.placeholder(n)
            if n in c.standardizers:
                name = c.standardizers[n]
                s.slots.append(("module", name, c.plans[name]))
                v = g.create_node("call_module", name, (v,), name=name)
            vals[(n, c.graph.spec(n).value_port)] = v
    else:
        for name, key in s.ins:  # (one value wired to two inputs: the first is read)
            vals.setdefault(key, g.placeholder(name))
    done = set()
    for u in s.units:
        if u[0] == "node":
            n = u[1]
            spec = c.graph.spec(n)
            if spec.role in ("input", "target", "noise", "feedback"):
                continue
            local = n[len(s.prefix):]
            attr = c.graph.module_path(n)[len(s.mprefix):]
            if isinstance(c.plans.get(n), Make):
                s.slots.append(("module", attr, c.plans[n]))
            if calls and n in calls:  # a decode node: it runs the step, a method
                vals[(n, spec.outputs[0].name)] = g.create_node(
                    "call_module", attr, tuple(vals[k] for k in calls[n]), name=local)
                continue
            _emit_node(c, g, n, vals, attr, local, outputs)
            continue
        inst = s.insts[u[1]]
        rep = inst.reps[u[2]]
        if inst.name not in done:
            done.add(inst.name)
            if _seq(inst):
                inst.kind = "seq"
            s.slots.append(("inst", inst.name, inst))
        if inst.kind == "seq":
            if u[2] == 0:
                node = g.create_node("call_module", inst.name, (vals[rep.ins[0][1]],),
                                     name=inst.name)
                vals[inst.reps[-1].outs[0][1]] = node
            continue
        target = f"{inst.name}.{u[2]}" if inst.kind == "list" else inst.name
        node = g.create_node("call_module", target, tuple(vals[k] for _, k in rep.ins),
                             name=inst.name)
        if len(rep.outs) == 1:
            vals[rep.outs[0][1]] = node
        else:
            for i, (name, key) in enumerate(rep.outs):
                vals[key] = g.create_node("call_function", operator.getitem, (node, i),
                                          name=f"{inst.name}_{name}")
    s.names = {key: v.name for key, v in vals.items()}
    if returns is not None:
        outs = [vals[k] for k in returns]
    elif top:
        outs = [outputs[n] for n in c.outputs]
    else:
        outs = [vals[k] for _, k in s.outs]
    g.output(outs[0] if len(outs) == 1 else tuple(outs))
    _drop_unused_outputs(g)  # (an attention's weights that nothing reads: as compile does)
    s.forward = _body(g)


def _key(s: Scope) -> tuple:
    """What scopes of one class share: the code, and the kinds of module each slot holds."""
    slots = []
    for slot in s.slots:
        if slot[0] == "module":
            slots.append(("module", slot[1], slot[2].target, tuple(slot[2].kwargs)))
        else:
            inst = slot[2]
            slots.append(("inst", slot[1], inst.kind,
                          tuple(id(r.cls) for r in inst.built)))
    return (s.definition, tuple(s.forward), tuple(slots))


def _values(k: Klass, s: Scope) -> dict:
    """Slot key -> the value this scope builds it with."""
    out = {}
    for slot in s.slots:
        if slot[0] == "module":
            for arg, v in slot[2].kwargs.items():
                out[("module", slot[1], arg)] = v
        else:
            for j, r in enumerate(slot[2].built):
                for p, v in _args(r).items():
                    out[("inst", slot[1], j, p)] = v
    return out


def _args(s: Scope) -> dict:
    """The values a scope's class is constructed with, by parameter."""
    k = s.cls
    vals = _values(k, s)
    return {p: vals[key] for key, p in k.slot_param.items()}


def _candidate(c: Compiled, k: Klass, key: tuple) -> str:
    d = c.graph.blocks[k.definition]
    target = f"{key[1]}.{key[-1]}"
    for x in d.exposed:
        if target in x.targets:
            return x.name
    name = f"{key[1]}_{key[-1]}"
    return name + "_" if keyword.iskeyword(name) or name == "self" else name


def _parameters(c: Compiled, k: Klass) -> None:
    """The class's __init__ parameters: the slots whose values differ between its scopes
    (one parameter for the slots of one name that always agree)."""
    per_scope = [_values(k, s) for s in k.scopes]
    names: dict[str, tuple] = {}  # param -> the values it takes, scope by scope
    exposed = {x.name for x in c.graph.blocks[k.definition].exposed}
    varying = []
    for key in per_scope[0]:
        column = tuple(repr(v) for v in (vals[key] for vals in per_scope))
        if len(set(column)) > 1:
            varying.append((key, column, _candidate(c, k, key)))
    # block parameters first; a slot taking a parameter's values in every scope reads it
    # (a BatchNorm2d after a conv: BatchNorm2d(num_features=channels))
    varying.sort(key=lambda item: item[2] not in exposed)
    for key, column, base in varying:
        same = next((p for p, col in names.items() if col == column), None)
        if same is not None:
            k.slot_param[key] = same
            continue
        name, i = base, 2
        while name in names and names[name] != column:
            name, i = f"{base}{i}", i + 1
        names[name] = column
        k.slot_param[key] = name
    k.params = list(names)


def _lit(k: Klass | None, key: tuple, value) -> str:
    if k is not None and key in k.slot_param:
        return k.slot_param[key]
    return repr(value)


def _ctor(k: Klass | None, attr: str, plan: Make) -> str:
    target = plan.target[len("ops."):] if plan.target.startswith("ops.") else plan.target
    args = ", ".join(f"{a}={_lit(k, ('module', attr, a), v)}" for a, v in plan.kwargs.items())
    return f"{target}({args})"


def _inst_ctor(k: Klass | None, attr: str, inst: Inst) -> str:
    calls = []
    for j, r in enumerate(inst.built):
        args = ", ".join(f"{p}={_lit(k, ('inst', attr, j, p), v)}"
                         for p, v in _args(r).items())
        calls.append(f"{r.cls.name}({args})")
    if inst.kind in ("single", "shared"):
        return calls[0]
    box = "nn.Sequential" if inst.kind == "seq" else "nn.ModuleList"
    if len(set(calls)) == 1:
        one = f"*[{calls[0]} for _ in range({len(calls)})]"
        return f"{box}({one})" if inst.kind == "seq" else \
            f"nn.ModuleList([{calls[0]} for _ in range({len(calls)})])"
    inner = ", ".join(calls)
    return f"{box}({inner})" if inst.kind == "seq" else f"nn.ModuleList([{inner}])"


def _init_lines(k: Klass | None, s: Scope) -> list[str]:
    lines = []
    for slot in s.slots:
        if slot[0] == "module":
            lines.append(f"        self.{slot[1]} = {_ctor(k, slot[1], slot[2])}")
        else:
            lines.append(f"        self.{slot[1]} = {_inst_ctor(k, slot[1], slot[2])}")
    return lines


def _class_text(k: Klass) -> str:
    s = k.scopes[0]
    ins = ", ".join(n for n, _ in s.ins) or "none"
    outs = ", ".join(n for n, _ in s.outs) or "nothing"
    params = "".join(f", {p}" for p in k.params)
    lines = [f"class {k.name}(nn.Module):",
             f'    """A block: inputs {ins}; returns {outs}."""', "",
             f"    def __init__(self{params}):", "        super().__init__()",
             *_init_lines(k, s), "", *s.forward]
    return "\n".join(lines) + "\n"


def module_source(c: Compiled, name: str) -> str:
    """The block classes (each after the classes it builds) and the model's class, with a
    method per decoder's step (runtime/codegen_steps.py)."""
    from .codegen import _FILE_NAMES, class_name, model_class_name, used_ops
    from .codegen_steps import decode_args, model_lines, step_build, step_nodes, step_problem
    keep = set(_reaching_outputs(c.graph, c.analysis.phases.model_nodes(c.analysis.order),
                                 None))
    heads = {n.partition(".")[0] for n in keep if "." in n}  # an instance the model runs:
    top_nodes = [n for n in c.analysis.order  # all of it (the app's model holds all its
                 if n in keep or n.partition(".")[0] in heads]  # modules)
    problem = step_problem(c, top_nodes)
    if problem is not None:
        raise BlocksCodeError(problem)
    top = _tree(c, "", "", None, top_nodes)
    model_cls = model_class_name(c, name)
    taken = set(used_ops(c)) | _FILE_NAMES | {model_cls}
    classes: dict[tuple, Klass] = {}
    order: list[Klass] = []

    def visit(s: Scope, is_top: bool, **how) -> None:
        for inst in s.insts.values():
            for rep in inst.reps:
                visit(rep, False)
        _order_units(c, s, set(s.nodes))
        if not is_top:
            _signature(c, s)
        _build_forward(c, s, is_top, **how)
        if is_top:
            return
        key = _key(s)
        k = classes.get(key)
        if k is None:
            d = c.graph.blocks[s.definition]
            base = class_name(d.title)
            cname, i = base, 2
            while cname in taken:
                cname, i = f"{base}{i}", i + 1
            taken.add(cname)
            k = classes[key] = Klass(cname, s.definition, [])
            order.append(k)
        k.scopes.append(s)
        s.cls = k

    args = decode_args(c)  # a decode node -> the values its step reads besides the tokens
    visit(top, True, calls=args)
    steps = {g: _tree(c, "", "", None, step_nodes(c, g)) for g in c.steps}
    for g, s in steps.items():
        visit(s, True, **step_build(c, g, args[g], top.names))
    for k in order:  # children first: a parent's values read its children's parameters
        _parameters(c, k)
    texts = [_class_text(k) for k in order]
    init, methods = model_lines(c, top, steps, _init_lines)
    lines = [f"class {model_cls}(nn.Module):",
             f'    """Inputs: {", ".join(c.inputs) or "none"}; returns '
             f'{", ".join(c.outputs) or "nothing"}."""', "",
             "    def __init__(self):", "        super().__init__()",
             *init, "", *top.forward, *methods]
    return "\n\n".join(texts + ["\n".join(lines) + "\n"])
