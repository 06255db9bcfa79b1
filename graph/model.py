"""The model graph: nodes from the catalogue, port-to-port edges, positions, sub-networks.

State changes only through the mutators below. Each checks its arguments, changes the
networkx MultiDiGraph, then tells the subscribers with a small event record (a plain
observer: no Qt here). Removal returns a record that `restore_*` puts back exactly where it
was, so an undone edit gives the same file, byte for byte.
"""
from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import networkx as nx

from . import catalogue
from .spec import NodeSpec


class GraphError(ValueError):
    """A refused edit; the message says why in words a learner understands."""


# Names a node id may not take: they would shadow what the generated forward() uses.
RESERVED = (set(keyword.kwlist) | set(dir(builtins))
            | {"self", "torch", "device", "fx_pytree", "pytree", "inf", "nan", "NoneType",
               "operator", "nn", "F", "ops", "forward"})
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def id_problem(node_id: Any) -> str | None:
    """None if `node_id` can name a node, else why not."""
    if not isinstance(node_id, str) or not _ID.match(node_id):
        return (f"{node_id!r} is not a valid name: use letters, digits and _, starting with a "
                "letter (like conv1 or fc_out)")
    if "__" in node_id:
        return f"{node_id!r} is not a valid name: '__' is kept for generated names"
    if node_id in RESERVED:
        return f"{node_id!r} is a reserved Python name; choose another, such as {node_id}1"
    return None


def to_identifier(text: str) -> str:
    """A best-effort valid node id from free text ("Conv 1" -> "conv_1")."""
    s = re.sub(r"\W+", "_", text.strip().lower()).strip("_")
    s = re.sub(r"_+", "_", s)
    if not s or not s[0].isalpha():
        s = "n_" + s if s else "node"
    if s in RESERVED:
        s += "1"
    return s


@dataclass(frozen=True)
class Edge:
    src: str
    src_port: str
    dst: str
    dst_port: str

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} → {self.dst}.{self.dst_port}"


# Events ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeAdded:
    node: str


@dataclass(frozen=True)
class NodeRemoved:
    node: str


@dataclass(frozen=True)
class EdgeAdded:
    edge: Edge


@dataclass(frozen=True)
class EdgeRemoved:
    edge: Edge


@dataclass(frozen=True)
class ParamChanged:
    node: str
    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class NodeMoved:
    node: str
    old: tuple[float, float]
    new: tuple[float, float]


@dataclass(frozen=True)
class NodeRenamed:
    old: str
    new: str


@dataclass(frozen=True)
class SubnetsChanged:
    pass


# Records returned by removals ----------------------------------------------------------------

@dataclass(frozen=True)
class EdgeRecord:
    edge: Edge
    seq: int


@dataclass(frozen=True)
class NodeRecord:
    node: str
    type: str
    params: dict
    pos: tuple[float, float]
    seq: int
    edges: tuple[EdgeRecord, ...] = ()
    subnets: tuple[tuple[str, int], ...] = ()  # (subnet name, index in it)


@dataclass
class Graph:
    """A model graph. Read freely; change only through the mutators."""

    _g: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    _subnets: dict[str, list[str]] = field(default_factory=dict)
    _listeners: list[Callable[[Any], None]] = field(default_factory=list)
    _seq: int = 0

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
        return catalogue.get(self.node_type(node_id))

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

    def has_edge(self, e: Edge) -> bool:
        return self._g.has_edge(e.src, e.dst, (e.src_port, e.dst_port))

    @property
    def subnets(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self._subnets.items()}

    def new_id(self, type_id: str) -> str:
        """A fresh id from the type's prefix: conv1, conv2, ..."""
        prefix = catalogue.get(type_id).id_prefix
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

    # Mutators -----------------------------------------------------------------------------------
    def add_node(self, type_id: str, node_id: str | None = None, params: dict | None = None,
                 pos: tuple[float, float] = (0.0, 0.0), *, check_params: bool = True) -> str:
        """Add a node; returns its id. Params not given take their defaults."""
        tid = catalogue.resolve_type(type_id)
        if tid is None:
            raise GraphError(f"unknown node type '{type_id}'")
        spec = catalogue.SPECS[tid]
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
                         tuple(edge_recs), tuple(subs))
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
