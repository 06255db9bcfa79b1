"""Traced ops -> a project graph with blocks (issue 26, item 3).

Each user-defined module the model runs (a BasicBlock, an encoder layer) becomes an instance
of a block definition, one definition per class and structure: two uses of a class that
compute the same thing share it, a variant (a BasicBlock with a downsample branch) gets its
own ("BasicBlock_2"). torch's containers (Sequential, ModuleList) are not blocks: their
members sit in the graph of the module that holds them. A value that crosses a module's
boundary becomes a Block input or Block output of its definition.

`paths` maps each original leaf module's path ("layer1.0.conv1") to the compiled graph's
module path ("layer1_0.conv1"): build.copy_weights moves the weights across with it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from dataclasses import dataclass, field

from graph.blocks import type_of
from graph.catalogue.torch_functions import (BLOCK_INPUT, BLOCK_OUTPUT, INPUT, OUTPUT,
                                             input_params)
from graph.layout import layered_positions, wrap_for_aspect
from graph.model import Graph
from graph.names import RESERVED, id_problem

from .source import ImportProblem, InputSpec
from .trace import Op, Traced, Value

Scope = tuple[tuple[str, type], ...]


def _ident(text: str, taken: set[str]) -> str:
    s = re.sub(r"\W+", "_", text).strip("_").replace("__", "_")
    if not s or not s[0].isalpha():
        s = f"m_{s}" if s else "node"
    if s in RESERVED:
        s = f"{s}_"
    base, i = s.rstrip("_"), 2  # "sum_" (a builtin's name) twice: sum_, sum_2 (not sum__2)
    while s in taken or id_problem(s):
        s = f"{base}_{i}"
        i += 1
    taken.add(s)
    return s


@dataclass
class _Part:
    """One scope's content while it is being built: nodes, wires, ports."""
    scope: Scope
    nodes: dict[str, tuple[str, dict]] = field(default_factory=dict)  # id -> (type, params)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)
    ins: dict[Value, str] = field(default_factory=dict)  # outside value -> Block input id
    outs: dict[Value, str] = field(default_factory=dict)  # inside value -> Block output id
    children: dict[str, str] = field(default_factory=dict)  # child module path -> instance id
    ids: dict[str, str] = field(default_factory=dict)  # op name -> node id
    taken: set[str] = field(default_factory=set)
    definition: str = ""  # the block it becomes (set once its content is final)

    @property
    def path(self) -> str:
        return self.scope[-1][0] if self.scope else ""

    def local(self, path: str) -> str:
        """A module path relative to this scope ("layer1.0.conv1" in "layer1.0": "conv1")."""
        return path[len(self.path) + 1:] if self.path else path


@dataclass
class Built:
    graph: Graph
    paths: dict[str, str]  # original leaf module path -> compiled module path
    blocks: int
    nodes_by_type: dict[str, int]


