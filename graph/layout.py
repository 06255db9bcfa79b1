"""Layered left-to-right auto-layout (networkx topological generations)."""
from __future__ import annotations

import networkx as nx

from .model import Graph


def layered_positions(graph: Graph, dx: float = 200.0, dy: float = 110.0) -> dict[str, tuple[float, float]]:
    """Column = longest path from a source; a Target sits one column before its loss, so it
    lands under the prediction it is compared with. Cycles (invalid graphs) are cut first."""
    g = nx.DiGraph(graph.nx)
    nodes = graph.nodes()
    rank = {n: i for i, n in enumerate(nodes)}
    while not nx.is_directed_acyclic_graph(g):
        u, v = nx.find_cycle(g)[-1][:2]
        g.remove_edge(u, v)
    column: dict[str, int] = {}
    for n in nx.lexicographical_topological_sort(g, key=rank.get):
        column[n] = max((column[p] + 1 for p in g.predecessors(n)), default=0)
    for n in nodes:
        if graph.spec(n).role == "target" and g.out_degree(n):
            column[n] = max(min(column[s] for s in g.successors(n)) - 1, 0)
    by_col: dict[int, list[str]] = {}
    for n in nodes:
        by_col.setdefault(column[n], []).append(n)
    pos = {}
    for col, members in by_col.items():
        members.sort(key=lambda n: (graph.spec(n).role == "target", rank[n]))
        top = -(len(members) - 1) * dy / 2
        for i, n in enumerate(members):
            pos[n] = (col * dx, top + i * dy)
    return pos
