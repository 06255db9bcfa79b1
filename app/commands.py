"""Undo commands. Each step calls the graph's mutators only; the canvas redraws from the
events (ARCHITECTURE.md, principle 3). Removals keep the record the graph returns, so undo puts
things back exactly where they were and the project file comes back byte for byte.

Steps are plain Python objects; one `Edit` (the QUndoCommand the stack owns) runs one or more
of them. Qt parent/child commands are avoided on purpose: a child built with a parent from
Python stays owned by its Python wrapper, and is deleted twice when a document is collected.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtGui import QUndoCommand

from graph.model import Edge, Graph

# Undo labels are sentences (Edit > Undo "Bind input1 to x", the History list), not code.
SETTING_WORDS = {"lr": "learning rate", "clip_norm": "gradient clipping", "batch_size":
                 "batch size", "weight_decay": "L2 weight decay", "val_split": "validation share"}


def _words(v: Any) -> str:
    if v is None:
        return "off"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return " × ".join(map(str, v)) if all(isinstance(x, int) for x in v) else \
            ", ".join(map(str, v))
    return str(v)


class Step:
    text = "edit"

    def redo(self) -> None:
        raise NotImplementedError

    def undo(self) -> None:
        raise NotImplementedError


class Edit(QUndoCommand):
    """One undo step made of several model steps (done in order, undone in reverse)."""

    def __init__(self, steps: list[Step], text: str | None = None):
        super().__init__()
        self.steps = list(steps)
        self.setText(text or (self.steps[0].text if len(self.steps) == 1 else "edit"))

    def redo(self):
        for s in self.steps:
            s.redo()

    def undo(self):
        for s in reversed(self.steps):
            s.undo()


class AddNode(Step):
    def __init__(self, graph: Graph, type_id: str, node_id: str | None = None,
                 params: dict | None = None, pos=(0.0, 0.0)):
        self.graph, self.type_id, self.params, self.pos = graph, type_id, params or {}, pos
        self.node_id = node_id or graph.new_id(type_id)
        self.record = None
        spec = graph.type_spec(graph.resolve_type(type_id) or type_id)
        self.text = f"Add {spec.title} '{self.node_id}'"

    def redo(self):
        if self.record is None:
            self.graph.add_node(self.type_id, self.node_id, self.params, self.pos)
        else:
            self.graph.restore_node(self.record)

    def undo(self):
        self.record = self.graph.remove_node(self.node_id)


class Journaled(Step):
    """A graph operation that journals its mutator calls (graph/grouping.py: group into a
    block, ungroup): done once, then undone and redone from the journal's records."""

    def __init__(self, graph: Graph, do, text: str):
        self.graph, self.do, self.text = graph, do, text
        self.journal = None

    def redo(self):
        if self.journal is None:
            self.journal = self.do(self.graph)
        else:
            self.journal.redo()

    def undo(self):
        self.journal.undo()


class RemoveNodes(Step):
    def __init__(self, graph: Graph, nodes: list[str]):
        self.graph, self.nodes = graph, list(nodes)
        self.records = []
        self.text = "Delete " + (f"'{self.nodes[0]}'" if len(self.nodes) == 1
                                 else f"{len(self.nodes)} nodes")

    def redo(self):
        self.records = [self.graph.remove_node(n) for n in self.nodes]

    def undo(self):
        for rec in reversed(self.records):
            self.graph.restore_node(rec)


class Connect(Step):
    def __init__(self, graph: Graph, edge: Edge):
        self.graph, self.edge, self.record = graph, edge, None
        self.text = f"Wire {edge.src} to {edge.dst} ({edge.dst_port})"

    def redo(self):
        if self.record is None:
            e = self.edge
            self.graph.connect(e.src, e.src_port, e.dst, e.dst_port)
        else:
            self.graph.restore_edge(self.record)

    def undo(self):
        self.record = self.graph.disconnect(self.edge)


class Disconnect(Step):
    def __init__(self, graph: Graph, edge: Edge):
        self.graph, self.edge, self.record = graph, edge, None
        self.text = f"Unwire {edge.src} from {edge.dst} ({edge.dst_port})"

    def redo(self):
        self.record = self.graph.disconnect(self.edge)

    def undo(self):
        self.graph.restore_edge(self.record)


