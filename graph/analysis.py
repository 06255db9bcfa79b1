"""Validation and shape inference: one pure pass over the graph (ARCHITECTURE.md, principle 4).

`analyse(graph)` reads the graph and returns side tables: the inferred TensorType of every
output port, and the problems found, each on the node and port it belongs to. Nothing is
written into the graph. A node whose inputs are unknown (because an upstream node failed) is
skipped quietly, so one mistake gives one message, not a cascade.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import networkx as nx

from .model import Edge, Graph
from .phases import Phases, find_phases
from .spec import ShapeContext, ShapeError, TensorType, too_many
from .subnets import SubnetError, subnet_io


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
    phases: Phases = field(default_factory=Phases)  # training / inference graphs (phases.py)

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


def analyse(graph: Graph, given: dict[str, TensorType] | None = None,
            overrides: dict[str, dict] | None = None,
            absent: frozenset[str] = frozenset()) -> Analysis:
    """`given`: the types of a block definition's Block input nodes (from an instance);
    `overrides`: node -> params an instance sets (its exposed parameters); `absent`: optional
    Block inputs the instance leaves unwired, whose wires inside count as not there. Without
    `given`, a definition's Block inputs have no type and what they feed is skipped quietly."""
    a = Analysis()
    g = graph.nx
    nodes = graph.nodes()
    rank = {n: i for i, n in enumerate(nodes)}
    specs = {n: graph.spec(n) for n in nodes}
    given = given or {}
    overrides = overrides or {}

    def params_of(n):
        p = g.nodes[n]["params"]
        return {**p, **overrides[n]} if n in overrides else p

    def add(node, port, message, severity="error"):
        a.issues.append(Issue(node, port, message, severity))

    def describe(n):
        return f"{specs[n].title} '{n}'"

    # One pass over the edges: incoming wires per node and port (in wiring order), successors.
    incoming: dict[str, dict[str, list[Edge]]] = {n: {} for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    indeg = dict.fromkeys(nodes, 0)
    for u, v, k, d in sorted(g.edges(keys=True, data=True), key=lambda t: t[3]["seq"]):
        if u in absent:
            continue
        incoming[v].setdefault(k[1], []).append(Edge(u, k[0], v, k[1]))
        succ[u].append(v)
        indeg[v] += 1
    # A Shared network node runs after every node of the sub-network it applies.
    applies = [n for n in nodes if specs[n].role == "apply"]
    for n in applies:
        name = g.nodes[n]["params"].get("subnet")  # checked below: a list is not a name
        for m in graph.subnets.get(name, []) if isinstance(name, str) else []:
            if m in succ and m != n:
                succ[m].append(n)
                indeg[n] += 1

    # Topological order (Kahn's algorithm, ties broken by the graph's own order).
    heap = [rank[n] for n in nodes if indeg[n] == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        n = nodes[heapq.heappop(heap)]
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(heap, rank[m])
    a.order = order

    # Cycles: a feed-forward graph cannot loop. Nodes left out of the order are on a cycle or
    # after one; the strongly connected components say which.
    bad: set[str] = set()
    if len(order) < len(nodes):
        for comp in nx.strongly_connected_components(g):
            if len(comp) > 1 or any(g.has_edge(n, n) for n in comp):
                members = sorted(comp, key=rank.get)
                loop = " → ".join(members + [members[0]])
                for n in members:
                    add(n, None, f"{describe(n)} is part of a cycle ({loop}). Data must flow "
                                 "one way; recurrence lives inside RNN, LSTM and GRU nodes.")
        reported = {i.node for i in a.issues}
        for n in applies:
            if n not in order and n not in reported:
                add(n, None, f"{describe(n)} is wired into the sub-network it applies, or after "
                             "a node that is: it can only run once that sub-network has run")
        bad |= set(nodes) - set(order)

    # Per node: params, port wiring.
    for n in nodes:
        spec = specs[n]
        params = params_of(n)
        for p in spec.params:
            why = p.check(params.get(p.name))
            if why:
                add(n, None, f"{describe(n)}: {p.title} {why} (got {_shown(params.get(p.name))})")
                bad.add(n)
        by_port = incoming[n]
        for port in spec.inputs:
            edges = by_port.get(port.name, [])
            if not edges and not port.optional:
                add(n, port.name, f"{describe(n)} needs an input on port '{port.name}'")
                bad.add(n)
            for e in edges:
                src_port = specs[e.src].output(e.src_port)
                if src_port is not None and src_port.kind != port.kind:
                    add(n, port.name, f"{describe(n)}: input '{port.name}' takes a "
                                      f"{port.kind} but '{e.src}' gives a {src_port.kind}")
                    bad.add(n)
            if len(edges) > 1 and not port.multi:
                add(n, port.name, f"{describe(n)}: input '{port.name}' has {len(edges)} wires "
                                  "but takes one")
                bad.add(n)

    roles = {s.role for s in specs.values()}
    if graph.owner is not None:  # a block definition: its ends are its Block nodes
        pass
    elif nodes and "input" not in roles:
        add(None, None, "The graph has no Input node: add one and bind it to a dataset field.",
            "warning")
    if graph.owner is None and nodes and "output" not in roles:
        add(None, None, "The graph has no Output node: mark what the model returns.", "warning")

    # Shape inference in topological order.
    types = a.types
    for n in order:
        if n in bad:
            continue
        spec = specs[n]
        if spec.role == "block_input":  # typed by the instance, if any
            if n in given:
                types[(n, spec.outputs[0].name)] = given[n]
            continue
        ins, srcs, known = {}, {}, True
        for port in spec.inputs:
            edges = incoming[n].get(port.name, [])
            ts = [types.get((e.src, e.src_port)) for e in edges]
            if None in ts:
                known = False
                break
            if port.multi:
                ins[port.name], srcs[port.name] = ts, [e.src for e in edges]
            elif ts:
                ins[port.name], srcs[port.name] = ts[0], edges[0].src
        if not known:
            continue
        ctx = ShapeContext(n, spec.resolved(params_of(n)), ins, srcs)
        try:
            outs = (_apply_shape(graph, order, types, ctx) if spec.role == "apply"
                    else spec.shape(ctx))
        except ShapeError as err:
            add(n, err.port, f"{describe(n)} {err.message}")
            continue
        missing = [p.name for p in spec.outputs if not isinstance(outs.get(p.name), TensorType)]
        if missing:  # a catalogue mistake, but one to name, not to crash compile on
            add(n, missing[0], f"{describe(n)} gives no type for its output "
                               f"{', '.join(repr(m) for m in missing)} (its shape rule left "
                               f"{'it' if len(missing) == 1 else 'them'} out)")
            continue
        big = next((t for t in outs.values() if too_many(t.shape)), None)
        if big is not None:  # no tensor has it, and later rules could not even print it
            add(n, None, f"{describe(n)} would give {_approx(big)}, more values per sample than "
                         "a tensor can hold (at most 2⁶³ − 1): use smaller sizes")
            continue
        for port_name, t in outs.items():
            types[(n, port_name)] = t

    a.phases = find_phases(graph, order)
    for node, port, message, severity in a.phases.problems:
        add(node, port, message, severity)
    return a


def _apply_shape(graph: Graph, order: list[str], types: dict, ctx: ShapeContext) -> dict:
    """A Shared network node's output: the type its sub-network gives, for an input of the
    type that sub-network reads (the batch size may differ)."""
    name = ctx.p["subnet"]
    try:
        io = subnet_io(graph, name, order)
    except SubnetError as e:
        ctx.fail(str(e))
    if ctx.node in io.members:
        ctx.fail(f"is itself in the sub-network '{name}' it applies")
    want, got = types.get(io.entry), ctx.ins["x"]
    out = types.get(io.exit)
    if want is None or out is None:
        ctx.fail(f"applies the sub-network '{name}', whose own types are not known yet "
                 "(fix its problems first)")
    if want.sample_shape != got.sample_shape or want.dtype != got.dtype:
        ctx.fail(f"applies the sub-network '{name}', which reads {want} (from "
                 f"'{io.entry[0]}'), but '{ctx.src('x')}' gives {got}", "x")
    return {"y": TensorType((got.shape[0], *out.shape[1:]), out.dtype, out.kind)}


def _shown(value) -> str:
    """A param's value as the file holds it, cut short when it is long (a 401-digit int)."""
    r = repr(value)
    if len(r) <= 60:
        return r
    what = f"{len(str(abs(value)))} digits" if isinstance(value, int) else f"{len(r)} characters"
    return f"{r[:24]}… ({what})"


def _approx(t: TensorType) -> str:
    """A type whose sizes may be too long to print: 'N × ~10^30 × 4'."""
    def dim(d):
        if not isinstance(d, int) or d.bit_length() <= 64:
            return str(d)
        return f"~10^{int((d.bit_length() - 1) * 0.30103)}"
    dims = [dim(d) for d in t.shape]
    if len(dims) > 8:
        dims = dims[:4] + [f"… ({len(dims)} dims) …"] + dims[-2:]
    return " × ".join(dims)
