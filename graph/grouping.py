"""Group nodes into a block, and unpack an instance back into plain nodes (issue 25, item 3).

Both work through the graph's mutators only and write down each call in a `Journal`, whose
`undo()` and `redo()` replay the calls' records: an undone grouping gives the same project file
byte for byte, and a redone one the same file as the first time (the definition made is kept,
so edits made inside it later still find it). No Qt here.

`group(graph, nodes, name, title)`: the wires that cross the selection become the block's
ports (one Block input per distinct outside value read inside, one Block output per distinct
inside value read outside); one instance replaces the selection at its centre, wired as
before (a multi input keeps the order of its wires).

`ungroup(graph, instance)`: the instance's definition copied in its place, with fresh ids
where they clash and the instance's exposed parameters applied; a repeated instance is
unpacked into its repetitions, chained (not with shared weights).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .blocks import block_name, type_of
from .model import Edge, Graph, GraphError, id_problem


@dataclass
class Journal:
    """The mutator calls one operation made, with the records that undo and redo them."""
    ops: list[list] = field(default_factory=list)  # [kind, graph, key, record]
    result: Any = None  # what the operation gives (the instance, the unpacked nodes)

    def add_node(self, g: Graph, type_id: str, node_id: str, params: dict, pos) -> str:
        n = g.add_node(type_id, node_id, params, pos, check_params=False)
        self.ops.append(["add", g, n, None])
        return n

    def remove_node(self, g: Graph, node: str) -> None:
        self.ops.append(["remove", g, node, g.remove_node(node)])

    def connect(self, g: Graph, e: Edge) -> None:
        g.connect(e.src, e.src_port, e.dst, e.dst_port)
        self.ops.append(["wire", g, e, None])

    def disconnect(self, g: Graph, e: Edge) -> None:
        self.ops.append(["unwire", g, e, g.disconnect(e)])

    def add_block(self, g: Graph, name: str, title: str):
        d = g.add_block(name, title)
        self.ops.append(["block", g, name, None])
        return d

    def undo(self) -> None:
        for op in reversed(self.ops):
            kind, g, key, rec = op
            if kind == "add":
                op[3] = g.remove_node(key)
            elif kind == "remove":
                g.restore_node(rec)
            elif kind == "wire":
                op[3] = g.disconnect(key)
            elif kind == "unwire":
                g.restore_edge(rec)
            elif kind == "block":
                op[3] = g.remove_block(key)

    def redo(self) -> None:
        for op in self.ops:
            kind, g, key, rec = op
            if kind == "add":
                g.restore_node(rec)
            elif kind == "remove":
                op[3] = g.remove_node(key)
            elif kind == "wire":
                g.restore_edge(rec)
            elif kind == "unwire":
                op[3] = g.disconnect(key)
            elif kind == "block":
                g.restore_block(*rec)


def free_block_name(g: Graph, base: str = "block") -> str:
    k = 1
    while f"{base}{k}" in g.blocks:
        k += 1
    return f"{base}{k}"


def _fresh(base: str, taken: set[str]) -> str:
    if base not in taken and not id_problem(base):
        return base
    stem = base.rstrip("0123456789") or base
    k = 2 if stem == base else 1
    while f"{stem}{k}" in taken or id_problem(f"{stem}{k}"):
        k += 1
    return f"{stem}{k}"


def _exposed_problem(g: Graph, nodes, doing: str) -> str | None:
    """A block parameter of the definition `g` is (setting one of `nodes`), else None."""
    if g.owner is None or g.owner not in g.blocks:
        return None
    for x in g.blocks[g.owner].exposed:
        for t in x.targets:
            if t.split(".", 1)[0] in nodes:
                return (f"the block parameter '{x.name}' of '{g.owner}' sets '{t}': {doing} "
                        "would leave it nothing to set (remove the block parameter first)")
    return None


def group_problem(g: Graph, nodes) -> str | None:
    """Why `nodes` cannot be grouped into a block, else None."""
    nodes = list(dict.fromkeys(nodes))
    if not nodes:
        return "select the nodes to group into a block"
    why = _exposed_problem(g, [n for n in nodes if n in g], "grouping it")
    if why:
        return why
    for n in nodes:
        if n not in g:
            return f"there is no node '{n}'"
        spec = g.spec(n)
        if not spec.role.layer_like:
            return (f"{spec.title} '{n}' cannot go into a block: a block holds layers (the "
                    "model's inputs, targets, outputs, losses, noise and shared-network nodes "
                    "stay outside)")
    for name, members in g.subnets.items():
        inside = [n for n in nodes if n in members]
        if inside:
            return (f"'{inside[0]}' belongs to the sub-network '{name}': take it out of the "
                    "sub-network first")
    sel = set(nodes)
    after = set().union(*(nx.descendants(g.nx, n) for n in sel)) - sel
    before = set().union(*(nx.ancestors(g.nx, n) for n in sel)) - sel
    between = sorted(after & before)
    if between:
        return (f"'{between[0]}' lies between selected nodes but is not selected: grouping "
                "would wire the block into itself (select it too)")
    if not any(e.src in sel and e.dst not in sel for e in g.edges()):
        return "nothing leaves the selection: group nodes whose result is used outside them"
    return None


def group(g: Graph, nodes, name: str, title: str = "") -> Journal:
    """Replace `nodes` by one instance of a new block `name` made of them (see the module's
    docstring). Returns the Journal (its `result` is the instance's id). GraphError if the
    selection cannot be grouped; then nothing has changed."""
    why = group_problem(g, nodes)
    if why:
        raise GraphError(why)
    if id_problem(name):
        raise GraphError(f"block name: {id_problem(name)}")
    if name in g.blocks:
        raise GraphError(f"a block named '{name}' already exists")
    sel = [n for n in g.nodes() if n in set(nodes)]
    inside = set(sel)
    edges = g.edges()
    ins: dict[tuple[str, str], str] = {}  # outside value -> Block input
    outs: dict[tuple[str, str], str] = {}  # inside value -> Block output
    taken = set(sel)
    for e in edges:
        if e.src not in inside and e.dst in inside and (e.src, e.src_port) not in ins:
            ins[(e.src, e.src_port)] = _fresh("x", taken)
            taken.add(ins[(e.src, e.src_port)])
    for e in edges:
        if e.src in inside and e.dst not in inside and (e.src, e.src_port) not in outs:
            outs[(e.src, e.src_port)] = _fresh("y", taken)
            taken.add(outs[(e.src, e.src_port)])
    xs = [g.pos(n)[0] for n in sel]
    ys = [g.pos(n)[1] for n in sel]
    centre = (round((min(xs) + max(xs)) / 2 / 10) * 10, round((min(ys) + max(ys)) / 2 / 10) * 10)
    # Outside multi inputs the instance will feed: their wires' order, to keep
    multi = {(e.dst, e.dst_port) for e in edges if e.src in inside and e.dst not in inside
             and g.spec(e.dst).input(e.dst_port).multi}
    order = {k: g.in_edges(*k) for k in multi}

    j = Journal()
    d = j.add_block(g, name, title)
    b = d.graph
    for (src, port), x in ins.items():
        ys_ = [g.pos(e.dst)[1] for e in g.out_edges(src, port) if e.dst in inside]
        b.add_node("BlockInput", x, pos=(min(xs) - 220, sum(ys_) / len(ys_)))
    for n in sel:
        b.add_node(g.node_type(n), n, g.params(n), g.pos(n), check_params=False)
    for (src, port), y in outs.items():
        b.add_node("BlockOutput", y, pos=(max(xs) + 240, g.pos(src)[1]))
    for e in edges:
        if e.dst in inside:
            src = (e.src, e.src_port) if e.src in inside else (ins[(e.src, e.src_port)], "out")
            b.connect(src[0], src[1], e.dst, e.dst_port, check=False)
    for (src, port), y in outs.items():
        b.connect(src, port, y, "x", check=False)
    from .layout import layered_positions
    for n, xy in layered_positions(b).items():  # inside: room for every wire's shape label
        b.move_node(n, xy)

    for n in sel:
        j.remove_node(g, n)
    inst = j.add_node(g, type_of(name), g.new_id(type_of(name)), {}, centre)
    j.result = inst
    for (src, port), x in ins.items():
        j.connect(g, Edge(src, port, inst, x))
    for k, old in order.items():  # an outside multi input: its wires again, in their order
        for e in g.in_edges(*k):
            j.disconnect(g, e)
        for e in old:
            src = (inst, outs[(e.src, e.src_port)]) if e.src in inside else (e.src, e.src_port)
            j.connect(g, Edge(*src, e.dst, e.dst_port))
    for e in edges:
        if e.src in inside and e.dst not in inside and (e.dst, e.dst_port) not in multi:
            j.connect(g, Edge(inst, outs[(e.src, e.src_port)], e.dst, e.dst_port))
    return j


def ungroup_problem(g: Graph, node: str) -> str | None:
    if node not in g:
        return f"there is no node '{node}'"
    name = block_name(g.node_type(node))
    if name is None:
        return f"'{node}' is not a block: select one block to unpack"
    p = g.params(node)
    if p.get("repeat", 1) > 1 and p.get("share_weights"):
        return (f"'{node}' applies one block's weights {p['repeat']} times: unpacked, each "
                "repetition would have its own (turn share_weights off, or set repeat to 1)")
    why = _exposed_problem(g, [node], "unpacking it")
    if why:
        return why
    d = g.blocks[name]
    if d.loop:
        return f"'{node}' runs its block as a recurrent loop, which plain nodes cannot express"
    return None


def ungroup(g: Graph, node: str) -> Journal:
    """Unpack instance `node` into its definition's nodes (see the module's docstring).
    Returns the Journal (its `result` is the list of nodes added)."""
    why = ungroup_problem(g, node)
    if why:
        raise GraphError(why)
    name = block_name(g.node_type(node))
    d = g.blocks[name]
    b = d.graph
    params = g.params(node)
    repeat = params.get("repeat", 1)
    over = d.overrides(params)
    inner = [n for n in b.nodes() if not b.spec(n).role.block_port]
    cx, cy = g.pos(node)
    if inner:
        xs = [b.pos(n)[0] for n in inner]
        ys = [b.pos(n)[1] for n in inner]
        ox = cx - round((min(xs) + max(xs)) / 2 / 10) * 10
        oy = cy - round((min(ys) + max(ys)) / 2 / 10) * 10
    else:
        ox, oy = cx, cy
    width = (max(xs) - min(xs) + 260) if inner else 0
    in_src = {e.dst_port: (e.src, e.src_port) for e in g.in_edges(node)}
    out_edges = g.out_edges(node)
    multi = {(e.dst, e.dst_port) for e in out_edges if g.spec(e.dst).input(e.dst_port).multi}
    order = {k: g.in_edges(*k) for k in multi}

    j = Journal()
    j.remove_node(g, node)
    taken = set(g.nodes())
    added: list[str] = []
    cur = dict(in_src)  # Block input -> the value it reads in this repetition
    for r in range(repeat):
        ids = {}
        shift = (r - (repeat - 1) / 2) * width
        for n in inner:
            ids[n] = _fresh(n if repeat == 1 else f"{n}_{r + 1}", taken)
            taken.add(ids[n])
            x, y = b.pos(n)
            added.append(j.add_node(g, b.node_type(n), ids[n], {**b.params(n), **over.get(n, {})},
                                    (x + ox + shift, y + oy)))
        given: dict[str, tuple | None] = {}  # Block output -> the value it gives
        for e in b.edges():
            if b.spec(e.dst).role.block_port:
                src = cur.get(e.src) if e.src not in ids else (ids[e.src], e.src_port)
                given[e.dst] = src
                continue
            src = (ids[e.src], e.src_port) if e.src in ids else cur.get(e.src)
            if src is not None:
                j.connect(g, Edge(*src, ids[e.dst], e.dst_port))
        cur = {i: given.get(o) for i, o in zip(d.inputs, d.outputs)}
    final = given
    j.result = added
    for k, old in order.items():
        for e in g.in_edges(*k):
            j.disconnect(g, e)
        for e in old:
            src = final.get(e.src_port) if e.src == node else (e.src, e.src_port)
            if src is not None:
                j.connect(g, Edge(*src, e.dst, e.dst_port))
    for e in out_edges:
        if (e.dst, e.dst_port) not in multi and final.get(e.src_port) is not None:
            j.connect(g, Edge(*final[e.src_port], e.dst, e.dst_port))
    return j
