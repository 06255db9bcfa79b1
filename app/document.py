"""The open document: project (graph + settings), undo stack, file path, dirty flag, and the
latest analysis. Every edit goes through `push(command)`; analysis reruns after edits,
coalesced to once per event-loop turn."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from graph.analysis import Analysis, analyse
from graph.project import Project, load


class Document(QObject):
    analysed = Signal(object)  # Analysis
    modifiedChanged = Signal(bool)
    pathChanged = Signal(object)  # Path | None

    def __init__(self, project: Project | None = None, path: str | Path | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.project = project or Project()
        self.path: Path | None = Path(path) if path else None
        self.undo = QUndoStack(self)
        self.undo.cleanChanged.connect(lambda clean: self.modifiedChanged.emit(not clean))
        self._extra_dirty = False  # changes made outside the undo stack (e.g. a template copy)
        self.analysis: Analysis = analyse(self.project.graph)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.reanalyse)
        self._unsubscribe = self.project.graph.subscribe(lambda ev: self._timer.start())

    @classmethod
    def open(cls, path: str | Path, parent: QObject | None = None) -> "Document":
        return cls(load(path), path, parent)  # ProjectError propagates to the caller

    @property
    def graph(self):
        return self.project.graph

    @property
    def title(self) -> str:
        return self.path.name if self.path else f"{self.project.name} (unsaved)"

    def is_modified(self) -> bool:
        return self._extra_dirty or not self.undo.isClean()

    def mark_modified(self) -> None:
        self._extra_dirty = True
        self.modifiedChanged.emit(True)

    def push(self, command: QUndoCommand) -> None:
        self.undo.push(command)

    def reanalyse(self) -> Analysis:
        self._timer.stop()
        self.analysis = analyse(self.project.graph)
        self.analysed.emit(self.analysis)
        return self.analysis

    def save(self, path: str | Path | None = None) -> None:
        """Write the project atomically; raises OSError on failure (nothing is lost)."""
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("no file name given")
        self.project.save(target)
        changed = target != self.path
        self.path = target
        self._extra_dirty = False
        self.undo.setClean()
        self.modifiedChanged.emit(False)
        if changed:
            self.pathChanged.emit(self.path)

    def close(self) -> None:
        self._unsubscribe()
        self._timer.stop()


class EditRefused(Exception):
    """An edit the model would refuse; the message says why (shown in the status bar)."""


def _check(why: str | None) -> None:
    if why:
        raise EditRefused(why)


class Editor:
    """Checked edits on a document: each checks first (QUndoStack.push runs redo() from C++,
    where an exception would be lost), then pushes one undo command."""

    def __init__(self, doc: Document):
        self.doc = doc

    @property
    def g(self):
        return self.doc.graph

    def add_node(self, type_id: str, pos, params: dict | None = None) -> str:
        from .commands import AddNode
        cmd = AddNode(self.g, type_id, None, params, pos)
        self.doc.push(cmd)
        return cmd.node_id

    def connect(self, edge, replace: bool = False) -> None:
        """Wire; with replace, a wire already on a single input is swapped out in one step."""
        from .commands import Connect, Disconnect, macro
        _check(self.g.connect_problem(edge.src, edge.src_port, edge.dst, edge.dst_port, replace))
        port = self.g.spec(edge.dst).input(edge.dst_port)
        taken = [] if port.multi else self.g.in_edges(edge.dst, edge.dst_port)
        if taken:
            parent = macro(f"rewire {edge.dst}.{edge.dst_port}")
            Disconnect(self.g, taken[0], parent)
            Connect(self.g, edge, parent)
            self.doc.push(parent)
        else:
            self.doc.push(Connect(self.g, edge))

    def disconnect(self, edges) -> None:
        from .commands import Disconnect, macro
        edges = [e for e in edges if self.g.has_edge(e)]
        if not edges:
            return
        if len(edges) == 1:
            self.doc.push(Disconnect(self.g, edges[0]))
            return
        parent = macro(f"unwire {len(edges)} wires")
        for e in edges:
            Disconnect(self.g, e, parent)
        self.doc.push(parent)

    def set_param(self, node: str, name: str, value) -> None:
        from .commands import SetParam
        _check(self.g.param_problem(node, name, value))
        if self.g.params(node)[name] == value and type(self.g.params(node)[name]) is type(value):
            return
        self.doc.push(SetParam(self.g, node, name, value))

    def rename(self, old: str, new: str) -> None:
        from graph.model import id_problem
        from .commands import Rename
        if old == new:
            return
        _check(id_problem(new))
        if new in self.g:
            raise EditRefused(f"a node named '{new}' already exists")
        self.doc.push(Rename(self.g, old, new))

    def move(self, moves: dict, text: str = "move") -> None:
        from .commands import MoveNodes
        moves = {n: (tuple(a), tuple(b)) for n, (a, b) in moves.items()
                 if n in self.g and tuple(a) != tuple(b)}
        if moves:
            self.doc.push(MoveNodes(self.g, moves, text))

    def remove(self, nodes, edges=()) -> None:
        from .commands import Disconnect, RemoveNodes, macro
        nodes = [n for n in nodes if n in self.g]
        edges = [e for e in edges if self.g.has_edge(e) and e.src not in nodes
                 and e.dst not in nodes]
        if not nodes and not edges:
            return
        if nodes and not edges:
            self.doc.push(RemoveNodes(self.g, nodes))
            return
        parent = macro("delete")
        for e in edges:
            Disconnect(self.g, e, parent)
        if nodes:
            RemoveNodes(self.g, nodes, parent)
        self.doc.push(parent)

    def paste(self, records: dict, offset=(30.0, 30.0)) -> list[str]:
        """Add copied nodes (fresh ids where taken) with the wires among them, as one step."""
        from graph.model import Edge as E
        from .commands import AddNode, Connect, macro
        from graph import catalogue
        nodes, edges = records.get("nodes", []), records.get("edges", [])
        if not nodes:
            return []
        for n in nodes:  # clipboard data may come from anywhere: check before pushing
            spec = catalogue.get(n["type"]) if catalogue.resolve_type(n.get("type", "")) else None
            if spec is None:
                raise EditRefused(f"the clipboard holds an unknown node type {n.get('type')!r}")
            for k, v in n.get("params", {}).items():
                why = spec.param(k).check(v) if k in {p.name for p in spec.params} else "unknown"
                if why:
                    raise EditRefused(f"the clipboard's {n['id']}.{k} {why}")
        parent = macro(f"paste {len(nodes)} node{'s' if len(nodes) > 1 else ''}")
        taken = set(self.g.nodes())
        rename = {}
        for n in nodes:
            new = n["id"]
            if new in taken:
                base = new.rstrip("0123456789") or new
                k = 1
                while f"{base}{k}" in taken:
                    k += 1
                new = f"{base}{k}"
            taken.add(new)
            rename[n["id"]] = new
        cmds = []
        for n in nodes:
            x, y = n.get("pos", (0, 0))
            cmds.append(AddNode(self.g, n["type"], rename[n["id"]], n.get("params", {}),
                                (x + offset[0], y + offset[1]), parent))
        for e in edges:
            (s, sp), (d, dp) = e["from"].split("."), e["to"].split(".")
            if s in rename and d in rename:
                Connect(self.g, E(rename[s], sp, rename[d], dp), parent)
        self.doc.push(parent)
        return [rename[n["id"]] for n in nodes]

    def copy_records(self, nodes: list[str]) -> dict:
        """Plain records of `nodes` and the wires among them (for the clipboard)."""
        keep = set(nodes)
        g = self.g
        return {
            "format": "layerloom.nodes",
            "nodes": [{"id": n, "type": g.node_type(n), "params": g.params(n),
                       "pos": list(g.pos(n))} for n in g.nodes() if n in keep],
            "edges": [{"from": f"{e.src}.{e.src_port}", "to": f"{e.dst}.{e.dst_port}"}
                      for e in g.edges() if e.src in keep and e.dst in keep],
        }
