"""Which node types to offer for a wire dropped on empty canvas (the quick-add list): those
that can take the tensor on the wire, the ones that usually follow (or precede) the wired
node's type in the shipped templates first.

A type is left out when its shape rule refuses the wired tensor on the port it would be
wired by (a Box decoder after a Conv2d's feature map); where the rule cannot say without
the type's other inputs, it stays. Pure: no Qt, no torch.
"""
from __future__ import annotations

from collections import Counter

from . import catalogue
from .model import Graph
from .spec import ShapeContext, ShapeError, TensorType


def pair_counts(graphs: list[Graph]) -> Counter:
    """How often a wire goes from a node of type A to one of type B, over `graphs` and the
    block definitions they hold."""
    counts: Counter = Counter()
    for top in graphs:  # and inside each of its block definitions (once each)
        for g in [top] + [top.blocks[b].graph for b in top.blocks]:
            for e in g.edges():
                counts[(g.node_type(e.src), g.node_type(e.dst))] += 1
    return counts


def takes(type_id: str, port: str, t: TensorType) -> bool | None:
    """Whether a node of `type_id`, with its default params, accepts `t` on input `port`:
    True or False as its shape rule says, None when the rule cannot say without the type's
    other inputs."""
    spec = catalogue.get(type_id)
    ctx = ShapeContext("candidate", spec.resolved({}), {port: t}, {port: "the wire"})
    try:
        spec.shape(ctx)
    except ShapeError as e:  # refused for another of its inputs: undecided
        return None if e.port is not None and e.port != port else False
    except Exception:  # it needs its other inputs to say anything
        return None
    return True


OFTEN = 2  # a pair seen at least this often in the templates is offered first


def follow_ups(graph: Graph, types: dict, node: str, port: str, is_input: bool,
               counts: Counter) -> list[str]:
    """The types to offer for a wire dropped from `node`'s `port` (an input port when
    `is_input`: the new node feeds it): the ones that often follow (precede) the wired
    node's type in the templates, then those whose shape rule accepts the wired tensor,
    then those that need other inputs to tell, each group by title. `types`: the
    analysis' output types by (node, port)."""
    here = graph.spec(node)
    kind = (here.input(port) if is_input else here.output(port)).kind
    source = graph.node_type(node)
    t = None if is_input else types.get((node, port))
    offered = []
    for type_id, spec in catalogue.SPECS.items():
        ports = spec.outputs if is_input else spec.inputs
        first = next((p for p in ports if p.kind == kind), None)
        if first is None:
            continue
        fits = True if t is None else takes(type_id, first.name, t)
        if fits is False:
            continue
        seen = counts[(type_id, source)] if is_input else counts[(source, type_id)]
        offered.append((-(seen if seen >= OFTEN else 0), fits is None, spec.title, type_id))
    return [type_id for *_, type_id in sorted(offered)]
