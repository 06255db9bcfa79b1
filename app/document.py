"""The open document: project (graph + settings), undo stack, file path, dirty flag, and the
latest analysis. Every edit goes through `push(command)`; analysis reruns after edits,
coalesced to once per event-loop turn."""
from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from graph.analysis import Analysis, analyse
from graph.project import Project, load


class Document(QObject):
    analysed = Signal(object)  # Analysis
    modifiedChanged = Signal(bool)
    pathChanged = Signal(object)  # Path | None
    settingsChanged = Signal()  # training settings or data binding changed (or undone)
    lockChanged = Signal(str)  # why edits are refused now ("" when they are allowed)
    shownChanged = Signal()  # the canvas now shows another graph (a definition opened, left)

    def __init__(self, project: Project | None = None, path: str | Path | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.project = project or Project()
        self.path: Path | None = Path(path) if path else None
        self.undo = QUndoStack(self)
        self.undo.cleanChanged.connect(self._clean_changed)  # a bound slot: disconnected with us
        self._extra_dirty = False  # changes made outside the undo stack (e.g. a template copy)
        self.locked = ""  # while training: why the graph cannot be edited
        # Where runs of this document go while it has no file: its own folder, so two unsaved
        # projects never mix runs, and renaming one does not hide them (moved on first save).
        self.unsaved_key = f"{_slug(self.project.name)}-{uuid.uuid4().hex[:8]}"
        self.name_chosen = False  # the user named the project: the first save keeps the name
        self.analysis: Analysis = analyse(self.project.graph)
        # Where the canvas is: the definitions opened from the project's graph, each as
        # (block name, the instance it was opened from in the graph above)
        self.frames: list[tuple[str, str]] = []
        self.shown_analysis: Analysis = self.analysis
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.reanalyse)
        self._unsubscribe = self.project.graph.subscribe(lambda ev: self._timer.start())

    def _clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean or self._extra_dirty)

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

    def lock(self, reason: str) -> None:
        """Refuse edits (other than moving nodes), e.g. while the graph trains."""
        self.locked = reason
        self.lockChanged.emit(reason)

    def unlock(self) -> None:
        self.locked = ""
        self.lockChanged.emit("")

    def reanalyse(self) -> Analysis:
        self._timer.stop()
        self.analysis = analyse(self.project.graph)
        self._check_frames()
        self.shown_analysis = self._shown_analysis()
        self.analysed.emit(self.analysis)
        return self.analysis

    # Where the canvas is (a definition opened from an instance) -------------------------------
    @property
    def shown_graph(self):
        """The graph the canvas shows and edits: the project's, or an opened definition's."""
        depth = self._valid_depth()  # frames an undo just made stale do not count
        return self.graph.blocks[self.frames[depth - 1][0]].graph if depth else self.graph

    def _valid_depth(self) -> int:
        g = self.graph
        for k, (name, inst) in enumerate(self.frames):
            if inst not in g or g.node_type(inst) != f"block:{name}" or name not in g.blocks:
                return k
            g = g.blocks[name].graph
        return len(self.frames)

    def _check_frames(self) -> None:
        """An undone grouping, a removed or renamed instance: back up to where the canvas
        still stands."""
        depth = self._valid_depth()
        if depth < len(self.frames):
            self.go_to(depth)

    def open_block(self, instance: str) -> None:
        """Show the definition of `instance` (a node of the shown graph)."""
        from graph.blocks import block_name
        name = block_name(self.shown_graph.node_type(instance))
        if name is None:
            raise EditRefused(f"'{instance}' is not a block")
        self.frames.append((name, instance))
        self._shown_moved()

    def go_to(self, depth: int) -> None:
        """Back up to `depth` definitions opened (0: the project's graph)."""
        if 0 <= depth < len(self.frames):
            del self.frames[depth:]
            self._shown_moved()

    def _shown_moved(self) -> None:
        self.shown_analysis = self._shown_analysis()
        self.shownChanged.emit()

    def crumbs(self) -> list[str]:
        """"Project", then "instance (Block title)" for each definition opened."""
        out = ["Project"]
        for name, inst in self.frames:
            out.append(f"{inst} ({self.graph.blocks[name].title})" if name in self.graph.blocks
                       else inst)
        return out

    def _shown_analysis(self) -> Analysis:
        """The shown graph's analysis: inside a definition, its types as the instance it was
        opened from gives them (its first repetition), or without any where that fails."""
        from graph.blocks import inner_types
        g, a = self.graph, self.analysis
        for name, inst in self.frames[:self._valid_depth()]:
            d = g.blocks[name]
            ins = []
            for port in d.inputs:
                e = g.in_edges(inst, port)
                ins.append(a.edge_type(e[0]) if e and a is not None else None)
            if any(t is None for t in ins):
                a = None
            else:
                try:
                    a = inner_types(g.blocks, name, tuple(ins), g.params(inst))[2]
                except Exception:  # noqa: BLE001 (a broken definition: no labels)
                    a = None
            g = d.graph
        return a if a is not None else analyse(g)

    def save(self, path: str | Path | None = None) -> None:
        """Write the project atomically; raises OSError on failure (nothing is lost)."""
        target = Path(path) if path else self.path
        if target is None:
            raise ValueError("no file name given")
        renamed = None
        if self.path is None and not self.name_chosen and target.stem.strip():
            # First save: the project takes the file's name (exports are then class MyNet,
            # `from my_net import load`, not Untitled).
            renamed, self.project.name = self.project.name, target.stem.strip()[:120]
        try:
            self.project.save(target)
        except BaseException:
            if renamed is not None:
                self.project.name = renamed
            raise
        if renamed is not None and renamed != self.project.name:
            self.settingsChanged.emit()
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


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")[:40] or "untitled"


