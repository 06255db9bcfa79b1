"""What a graph's mutators tell their listeners (events) and what removals return for
undo (records): plain frozen records, no behaviour (graph/model.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
class NoteChanged:
    """A node's note (its own help text: what this gate does) changed."""
    node: str
    old: str
    new: str


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
    note: str = ""
