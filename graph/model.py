"""The model graph: nodes from the catalogue, port-to-port edges, positions, sub-networks.

State changes only through the mutators below. Each checks its arguments, changes the
networkx MultiDiGraph, then tells the subscribers with a small event record (a plain
observer: no Qt here). Removal returns a record that `restore_*` puts back exactly where it
was, so an undone edit gives the same file, byte for byte.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import networkx as nx

from . import catalogue
from .block_edits import BlockEdits
from .names import RESERVED, GraphError, id_problem, to_identifier  # noqa: F401 (were here)
from .blocks import Blocks, block_name
from .events import (EdgeAdded, EdgeRemoved, NodeAdded, NodeMoved,  # noqa: F401 (were here)
                     NodeRemoved, NodeRenamed, NoteChanged, ParamChanged, SubnetsChanged)
from .events import Edge, EdgeRecord, NodeRecord
from .spec import NodeSpec


@dataclass
class Graph(BlockEdits):
    """A model graph. Read freely; change only through the mutators."""

    _g: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    _subnets: dict[str, list[str]] = field(default_factory=dict)
    _listeners: list[Callable[[Any], None]] = field(default_factory=list)
    _seq: int = 0
    # The project's block definitions (graph/blocks.py), shared with every definition's graph
    _blocks: Blocks = field(default_factory=Blocks)
    _owner: str | None = None  # the block this graph defines (None: the project's graph)
    # A flattened graph's nodes whose weights live elsewhere than their id says (a repeated
    # block with shared weights: "stage.2.conv1" -> "stage.conv1"); graph/blocks.flatten
    _module_paths: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self._blocks.subscribe(self._emit)

    # Observers --------------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _emit(self, event) -> None:
        for fn in list(self._listeners):
            fn(event)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # Reading ------------------------------------------------------------------------------------
    @property
    def nx(self) -> nx.MultiDiGraph:
        """The underlying networkx graph, for analysis passes. Do not mutate it."""
        return self._g

    def __contains__(self, node_id: str) -> bool:
        return node_id in self._g

    def __len__(self) -> int:
        return len(self._g)

    def nodes(self) -> list[str]:
        """Node ids in their stable order."""
        return sorted(self._g.nodes, key=lambda n: self._g.nodes[n]["seq"])

    def node_type(self, node_id: str) -> str:
        return self._node(node_id)["type"]

    def spec(self, node_id: str) -> NodeSpec:
        return self.type_spec(self.node_type(node_id))

    def type_spec(self, type_id: str) -> NodeSpec:
        """The spec of a catalogue type or of a block instance ("block:<name>")."""
        name = block_name(type_id)
        if name is not None:
            return self._blocks.spec(name)
        return catalogue.get(type_id)

    def resolve_type(self, type_id: str) -> str | None:
        """The current type id (a catalogue type, or a block this project defines), or None."""
        name = block_name(type_id)
        if name is not None:
            return type_id if name in self._blocks else None
        return catalogue.resolve_type(type_id)

    def module_path(self, node_id: str) -> str:
        """Where the node's module lives in the compiled model: its id, dotted in a
        flattened graph ("stage2.0.conv1"), or the shared repetition's path."""
        return self._module_paths.get(node_id, node_id)

    @property
    def blocks(self) -> Blocks:
        """The project's block definitions (read; change them through the mutators)."""
        return self._blocks

    @property
    def owner(self) -> str | None:
        """The block this graph defines; None for a project's own graph."""
        return self._owner

    def params(self, node_id: str) -> dict:
        """A copy of the node's params (all of them, defaults included)."""
        return dict(self._node(node_id)["params"])

    def pos(self, node_id: str) -> tuple[float, float]:
        return self._node(node_id)["pos"]

    def edges(self) -> list[Edge]:
        """All edges in their stable (wiring) order."""
        items = [(d["seq"], Edge(u, k[0], v, k[1])) for u, v, k, d in self._g.edges(keys=True, data=True)]
        return [e for _, e in sorted(items, key=lambda t: t[0])]

    def in_edges(self, node_id: str, port: str | None = None) -> list[Edge]:
        items = [(d["seq"], Edge(u, k[0], v, k[1]))
                 for u, v, k, d in self._g.in_edges(node_id, keys=True, data=True)
                 if port is None or k[1] == port]
        return [e for _, e in sorted(items, key=lambda t: t[0])]

    def out_edges(self, node_id: str, port: str | None = None) -> list[Edge]:
        items = [(d["seq"], Edge(u, k[0], v, k[1]))
                 for u, v, k, d in self._g.out_edges(node_id, keys=True, data=True)
                 if port is None or k[0] == port]
        return [e for _, e in sorted(items, key=lambda t: t[0])]

    def feeds(self, node_id: str, role: str) -> bool:
        """Whether an output of the node is wired to an input port with `role` (PortRole):
        how the runtime tells an image or proposals input without naming a layer."""
        return any(self.spec(e.dst).input(e.dst_port).role == role
                   for e in self.out_edges(node_id))

    def has_edge(self, e: Edge) -> bool:
        return self._g.has_edge(e.src, e.dst, (e.src_port, e.dst_port))

    @property
    def subnets(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self._subnets.items()}

    def new_id(self, type_id: str) -> str:
        """A fresh id from the type's prefix: conv1, conv2, ..."""
        prefix = self.type_spec(type_id).id_prefix
        n = 1
        while f"{prefix}{n}" in self._g or id_problem(f"{prefix}{n}"):
            n += 1
        return f"{prefix}{n}"

    def _node(self, node_id: str) -> dict:
        try:
            return self._g.nodes[node_id]
        except KeyError:
            raise GraphError(f"there is no node '{node_id}'") from None

    # Checks -------------------------------------------------------------------------------------
    def param_problem(self, node_id: str, name: str, value: Any) -> str | None:
        spec = self.spec(node_id)
        try:
            p = spec.param(name)
        except KeyError:
            return f"{spec.title} has no parameter '{name}'"
        why = p.check(value)
        return f"{p.title} {why}" if why else None

    def connect_problem(self, src: str, src_port: str, dst: str, dst_port: str,
                        replace: bool = False) -> str | None:
        """None if the wire may be made, else why not (for live feedback while dragging).
        With `replace`, a wire already on a single input does not count: it would be swapped."""
        for n in (src, dst):
            if n not in self._g:
                return f"there is no node '{n}'"
        s, d = self.spec(src), self.spec(dst)
        out, inp = s.output(src_port), d.input(dst_port)
        if out is None:
            return f"{s.title} '{src}' has no output port '{src_port}'"
        if inp is None:
            return f"{d.title} '{dst}' has no input port '{dst_port}'"
        if src == dst:
            return "a node cannot feed itself"
        if out.kind != inp.kind:
            return (f"'{src}' gives a {out.kind} but input '{dst_port}' of {d.title} '{dst}' "
                    f"takes a {inp.kind}")
        e = Edge(src, src_port, dst, dst_port)
        if self.has_edge(e):
            return f"{e} is already connected"
        if not inp.multi and not replace:
            taken = self.in_edges(dst, dst_port)
            if taken:
                return (f"input '{dst_port}' of {d.title} '{dst}' already comes from "
                        f"'{taken[0].src}'; remove that wire first")
        if nx.has_path(self._g, dst, src):
            return f"wiring '{src}' into '{dst}' would make a cycle"
        return None

    def nesting_problem(self, type_id: str) -> str | None:
        """Why an instance of `type_id` may not be placed in this graph (a block holding
        itself, directly or through another block), else None."""
        name = block_name(type_id)
        if name is None or self._owner is None:
            return None
        if name == self._owner:
            return f"the block '{name}' cannot contain itself"
        if self._blocks.contains(name, self._owner):
            return (f"the block '{self._owner}' cannot contain '{name}', which holds "
                    f"'{self._owner}': a block cannot contain itself, even through another")
        return None

    def placement_problem(self, spec: NodeSpec) -> str | None:
        """Why a node of `spec` may not be in this graph: a definition holds layers and its
        own ports; Block input and output nodes belong in a definition only."""
        if self._owner is not None and not (spec.role.layer_like or spec.role.block_port):
            return (f"a block holds layers: {spec.title} belongs in the project's graph, "
                    "outside the block")
        if self._owner is None and spec.role.block_port:
            return f"a {spec.title} belongs inside a block definition"
        return None

    # Mutators -----------------------------------------------------------------------------------
    def add_node(self, type_id: str, node_id: str | None = None, params: dict | None = None,
                 pos: tuple[float, float] = (0.0, 0.0), *, check_params: bool = True) -> str:
        """Add a node; returns its id. Params not given take their defaults."""
        tid = self.resolve_type(type_id)
        if tid is None:
            what = "block" if block_name(type_id) is not None else "node type"
            raise GraphError(f"unknown {what} '{block_name(type_id) or type_id}'")
        why = self.nesting_problem(tid)
        if why:
            raise GraphError(why)
        spec = self.type_spec(tid)
        why = self.placement_problem(spec)
        if why:
            raise GraphError(why)
        node_id = self.new_id(tid) if node_id is None else node_id
        why = id_problem(node_id)
        if why:
            raise GraphError(why)
        if node_id in self._g:
            raise GraphError(f"a node named '{node_id}' already exists")
        params = dict(params or {})
        unknown = sorted(set(params) - {p.name for p in spec.params})
        if unknown:
            raise GraphError(f"{spec.title} has no parameter '{unknown[0]}' (it has: "
                             + ", ".join(p.name for p in spec.params) + ")")
        if check_params:
            for name, value in params.items():
                why = spec.param(name).check(value)
                if why:
                    raise GraphError(f"{spec.title} '{node_id}': {spec.param(name).title} {why}")
        self._g.add_node(node_id, type=tid, params=spec.resolved(params),
                         pos=_pos(pos), seq=self._next_seq())
        self._emit(NodeAdded(node_id))
        return node_id

    def remove_node(self, node_id: str) -> NodeRecord:
        d = self._node(node_id)
        edge_recs = [self.disconnect(e) for e in self.in_edges(node_id) + self.out_edges(node_id)]
        subs = []
        for name, members in self._subnets.items():
            if node_id in members:
                subs.append((name, members.index(node_id)))
                members.remove(node_id)
        rec = NodeRecord(node_id, d["type"], dict(d["params"]), d["pos"], d["seq"],
                         tuple(edge_recs), tuple(subs), d.get("note", ""))
        self._g.remove_node(node_id)
        self._emit(NodeRemoved(node_id))
        if subs:
            self._emit(SubnetsChanged())
        return rec

    def restore_node(self, rec: NodeRecord) -> None:
        """Put back a removed node, with its edges and sub-network places."""
        if rec.node in self._g:
            raise GraphError(f"a node named '{rec.node}' already exists")
        self._g.add_node(rec.node, type=rec.type, params=dict(rec.params), pos=rec.pos,
                         seq=rec.seq)
        if rec.note:
            self._g.nodes[rec.node]["note"] = rec.note
        self._emit(NodeAdded(rec.node))
        for er in rec.edges:
            self.restore_edge(er)
        for name, index in rec.subnets:
            self._subnets.setdefault(name, []).insert(index, rec.node)
        if rec.subnets:
            self._emit(SubnetsChanged())

    def connect(self, src: str, src_port: str, dst: str, dst_port: str, *,
                check: bool = True) -> Edge:
        """Wire an output port to an input port. `check=False` is for loading files, whose
        problems (a cycle, a port-kind mismatch) validation then reports on the nodes."""
        if check:
            why = self.connect_problem(src, src_port, dst, dst_port)
            if why:
                raise GraphError(why)
        e = Edge(src, src_port, dst, dst_port)
        self._add_edge(e, self._next_seq())
        return e

    def _add_edge(self, e: Edge, seq: int) -> None:
        self._g.add_edge(e.src, e.dst, key=(e.src_port, e.dst_port), seq=seq)
        self._emit(EdgeAdded(e))

    def disconnect(self, e: Edge) -> EdgeRecord:
        if not self.has_edge(e):
            raise GraphError(f"there is no wire {e}")
        seq = self._g.edges[e.src, e.dst, (e.src_port, e.dst_port)]["seq"]
        self._g.remove_edge(e.src, e.dst, key=(e.src_port, e.dst_port))
        self._emit(EdgeRemoved(e))
        return EdgeRecord(e, seq)

    def restore_edge(self, rec: EdgeRecord) -> None:
        if self.has_edge(rec.edge):
            raise GraphError(f"{rec.edge} is already connected")
        self._add_edge(rec.edge, rec.seq)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        why = self.param_problem(node_id, name, value)
        if why:
            raise GraphError(f"{self.spec(node_id).title} '{node_id}': {why}")
        params = self._node(node_id)["params"]
        old = params.get(name)
        if old == value and type(old) is type(value):
            return
        params[name] = list(value) if isinstance(value, list) else value
        self._emit(ParamChanged(node_id, name, old, value))

    def note(self, node_id: str) -> str:
        """The node's own note: what it does here, in the words of whoever built the graph
        (a gate of the LSTM cell: "the forget gate decides ..."); '' if none."""
        return self._node(node_id).get("note", "")

    def set_note(self, node_id: str, text: str) -> None:
        d = self._node(node_id)
        if not isinstance(text, str):
            raise GraphError("a note is text")
        old = d.get("note", "")
        if old == text:
            return
        if text:
            d["note"] = text
        else:
            d.pop("note", None)
        self._emit(NoteChanged(node_id, old, text))

    def move_node(self, node_id: str, pos: tuple[float, float]) -> None:
        d = self._node(node_id)
        old, new = d["pos"], _pos(pos)
        if old == new:
            return
        d["pos"] = new
        self._emit(NodeMoved(node_id, old, new))

    def rename_node(self, old: str, new: str) -> None:
        self._node(old)
        if old == new:
            return
        why = id_problem(new)
        if why:
            raise GraphError(why)
        if new in self._g:
            raise GraphError(f"a node named '{new}' already exists")
        nx.relabel_nodes(self._g, {old: new}, copy=False)
        for members in self._subnets.values():
            if old in members:
                members[members.index(old)] = new
        self._emit(NodeRenamed(old, new))

    def set_subnet(self, name: str, members: Iterable[str] | None) -> None:
        """Define (or, with None, delete) a named sub-network such as 'generator'."""
        if members is None:
            self._subnets.pop(name, None)
        else:
            why = id_problem(name)
            if why:
                raise GraphError(f"sub-network name: {why}")
            members = list(members)
            for m in members:
                self._node(m)
            self._subnets[name] = members
        self._emit(SubnetsChanged())


def _pos(pos) -> tuple[float, float]:
    x, y = pos
    return (float(x), float(y))