class EditRefused(Exception):
    """An edit the model would refuse; the message says why (shown in the status bar)."""


def _check(why: str | None) -> None:
    if why:
        raise EditRefused(why)


def project_field_problem(key: str, value) -> str | None:
    """Why a project name or description cannot be `value` (None if it can)."""
    if key not in ("name", "description"):
        return f"a project has no field '{key}'"
    if not isinstance(value, str):
        return f"the project's {key} must be text"
    if key == "name":
        if not value.strip():
            return "the project's name cannot be empty"
        if len(value) > 120:
            return "the project's name is too long (at most 120 characters)"
        if any(c in value for c in "\r\n\t") or not value.isprintable():
            return "the project's name must be one line of printable characters"
    elif len(value) > 10_000:
        return "the description is too long (at most 10,000 characters)"
    return None


class Editor:
    """Checked edits on a document: each checks first (QUndoStack.push runs redo() from C++,
    where an exception would be lost), then pushes one undo command."""

    def __init__(self, doc: Document):
        self.doc = doc

    @property
    def g(self):
        """The graph edits go to: the one the canvas shows."""
        return self.doc.shown_graph

    def _push(self, steps, text: str | None = None) -> None:
        from .commands import Edit, MoveNodes
        if self.doc.locked and not all(isinstance(s, MoveNodes) for s in steps):
            raise EditRefused(self.doc.locked)
        self.doc.push(Edit(steps, text))

    def set_setting(self, section: str, key: str, value) -> None:
        """A training setting, data value or project name/description; checked first (by
        the settings model for training and data)."""
        from pydantic import ValidationError
        from .commands import SetSetting
        if section == "project":
            _check(project_field_problem(key, value))
            if getattr(self.doc.project, key) == value:
                return
            if key == "name":
                self.doc.name_chosen = True
        else:
            target = getattr(self.doc.project, section)
            if getattr(target, key) == value:
                return
            try:
                type(target).model_validate({**target.model_dump(), key: value})
            except ValidationError as e:
                err = e.errors()[0]
                loc = err.get("loc", ())
                if key == "optimizers" and len(loc) > 2:  # optimizers.1.lr
                    where = f"optimizer record {int(loc[1]) + 1}, {str(loc[2]).replace('_', ' ')}"
                else:
                    where = key.replace('_', ' ')
                raise EditRefused(f"{where}: {err['msg']}") from None
        self._push([SetSetting(self.doc.project, section, key, value,
                               self.doc.settingsChanged.emit)])

    def add_node(self, type_id: str, pos, params: dict | None = None) -> str:
        from .commands import AddNode
        tid = self.g.resolve_type(type_id)
        _check(None if tid else f"unknown node type '{type_id}'")
        _check(self.g.nesting_problem(tid) or self.g.placement_problem(self.g.type_spec(tid)))
        step = AddNode(self.g, type_id, None, params, pos)
        self._push([step])
        return step.node_id

    def add_wired(self, type_id: str, pos, node: str, port: str, port_is_input: bool) -> str:
        """Add a node and wire it to an existing port, as one undo step (a wire dropped on
        empty canvas). The new node's first port of the right kind is used."""
        from graph import catalogue
        from graph.model import Edge
        from .commands import AddNode, Connect, Disconnect
        spec = catalogue.get(type_id)
        _check(self.g.placement_problem(spec))
        kind = (self.g.spec(node).input(port) if port_is_input else self.g.spec(node).output(port)).kind
        add = AddNode(self.g, type_id, None, None, pos)
        new = add.node_id
        steps = [add]
        if port_is_input:
            out = next((p for p in spec.outputs if p.kind == kind), None)
            if out is None:
                raise EditRefused(f"{spec.title} has no {kind} output")
            edge = Edge(new, out.name, node, port)
            target = self.g.spec(node).input(port)
            taken = [] if target.multi else self.g.in_edges(node, port)
            steps += [Disconnect(self.g, e) for e in taken]
        else:
            inp = next((p for p in spec.inputs if p.kind == kind), None)
            if inp is None:
                raise EditRefused(f"{spec.title} has no {kind} input")
            edge = Edge(node, port, new, inp.name)
        steps.append(Connect(self.g, edge))
        self._push(steps, f"Add {spec.title} '{new}' wired to {node}")
        return new

    def connect(self, edge, replace: bool = False) -> None:
        """Wire; with replace, a wire already on a single input is swapped out in one step."""
        from .commands import Connect, Disconnect
        _check(self.g.connect_problem(edge.src, edge.src_port, edge.dst, edge.dst_port, replace))
        port = self.g.spec(edge.dst).input(edge.dst_port)
        taken = [] if port.multi else self.g.in_edges(edge.dst, edge.dst_port)
        if taken:
            self._push([Disconnect(self.g, taken[0]), Connect(self.g, edge)],
                       f"Rewire {edge.dst} ({edge.dst_port}) to {edge.src}")
        else:
            self._push([Connect(self.g, edge)])

    def disconnect(self, edges) -> None:
        from .commands import Disconnect
        edges = [e for e in edges if self.g.has_edge(e)]
        if edges:
            self._push([Disconnect(self.g, e) for e in edges],
                       None if len(edges) == 1 else f"Unwire {len(edges)} wires")

    def set_param(self, node: str, name: str, value) -> None:
        from .commands import SetParam
        _check(self.g.param_problem(node, name, value))
        old = self.g.spec(node).resolved(self.g.params(node))[name]
        if old == value and type(old) is type(value):
            return
        self._push([SetParam(self.g, node, name, value)])

    def set_node_subnet(self, node: str, name: str) -> None:
        """Put `node` in the sub-network `name` (made if new; '' = in none), out of any other;
        a sub-network left empty goes."""
        from graph.model import id_problem
        from .commands import SetSubnets
        name = name.strip()
        if name:
            why = id_problem(name)
            if why:
                raise EditRefused(f"sub-network name: {why}")
        subnets = self.g.subnets
        if (name and node in subnets.get(name, [])) or \
                (not name and not any(node in m for m in subnets.values())):
            return
        new = {k: [m for m in v if m != node] for k, v in subnets.items()}
        if name:
            new.setdefault(name, []).append(node)
        new = {k: v for k, v in new.items() if v}
        text = f"Put {node} in the sub-network {name}" if name else \
            f"Take {node} out of its sub-network"
        self._push([SetSubnets(self.g, new, text)])

    def _port_in_use(self, nodes) -> str | None:
        """Why the shown definition's Block input/output `nodes` cannot go or be renamed: an
        instance is wired at that port (its wire would be left on a port that is no more)."""
        g = self.g
        ports = [n for n in nodes if g.owner is not None and n in g
                 and g.spec(n).role.block_port]
        if not ports:
            return None
        top = self.doc.graph
        for h in [top] + [top.blocks[b].graph for b in top.blocks]:
            for n in h.nodes():
                if h.node_type(n) != f"block:{g.owner}":
                    continue
                for p in ports:
                    if h.in_edges(n, p) or h.out_edges(n, p):
                        where = n if h.owner is None else f"{h.owner} > {n}"
                        return (f"the block's port '{p}' is wired where the block is used "
                                f"('{where}'): unwire it there first")
        return None

    def rename(self, old: str, new: str) -> None:
        from graph.model import id_problem
        from .commands import Rename
        if old == new:
            return
        _check(self._port_in_use([old]))
        _check(id_problem(new))
        if new in self.g:
            raise EditRefused(f"a node named '{new}' already exists")
        self._push([Rename(self.g, old, new)])

    def move(self, moves: dict, text: str = "Move") -> None:
        from .commands import MoveNodes
        moves = {n: (tuple(a), tuple(b)) for n, (a, b) in moves.items()
                 if n in self.g and tuple(a) != tuple(b)}
        if moves:
            self._push([MoveNodes(self.g, moves, text)])

    def remove(self, nodes, edges=()) -> None:
        from .commands import Disconnect, RemoveNodes
        nodes = [n for n in nodes if n in self.g]
        _check(self._port_in_use(nodes))
        edges = [e for e in edges if self.g.has_edge(e) and e.src not in nodes
                 and e.dst not in nodes]
        steps = [Disconnect(self.g, e) for e in edges]
        if nodes:  # (inside a block: first its parameters' targets on them)
            from .block_commands import exposed_cleanup
            steps += exposed_cleanup(self.doc, self.g, nodes) + [RemoveNodes(self.g, nodes)]
        if steps:
            self._push(steps, steps[-1].text if len(steps) == 1 else "Delete the selection")

    def paste(self, records: dict, offset=(30.0, 30.0)) -> list[str]:
        """Add copied nodes (fresh ids where taken) with the wires among them, as one step."""
        from graph import catalogue
        from graph.model import Edge as E
        from .commands import AddNode, Connect
        nodes, edges = records.get("nodes", []), records.get("edges", [])
        if not nodes:
            return []
        for n in nodes:  # clipboard data may come from anywhere: check before pushing
            t = n.get("type")
            tid = self.g.resolve_type(t) if isinstance(t, str) else None
            spec = self.g.type_spec(tid) if tid else None
            if spec is None:
                raise EditRefused(f"the clipboard holds an unknown node type {t!r}")
            _check(self.g.nesting_problem(tid) or self.g.placement_problem(spec))
            for k, v in n.get("params", {}).items():
                why = spec.param(k).check(v) if k in {p.name for p in spec.params} else "unknown"
                if why:
                    raise EditRefused(f"the clipboard's {n['id']}.{k} {why}")
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
        steps = []
        for n in nodes:
            x, y = n.get("pos", (0, 0))
            steps.append(AddNode(self.g, n["type"], rename[n["id"]], n.get("params", {}),
                                 (x + offset[0], y + offset[1])))
        for e in edges:
            (s, sp), (d, dp) = e["from"].split("."), e["to"].split(".")
            if s in rename and d in rename:
                steps.append(Connect(self.g, E(rename[s], sp, rename[d], dp)))
        self._push(steps, f"Paste {len(nodes)} node{'s' if len(nodes) > 1 else ''}")
        return [rename[n["id"]] for n in nodes]

    def group(self, nodes, title: str = "") -> str:
        """Group `nodes` into a new block (named block1, block2, ...): one undo step. Returns
        the instance's id."""
        from graph.grouping import free_block_name, group, group_problem
        from .commands import Journaled
        _check(group_problem(self.g, nodes))
        name = free_block_name(self.g)
        step = Journaled(self.g, lambda g: group(g, list(nodes), name, title or name),
                         f"Group {len(nodes)} node{'s' if len(nodes) > 1 else ''} into the "
                         f"block '{name}'")
        self._push([step])
        return step.journal.result

    def ungroup(self, node: str) -> list[str]:
        """Unpack a block instance into plain nodes: one undo step. Returns them."""
        from graph.grouping import ungroup, ungroup_problem
        from .commands import Journaled
        _check(ungroup_problem(self.g, node))
        step = Journaled(self.g, lambda g: ungroup(g, node), f"Unpack the block '{node}'")
        self._push([step])
        return step.journal.result

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
