"""The model summary: each node's output shape and parameter count (torch is the oracle: the
module is built on the meta device, which gives every parameter's shape and no memory, so a
4-TiB layer is counted in microseconds)."""
from __future__ import annotations

from dataclasses import dataclass

from graph.analysis import Analysis, analyse
from graph.blocks import block_name
from graph.flatten import flatten
from graph.model import Graph
from graph.spec import Make

from .compile import build_plan, meta_module


@dataclass(frozen=True)
class Row:
    node: str
    type: str
    output: str  # the inferred output type(s), "?" where unknown
    params: int | None  # None where the node cannot be built (yet)


def node_params(graph: Graph, analysis: Analysis, node: str) -> int | None:
    """The node's parameter count; a block instance's: its inner layers' (a shared
    repetition once, a loop its cell's)."""
    name = block_name(graph.node_type(node))
    if name is not None:
        return _instance_params(graph, analysis, node)
    if graph.spec(node).build is None:
        return 0
    plan = build_plan(graph, analysis, node)
    if plan is None:  # a type it needs is unknown
        return None
    if not isinstance(plan, Make):
        return 0
    try:
        module = meta_module(plan)
    except RuntimeError:  # more than 2⁶³ bytes in one tensor: compile says so in words
        return None
    return sum(p.numel() for p in module.parameters())


def _instance_params(graph: Graph, analysis: Analysis, node: str) -> int | None:
    """The layers the graph's expansion (graph/flatten.py) puts inside the instance, each
    counted once (a shared repetition's module is one)."""
    if graph.blocks[block_name(graph.node_type(node))].loop:
        return _loop_params(graph, analysis, node)
    flat = flatten(graph)
    fa = analyse(flat.graph)
    total, seen = 0, set()
    for n in flat.graph.nodes():
        path = flat.graph.module_path(n)
        if flat.origin.get(n) != node or path in seen:
            continue
        seen.add(path)
        k = node_params(flat.graph, fa, n)
        if k is None:
            return None
        total += k
    return total


def _loop_params(graph: Graph, analysis: Analysis, node: str) -> int | None:
    from graph.loops import cell_graph
    try:
        cell, _ = cell_graph(graph, node, analysis)
    except (AttributeError, IndexError, KeyError, TypeError):  # its types are not known yet
        return None
    rows = summarise(cell, analyse(cell))
    return None if any(r.params is None for r in rows) else sum(r.params for r in rows)


def summarise(graph: Graph, analysis: Analysis) -> list[Row]:
    rows = []
    for n in graph.nodes():
        spec = graph.spec(n)
        types = [(p.name, analysis.out_type(n, p.name)) for p in spec.outputs]
        if not types:
            out = "—"
        elif len(types) == 1:
            out = str(types[0][1]) if types[0][1] else "?"
        else:
            out = ", ".join(f"{name}: {t if t else '?'}" for name, t in types)
        rows.append(Row(n, spec.type, out, node_params(graph, analysis, n)))
    return rows
