"""Validation and shape inference: one pure pass over the graph (DESIGN.md, principle 4).

`analyse(graph)` reads the graph and returns side tables: the inferred TensorType of every
output port, and the problems found, each on the node and port it belongs to. Nothing is
written into the graph. A node whose inputs are unknown (because an upstream node failed) is
skipped quietly, so one mistake gives one message, not a cascade.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from .model import Graph
from .spec import ShapeContext, ShapeError, TensorType


@dataclass(frozen=True)
class Issue:
    node: str | None  # None: the graph as a whole
    port: str | None
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.node or "graph"
        return f"{where}: {self.message}"


@dataclass
class Analysis:
    types: dict[tuple[str, str], TensorType] = field(default_factory=dict)  # (node, out port)
    issues: list[Issue] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # nodes in topological order (acyclic part)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    def issues_for(self, node: str) -> list[Issue]:
        return [i for i in self.issues if i.node == node]

    def out_type(self, node: str, port: str) -> TensorType | None:
        return self.types.get((node, port))

    def edge_type(self, edge) -> TensorType | None:
        """The type carried by an edge (what its source port gives)."""
        return self.types.get((edge.src, edge.src_port))


def describe(graph: Graph, node: str) -> str:
    return f"{graph.spec(node).title} '{node}'"


def analyse(graph: Graph) -> Analysis:
    a = Analysis()
    g = graph.nx
    nodes = graph.nodes()
    rank = {n: i for i, n in enumerate(nodes)}

    def add(node, port, message, severity="error"):
        a.issues.append(Issue(node, port, message, severity))

    # Cycles: a feed-forward graph cannot loop.
    cyclic: set[str] = set()
    if not nx.is_directed_acyclic_graph(g):
        for comp in nx.strongly_connected_components(g):
            if len(comp) > 1 or any(g.has_edge(n, n) for n in comp):
                members = sorted(comp, key=rank.get)
                loop = " → ".join(members + [members[0]])
                for n in members:
                    add(n, None, f"{describe(graph, n)} is part of a cycle ({loop}). Data must "
                                 "flow one way; recurrence lives inside RNN, LSTM and GRU nodes.")
                cyclic |= comp

    # Per node: params, port wiring.
    bad: set[str] = set(cyclic)
    incoming: dict[str, dict[str, list]] = {}
    for n in nodes:
        spec = graph.spec(n)
        params = graph.params(n)
        for p in spec.params:
            why = p.check(params.get(p.name))
            if why:
                add(n, None, f"{describe(graph, n)}: {p.title} {why} (got {params.get(p.name)!r})")
                bad.add(n)
        by_port: dict[str, list] = {}
        for e in graph.in_edges(n):
            by_port.setdefault(e.dst_port, []).append(e)
        incoming[n] = by_port
        for port in spec.inputs:
            edges = by_port.get(port.name, [])
            if not edges and not port.optional:
                add(n, port.name, f"{describe(graph, n)} needs an input on port '{port.name}'")
                bad.add(n)
            for e in edges:
                src_port = graph.spec(e.src).output(e.src_port)
                if src_port is not None and src_port.kind != port.kind:
                    add(n, port.name, f"{describe(graph, n)}: input '{port.name}' takes a "
                                      f"{port.kind} but '{e.src}' gives a {src_port.kind}")
                    bad.add(n)
            if len(edges) > 1 and not port.multi:
                add(n, port.name, f"{describe(graph, n)}: input '{port.name}' has "
                                  f"{len(edges)} wires but takes one")
                bad.add(n)

    roles = [graph.spec(n).role for n in nodes]
    if nodes and "input" not in roles:
        add(None, None, "The graph has no Input node: add one and bind it to a dataset field.",
            "warning")
    if nodes and "output" not in roles:
        add(None, None, "The graph has no Output node: mark what the model returns.", "warning")

    # Shape inference in topological order, over the acyclic part.
    sub = g.subgraph([n for n in nodes if n not in cyclic])
    order = list(nx.lexicographical_topological_sort(sub, key=rank.get))
    a.order = order
    for n in order:
        if n in bad:
            continue
        spec = graph.spec(n)
        ins, srcs, known = {}, {}, True
        for port in spec.inputs:
            edges = incoming[n].get(port.name, [])
            types = [a.types.get((e.src, e.src_port)) for e in edges]
            if any(t is None for t in types):
                known = False
                break
            if port.multi:
                ins[port.name], srcs[port.name] = types, [e.src for e in edges]
            elif types:
                ins[port.name], srcs[port.name] = types[0], edges[0].src
        if not known:
            continue
        ctx = ShapeContext(n, spec.resolved(graph.params(n)), ins, srcs)
        try:
            outs = spec.shape(ctx)
        except ShapeError as err:
            add(n, err.port, f"{describe(graph, n)} {err.message}")
            continue
        for port_name, t in outs.items():
            a.types[(n, port_name)] = t
    return a
