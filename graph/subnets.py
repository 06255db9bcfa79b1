"""Sub-networks as functions: what a named group of nodes reads from outside and gives.

A Shared network node applies a sub-network a second time (a GAN's discriminator on the
real batch and on the generated one). For that the sub-network must be a function of one
value: exactly one value (a node's output port) enters it from outside, and one leaves it
(the value wired out of it, or, where nothing leaves, the last member's output).
"""
from __future__ import annotations

from dataclasses import dataclass

from .model import Graph
from .spec import NodeRole


class SubnetError(ValueError):
    pass


@dataclass(frozen=True)
class SubnetIO:
    members: list[str]  # in forward order
    entry: tuple[str, str]  # (node, out port) the sub-network reads from outside
    exit: tuple[str, str]  # (node, out port) it gives


def subnet_io(graph: Graph, name: str, order: list[str]) -> SubnetIO:
    subnets = graph.subnets
    if name not in subnets:
        known = ", ".join(f"'{k}'" for k in sorted(subnets)) or "none yet"
        raise SubnetError(f"there is no sub-network '{name}' (the graph has {known}); set "
                          "a sub-network on its nodes in the inspector")
    members = set(subnets[name])
    ordered = [n for n in order if n in members]
    if not ordered:
        raise SubnetError(f"the sub-network '{name}' has no node")
    spec = graph.spec
    entries, exits = [], []
    for n in ordered:
        if not spec(n).role.layer_like:
            raise SubnetError(f"the sub-network '{name}' holds {spec(n).title} '{n}': a "
                              "shared sub-network holds layers only")
        for e in graph.in_edges(n):
            if e.src not in members and (e.src, e.src_port) not in entries:
                entries.append((e.src, e.src_port))
        for e in graph.out_edges(n):
            if e.dst not in members and (e.src, e.src_port) not in exits and \
                    not (spec(e.dst).role == NodeRole.APPLY):
                exits.append((e.src, e.src_port))
    if len(entries) != 1:
        what = ", ".join(f"'{s}'" for s, _ in entries) or "nothing"
        raise SubnetError(f"the sub-network '{name}' must read one value from outside to be "
                          f"applied again, and it reads {what}")
    if len(exits) > 1:
        what = ", ".join(f"'{s}.{p}'" for s, p in exits)
        raise SubnetError(f"the sub-network '{name}' must give one value to be applied "
                          f"again, and it gives {what}")
    if not exits:
        last = ordered[-1]
        exits.append((last, spec(last).outputs[0].name))
    return SubnetIO(ordered, entries[0], exits[0])
