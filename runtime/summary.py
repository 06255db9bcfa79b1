"""The model summary: each node's output shape and parameter count (torch is the oracle:
the module is built and its parameters counted)."""
from __future__ import annotations

from dataclasses import dataclass

from graph.analysis import Analysis
from graph.model import Graph
from graph.spec import BuildContext, Make

from .compile import resolve


@dataclass(frozen=True)
class Row:
    node: str
    type: str
    output: str  # the inferred output type(s), "?" where unknown
    params: int | None  # None where the node cannot be built yet


def node_params(graph: Graph, analysis: Analysis, node: str) -> int | None:
    spec = graph.spec(node)
    if spec.build is None:
        return 0
    ins = {}
    for port in spec.inputs:
        types = [analysis.edge_type(e) for e in graph.in_edges(node, port.name)]
        if any(t is None for t in types):
            return None
        ins[port.name] = types if port.multi else (types[0] if types else None)
    outs = {p.name: analysis.out_type(node, p.name) for p in spec.outputs}
    if any(t is None for t in outs.values()):
        return None
    plan = spec.build(BuildContext(node, spec.resolved(graph.params(node)), ins, outs))
    if not isinstance(plan, Make):
        return 0
    return sum(p.numel() for p in resolve(plan.target)(**plan.kwargs).parameters())


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