class SetParam(Step):
    def __init__(self, graph: Graph, node: str, name: str, value: Any):
        self.graph, self.node, self.name = graph, node, name
        # an instance's block parameter exposed after it was made has no stored value yet:
        # its default stands (and is what undo writes back: the same file)
        self.old = graph.spec(node).resolved(graph.params(node))[name]
        self.new = value
        param = graph.spec(node).param(name)
        self.text = f"Set {node}'s {param.title if param else name} to {_words(value)}"

    def redo(self):
        self.graph.set_param(self.node, self.name, self.new)

    def undo(self):
        self.graph.set_param(self.node, self.name, self.old)


class MoveNodes(Step):
    """One drag (or an auto-layout) is one step, however many nodes moved."""

    def __init__(self, graph: Graph, moves: dict[str, tuple[tuple, tuple]], text="Move"):
        self.graph, self.moves = graph, dict(moves)  # node -> (old pos, new pos)
        if text != "Move":
            self.text = text
        else:
            self.text = f"Move '{next(iter(moves))}'" if len(moves) == 1 else \
                f"Move {len(moves)} nodes"

    def redo(self):
        for n, (_, new) in self.moves.items():
            self.graph.move_node(n, new)

    def undo(self):
        for n, (old, _) in self.moves.items():
            self.graph.move_node(n, old)


class Rename(Step):
    def __init__(self, graph: Graph, old: str, new: str):
        self.graph, self.old, self.new = graph, old, new
        self.text = f"Rename {old} to {new}"

    def redo(self):
        self.graph.rename_node(self.old, self.new)

    def undo(self):
        self.graph.rename_node(self.new, self.old)


class SetSubnets(Step):
    """Sub-network memberships, all at once (a node moved from one to another)."""

    def __init__(self, graph: Graph, new: dict[str, list[str]], text: str):
        self.graph, self.old, self.new, self.text = graph, graph.subnets, new, text

    def _apply(self, state: dict[str, list[str]]) -> None:
        for name in sorted(set(self.old) | set(self.new)):
            self.graph.set_subnet(name, state.get(name))

    def redo(self):
        self._apply(self.new)

    def undo(self):
        self._apply(self.old)


class SetSetting(Step):
    """A training setting, a data-binding value, or the project's name or description
    (`section` is "training", "data" or "project")."""

    def __init__(self, project, section: str, key: str, value: Any, notify=None):
        self.project, self.section, self.key, self.new = project, section, key, value
        self.old = getattr(self._target(), key)
        self.notify = notify
        self.text = self._describe(section, key, self.old, value)

    @staticmethod
    def _describe(section: str, key: str, old, new) -> str:
        if section == "project":
            return (f"Rename the project to '{new}'" if key == "name"
                    else "Edit the project's description")
        if section == "training" and key == "optimizers":
            return "Edit the optimizer records"
        if section == "training":
            return f"Set the {SETTING_WORDS.get(key, key.replace('_', ' '))} to {_words(new)}"
        if key == "standardize":
            return "Standardise the features" if new else "Stop standardising the features"
        if key == "augment":
            return "Change the augmentation"
        if key == "dataset":
            return f"Use the dataset '{new}'" if new else "Choose no dataset"
        if key == "bind":
            added = [f"{n} to {f}" for n, f in sorted(new.items()) if old.get(n) != f]
            gone = [n for n in sorted(old) if n not in new]
            if len(added) == 1 and not gone:
                return f"Bind {added[0]}"
            if gone and not added:
                return "Unbind " + ", ".join(gone)
            return "Bind " + ", ".join(added) if added else "Change the data binding"
        changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        if len(changed) == 1:
            k = changed[0]
            return (f"Set the data option {k.replace('_', ' ')} to {_words(new[k])}" if k in new
                    else f"Reset the data option {k.replace('_', ' ')}")
        return "Change the data options"

    def _target(self):
        return self.project if self.section == "project" else getattr(self.project, self.section)

    def _set(self, value) -> None:
        setattr(self._target(), self.key, value)
        if self.notify:
            self.notify()

    def redo(self):
        self._set(self.new)

    def undo(self):
        self._set(self.old)