def build_graph(traced: Traced, inputs: list[InputSpec]) -> Built:
    by_name = {op.name: op for op in traced.ops}
    parts: dict[Scope, _Part] = {(): _Part(())}

    def part(scope: Scope) -> _Part:
        if scope not in parts:
            parts[scope] = _Part(scope)
            parent = part(scope[:-1])
            path = scope[-1][0]
            parent.children[path] = _ident(parent.local(path), parent.taken)
        return parts[scope]

    specs = {i.name: i for i in inputs}
    for op in traced.ops:
        p = part(op.scope)
        if op.type == INPUT:
            spec = specs[op.label]
            p.ids[op.name] = _ident(op.label, p.taken)
            p.nodes[p.ids[op.name]] = (INPUT, input_params(spec.sample_shape(), spec.dtype))
            continue
        label = p.local(op.module) if op.module else op.label
        p.ids[op.name] = _ident(label, p.taken)
        p.nodes[p.ids[op.name]] = (op.type, op.params)

    def source(scope: Scope, v: Value) -> tuple[str, str]:
        """(node, port) in `scope`'s graph that gives value `v`."""
        p = parts[scope]
        op = by_name[v.op]
        if op.scope == scope:
            return p.ids[op.name], _port(op, v)
        if op.scope[:len(scope)] == scope:  # made inside a child of this scope
            child = op.scope[:len(scope) + 1]
            return p.children[child[-1][0]], export(child, v)
        return p.ins.get(v) or import_(scope, v), "out"

    def export(scope: Scope, v: Value) -> str:
        p = parts[scope]
        if v not in p.outs:
            y = _ident("y", p.taken)
            p.outs[v] = y
            p.nodes[y] = (BLOCK_OUTPUT, {})
            p.edges.append((*source(scope, v), y, "x"))
        return p.outs[v]

    def import_(scope: Scope, v: Value) -> str:
        p = parts[scope]
        if v not in p.ins:
            x = _ident("x", p.taken)
            p.ins[v] = x
            p.nodes[x] = (BLOCK_INPUT, {})
            parent = parts[scope[:-1]]
            parent.edges.append((*source(scope[:-1], v), parent.children[scope[-1][0]], x))
        return p.ins[v]

    def wire(scope: Scope, v: Value, node: str, port: str) -> None:
        parts[scope].edges.append((*source(scope, v), node, port))

    for op in traced.ops:
        for port, v in op.inputs:
            wire(op.scope, v, parts[op.scope].ids[op.name], port)
    top = parts[()]
    for i, v in enumerate(traced.outputs):
        out = _ident("output" if i == 0 else f"output{i + 1}", top.taken)
        top.nodes[out] = (OUTPUT, {})
        wire((), v, out, "x")

    # Definitions, innermost first: one per class and content
    g = Graph()
    made: dict[str, str] = {}  # content key -> block name
    names: set[str] = set()
    for scope in sorted((s for s in parts if s), key=len, reverse=True):
        p = parts[scope]
        nodes = {n: (type_of(parts[prm].definition), {}) if t == "<child>" else (t, prm)
                 for n, (t, prm) in _with_children(p, parts).items()}
        key = json.dumps([scope[-1][1].__qualname__, sorted(nodes.items()), sorted(p.edges),
                          list(p.ins.values()), list(p.outs.values())], default=str)
        if key not in made:
            name = _ident(scope[-1][1].__name__, names)
            made[key] = name
            d = g.add_block(name, name, _origin(scope[-1][1]))
            _fill(d.graph, p, nodes)
        p.definition = made[key]
    nodes = {n: (type_of(parts[prm].definition), {}) if t == "<child>" else (t, prm)
             for n, (t, prm) in _with_children(top, parts).items()}
    _fill(g, top, nodes)

    paths = {}
    for op in traced.ops:
        if op.module:
            chain = [parts[op.scope[:i - 1]].children[op.scope[i - 1][0]]
                     for i in range(1, len(op.scope) + 1)]
            paths[op.module] = ".".join([*chain, parts[op.scope].ids[op.name]])
    counts: dict[str, int] = {OUTPUT: len(traced.outputs)}
    for op in traced.ops:
        counts[op.type] = counts.get(op.type, 0) + 1
    return Built(g, paths, len(made), counts)


def _origin(cls: type) -> str:
    """'Imported from nets.py: class BasicBlock' (the file, not the name it was run under)."""
    import sys
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    where = Path(file).name if file else cls.__module__
    return f"Imported from {where}: class {cls.__qualname__}."


def _with_children(p: _Part, parts: dict) -> dict:
    """The scope's nodes with its children's instances, as ("<child>", child scope): the
    caller puts the child's definition in."""
    out = dict(p.nodes)
    for scope in parts:
        if scope and scope[:-1] == p.scope:
            out[p.children[scope[-1][0]]] = ("<child>", scope)
    return out


def _fill(g: Graph, p: _Part, nodes: dict) -> None:
    for n, (t, prm) in nodes.items():
        g.add_node(t, n, prm, check_params=False)
    for src, sp, dst, dp in p.edges:
        g.connect(src, sp, dst, dp, check=False)
    # a long chain wraps onto rows, so that the graph fitted to a window stays readable
    for n, xy in layered_positions(g, wrap=wrap_for_aspect(g, 1.6)).items():
        g.move_node(n, xy)


def _port(op: Op, v: Value) -> str:
    from graph import catalogue
    spec = catalogue.get(op.type)
    if len(spec.outputs) == 1 and not v.path:
        return spec.outputs[0].name
    for i, port in enumerate(spec.outputs):
        if (port.path or (i,)) == v.path:
            return port.name
    raise ImportProblem(f"{op.line or op.name}: part {list(v.path)} of {op.type}'s result has "
                        "no port of its own")


def compile_built(built: Built):
    """The imported graph analysed and compiled (runtime.compile.Compiled); ImportProblem,
    in words, if it does not check or compile (an importer's mistake: nothing is written)."""
    from graph.analysis import analyse
    from runtime.compile import CompileError, compile_graph
    analysis = analyse(built.graph)
    if analysis.errors:
        raise ImportProblem(f"the imported graph does not check: {analysis.errors[0]}")
    try:
        return compile_graph(built.graph)
    except CompileError as e:
        raise ImportProblem(f"the imported graph does not compile: {e}") from None
