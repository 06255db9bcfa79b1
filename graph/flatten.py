"""A graph with its blocks expanded (graph/blocks.py): catalogue nodes only, whose ids are
dotted paths ("stage2.0.conv1": instance, repetition, inner node), which are also where the
compiled model keeps their weights. Block input and output nodes vanish: each wire runs from
what feeds the block's port to what reads it inside, and out likewise; repetitions chain,
each one's outputs feeding the next one's inputs at the same place."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .blocks import Blocks, block_name
from .model import Edge, Graph
from .spec import NodeRole

@dataclass
class Flat:
    """A graph with its blocks expanded: catalogue nodes only, with dotted ids."""
    graph: Any  # Graph
    module_paths: dict[str, str] = field(default_factory=dict)  # node -> path, where differing
    # module path -> ("list" | "block", definition name); parents before children
    containers: dict[str, tuple[str, str]] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # node -> the top-level node it is in


def has_instances(graph) -> bool:
    return any(block_name(graph.node_type(n)) for n in graph.nodes())


def flatten(graph) -> Flat:
    """The graph with every block instance expanded into its definition's nodes (nested
    ones too), wired through the Block input and output nodes, repetitions chained."""
    flat = Flat(Graph(_blocks=graph.blocks))  # a loop instance stays one node
    graph.blocks.unsubscribe(flat.graph._emit)
    _expand(graph, graph.blocks, "", "", {}, flat, None)
    flat.graph._module_paths = flat.module_paths
    for name, members in graph.subnets.items():
        ms = set(members)
        flat.graph._subnets[name] = [n for n in flat.graph.nodes()
                                     if flat.origin.get(n, n) in ms]
    return flat


def _expand(g, registry: Blocks, prefix: str, mprefix: str, over: dict, flat: Flat,
            top: str | None):
    """Expand graph `g` into `flat` under `prefix`: (consumers of each Block input, the
    source of each Block output). A consumer is ("node", flat node, port) or ("out", a Block
    output of `g`); a source is ("node", flat node, port) or ("in", a Block input of `g`)."""
    fg = flat.graph
    ins: dict[str, list] = {}
    outs: dict[str, tuple] = {}
    inst: dict[str, tuple[dict, dict]] = {}
    for n in g.nodes():
        spec = g.spec(n)
        params = {**g.params(n), **over.get(n, {})}
        if spec.role == NodeRole.BLOCK_INPUT:
            ins[n] = []
            continue
        if spec.role == NodeRole.BLOCK_OUTPUT:
            continue
        name = block_name(spec.type)
        if name is not None and not registry[name].loop:
            inst[n] = _expand_instance(registry, name, params, prefix + n, mprefix + n, flat,
                                       top or n)
            continue
        fid = prefix + n
        fg._g.add_node(fid, type=spec.type, params=spec.resolved(params), pos=g.pos(n),
                       seq=fg._next_seq())
        if mprefix + n != fid:
            flat.module_paths[fid] = mprefix + n
        flat.origin[fid] = top or n

    def source(e):
        if g.spec(e.src).role == NodeRole.BLOCK_INPUT:
            return ("in", e.src)
        if e.src in inst:
            s = inst[e.src][1].get(e.src_port)
            return None if s is None or s[0] == "in" else s  # a pass-through: see consumers
        return ("node", prefix + e.src, e.src_port)

    def consumers(e) -> list:
        if g.spec(e.dst).role == NodeRole.BLOCK_OUTPUT:
            return [("out", e.dst)]
        if e.dst in inst:
            out = []
            for c in inst[e.dst][0].get(e.dst_port, []):
                if c[0] == "out":  # straight through the instance to its output c[1]
                    for e2 in g.out_edges(e.dst, c[1]):
                        out += consumers(e2)
                else:
                    out.append(c)
            return out
        return [("node", prefix + e.dst, e.dst_port)]

    def link(s, c):
        if c[0] == "out":
            outs[c[1]] = s
        elif s[0] == "in":
            ins[s[1]].append(c)
        else:
            _wire(fg, _edge(s[1], s[2], c[1], c[2]))

    for e in g.edges():
        s = source(e)
        if s is None:
            continue
        for c in consumers(e):
            link(s, c)
    return ins, outs


class FlattenError(ValueError):
    """A graph whose blocks cannot be expanded into one graph of catalogue nodes."""


def _wire(fg, e) -> None:
    if fg.has_edge(e):  # one value into two of a block's inputs that meet on one port
        raise FlattenError(f"the value of '{e.src}' reaches input '{e.dst_port}' of "
                           f"'{e.dst}' twice through a block's inputs: wire it once")
    fg._add_edge(e, fg._next_seq())


def _edge(src, src_port, dst, dst_port):
    return Edge(src, src_port, dst, dst_port)


def _expand_instance(registry: Blocks, name: str, params: dict, path: str, mpath: str,
                     flat: Flat, top: str):
    """Expand one instance (its repetitions chained): its (consumers, sources) by port."""
    d = registry[name]
    repeat, share = params.get("repeat", 1), params.get("share_weights", False)
    over = d.overrides(params)
    listed = repeat > 1 and not share
    flat.containers.setdefault(mpath, ("list" if listed else "block", name))
    ins: dict[str, list] = {}
    cur: list = []  # what each output port gives, after the repetitions so far
    for r in range(repeat):
        rp = f"{path}.{r}." if repeat > 1 else f"{path}."
        mp = f"{mpath}.{r}." if listed else f"{mpath}."
        if listed:
            flat.containers.setdefault(f"{mpath}.{r}", ("block", name))
        r_ins, r_outs = _expand(d.graph, registry, rp, mp, over, flat, top)
        if r == 0:
            ins = r_ins
            cur = [r_outs.get(o) for o in d.outputs]
            continue
        nxt = [r_outs.get(o) for o in d.outputs]
        for k, b in enumerate(d.inputs):
            s = cur[k] if k < len(cur) else None
            for c in r_ins[b]:
                if c[0] == "out":  # passes straight through this repetition
                    nxt[d.outputs.index(c[1])] = s
                elif s is None:
                    continue
                elif s[0] == "in":
                    ins[s[1]].append(c)
                else:
                    _wire(flat.graph, _edge(s[1], s[2], c[1], c[2]))
        for j, v in enumerate(nxt):
            if v is not None and v[0] == "in":  # this repetition's own input, unchanged
                nxt[j] = cur[d.inputs.index(v[1])]
        cur = nxt
    if repeat > 1:  # pass-throughs: what the last repetition gives unchanged from the first's
        ins = {b: [c for c in cs if c[0] != "out"] for b, cs in ins.items()}
        for j, v in enumerate(cur):
            if v is not None and v[0] == "in":
                ins[v[1]].append(("out", d.outputs[j]))
    return ins, {o: s for o, s in zip(d.outputs, cur) if s is not None}


def shown_node(flat_id: str, path: list[str]) -> str | None:
    """The node of the graph shown at `path` (the instances opened, outermost first; [] for
    the project's graph) that a flattened node belongs to: "layer2.0.b1.conv2" is "layer2"
    at [], "b1" at ["layer2"] (a repetition's index is skipped), and None outside it."""
    parts = flat_id.split(".")
    for inst in path:
        if not parts or parts[0] != inst:
            return None
        parts = parts[1:]
        if parts and parts[0].isdigit():
            parts = parts[1:]
    return parts[0] if parts else None


def shown_values(values: dict[str, float], path: list[str]) -> dict[str, float]:
    """Per-node values of a flattened graph (gradient norms) for the nodes of the graph
    shown at `path`: a block's is the geometric mean of its inner nodes' (one vanishing layer
    pulls it down, one exploding layer up)."""
    import math
    groups: dict[str, list[float]] = {}
    for n, v in values.items():
        node = shown_node(n, path)
        if node is not None:
            groups.setdefault(node, []).append(v)
    out = {}
    for node, vs in groups.items():
        bad = [v for v in vs if not math.isfinite(v)]
        if len(vs) == 1 or bad:  # a non-finite norm is what the colour must say
            out[node] = bad[0] if bad else vs[0]
        elif min(vs) <= 0:
            out[node] = 0.0
        else:
            out[node] = math.exp(sum(math.log(v) for v in vs) / len(vs))
    return out
