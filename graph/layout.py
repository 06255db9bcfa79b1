"""Layered left-to-right auto-layout (columns = longest path from a source), optionally
wrapped onto several rows so that a long chain (a CNN) stays readable when fitted to a view."""
from __future__ import annotations

import math

import networkx as nx

from .model import Graph

# Column pitch leaves room on each wire for its shape label (canvas nodes are 150 wide).
DX, DY, ROW_GAP = 270.0, 105.0, 70.0


def columns(graph: Graph) -> dict[str, int]:
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
    return column


def layered_positions(graph: Graph, dx: float = DX, dy: float = DY,
                      wrap: int | None = None) -> dict[str, tuple[float, float]]:
    """Positions by column; with `wrap`, columns 0..wrap-1 form the first row, the next
    `wrap` columns the second row below it, and so on."""
    column = columns(graph)
    rank = {n: i for i, n in enumerate(graph.nodes())}
    by_col: dict[int, list[str]] = {}
    for n in graph.nodes():
        by_col.setdefault(column[n], []).append(n)
    for members in by_col.values():
        members.sort(key=lambda n: (graph.spec(n).role == "target", rank[n]))
    n_cols = max(by_col, default=-1) + 1
    per_row = wrap if wrap and wrap > 0 else max(n_cols, 1)
    pos = {}
    top = 0.0
    for row in range(math.ceil(n_cols / per_row)):
        cols = range(row * per_row, min((row + 1) * per_row, n_cols))
        tallest = max((len(by_col.get(c, [])) for c in cols), default=1)
        for c in cols:
            for i, n in enumerate(by_col.get(c, [])):
                pos[n] = ((c - row * per_row) * dx, top + i * dy)
        top += tallest * dy + ROW_GAP
    return pos


def wrap_for_aspect(graph: Graph, aspect: float, dx: float = DX, dy: float = DY) -> int | None:
    """A row length that makes the layout's shape close to `aspect` (width / height)."""
    col = columns(graph)
    n_cols = max(col.values(), default=-1) + 1
    if n_cols <= 1:
        return None
    tallest = max(sum(1 for v in col.values() if v == c) for c in range(n_cols))
    best, best_err = None, None
    for k in range(1, n_cols + 1):
        rows = math.ceil(n_cols / k)
        w, h = k * dx, rows * (tallest * dy + ROW_GAP)
        err = abs(math.log((w / h) / aspect))
        if best_err is None or err < best_err - 1e-9:
            best, best_err = k, err
    return None if best == n_cols else best
