"""Undo commands. Each calls the graph's mutators only; the canvas redraws from the events
(DESIGN.md, principle 3). Removals keep the record the graph returns, so undo puts things back
exactly where they were and the project file comes back byte for byte."""
from __future__ import annotations

from typing import Any

from PySide6.QtGui import QUndoCommand

from graph.model import Edge, Graph


class AddNode(QUndoCommand):
    def __init__(self, graph: Graph, type_id: str, node_id: str | None = None,
                 params: dict | None = None, pos=(0.0, 0.0), parent=None):
        super().__init__(parent)
        self.graph, self.type_id, self.params, self.pos = graph, type_id, params or {}, pos
        self.node_id = node_id or graph.new_id(type_id)
        self.record = None
        self.setText(f"add {self.node_id}")

    def redo(self):
        if self.record is None:
            self.graph.add_node(self.type_id, self.node_id, self.params, self.pos)
        else:
            self.graph.restore_node(self.record)

    def undo(self):
        self.record = self.graph.remove_node(self.node_id)


class RemoveNodes(QUndoCommand):
    def __init__(self, graph: Graph, nodes: list[str], parent=None):
        super().__init__(parent)
        self.graph, self.nodes = graph, list(nodes)
        self.records = []
        self.setText("delete " + (self.nodes[0] if len(self.nodes) == 1
                                  else f"{len(self.nodes)} nodes"))

    def redo(self):
        self.records = [self.graph.remove_node(n) for n in self.nodes]

    def undo(self):
        for rec in reversed(self.records):
            self.graph.restore_node(rec)


class Connect(QUndoCommand):
    def __init__(self, graph: Graph, edge: Edge, parent=None):
        super().__init__(parent)
        self.graph, self.edge, self.record = graph, edge, None
        self.setText(f"wire {edge.src} → {edge.dst}")

    def redo(self):
        if self.record is None:
            e = self.edge
            self.graph.connect(e.src, e.src_port, e.dst, e.dst_port)
        else:
            self.graph.restore_edge(self.record)

    def undo(self):
        self.record = self.graph.disconnect(self.edge)


class Disconnect(QUndoCommand):
    def __init__(self, graph: Graph, edge: Edge, parent=None):
        super().__init__(parent)
        self.graph, self.edge, self.record = graph, edge, None
        self.setText(f"unwire {edge.src} → {edge.dst}")

    def redo(self):
        self.record = self.graph.disconnect(self.edge)

    def undo(self):
        self.graph.restore_edge(self.record)


class SetParam(QUndoCommand):
    def __init__(self, graph: Graph, node: str, name: str, value: Any, parent=None):
        super().__init__(parent)
        self.graph, self.node, self.name = graph, node, name
        self.old, self.new = graph.params(node)[name], value
        self.setText(f"{node}.{name} = {value!r}")

    def redo(self):
        self.graph.set_param(self.node, self.name, self.new)

    def undo(self):
        self.graph.set_param(self.node, self.name, self.old)


class MoveNodes(QUndoCommand):
    """One drag (or an auto-layout) is one command, however many nodes moved."""

    def __init__(self, graph: Graph, moves: dict[str, tuple[tuple, tuple]], text="move",
                 parent=None):
        super().__init__(parent)
        self.graph, self.moves = graph, dict(moves)  # node -> (old pos, new pos)
        self.setText(text if len(moves) != 1 else f"{text} {next(iter(moves))}")

    def redo(self):
        for n, (_, new) in self.moves.items():
            self.graph.move_node(n, new)

    def undo(self):
        for n, (old, _) in self.moves.items():
            self.graph.move_node(n, old)


class Rename(QUndoCommand):
    def __init__(self, graph: Graph, old: str, new: str, parent=None):
        super().__init__(parent)
        self.graph, self.old, self.new = graph, old, new
        self.setText(f"rename {old} → {new}")

    def redo(self):
        self.graph.rename_node(self.old, self.new)

    def undo(self):
        self.graph.rename_node(self.new, self.old)


def macro(text: str) -> QUndoCommand:
    """A parent command whose children run as one undo step (paste, rewire)."""
    cmd = QUndoCommand()
    cmd.setText(text)
    return cmd
