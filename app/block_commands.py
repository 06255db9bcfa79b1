"""Placing blocks from the palette's Blocks section (issue 25, item 5) as one undoable step.

A palette entry carries "block:<name>" (a definition of the project: an instance is added
through the Editor, like any node) or "library:<key>" (a library entry, graph/library.py:
its definitions are copied into the project and an instance added, one `InsertBlock`).
MainWindow's `_add_node` (app/window_edit.py) hands both to `place`.
"""
from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from graph import library
from graph.blocks import type_of
from graph.model import GraphError

from .document import EditRefused

LIBRARY_PREFIX = "library:"


class InsertBlock(QUndoCommand):
    """Copy a library entry into the project's block registry (`library.insert`) and add an
    instance of it to `graph` (the graph the canvas shows), as one undo step.

    The edit is done when the command is made, so that a refusal is raised to the caller
    rather than lost inside QUndoStack.push; the stack's first redo() has nothing to do.
    Undo removes the instance, then the definitions the insert added (the project comes back
    byte for byte); redo puts both back as they were."""

    def __init__(self, project_graph, graph, entry: library.Entry, pos):
        super().__init__()
        self.project, self.graph = project_graph, graph
        self.added: list[str] = []
        try:
            name = library.insert(project_graph, entry, self.added)
        except library.LibraryError as e:
            raise EditRefused(f"{entry.title}: {e}") from None
        tid = type_of(name)
        why = graph.nesting_problem(tid) or graph.placement_problem(graph.type_spec(tid))
        self.node_id = graph.new_id(tid)
        if not why:
            try:
                graph.add_node(tid, self.node_id, None, pos)
            except GraphError as e:
                why = str(e)
        if why:
            library.remove_added(project_graph, self.added)
            raise EditRefused(why)
        self.setText(f"Add {graph.spec(self.node_id).title} '{self.node_id}' from the library")
        self._done = True
        self._node = None
        self._removed: list = []

    def redo(self):
        if self._done:
            return
        self._done = True
        library.restore(self.project, self._removed)
        self.graph.restore_node(self._node)

    def undo(self):
        self._done = False
        self._node = self.graph.remove_node(self.node_id)
        self._removed = library.remove_added(self.project, self.added)


def add_from_library(doc, key: str, pos) -> str:
    """Copy library entry `key` ("shipped/conv_bn_relu.json") into `doc`'s project and add an
    instance at `pos` in the graph shown; returns the new node's id. EditRefused says why
    not."""
    if doc.locked:
        raise EditRefused(doc.locked)
    try:
        entry = library.find(key)
    except library.LibraryError as e:
        raise EditRefused(str(e)) from None
    if not entry.ok:
        raise EditRefused(f"'{entry.path.name}' cannot be used: {entry.problem}")
    shown = getattr(doc, "shown_graph", doc.graph)
    cmd = InsertBlock(doc.graph, shown, entry, pos)
    doc.push(cmd)
    return cmd.node_id


def place(win, payload: str, pos) -> str | None:
    """A palette block dropped at scene point `pos` (or double-clicked: the view's centre):
    added as one undo step and selected; a refusal is said as the window says others."""
    from .canvas.items import NODE_W, snap
    on = win.scene.snap_to_grid
    xy = (snap(pos.x() - NODE_W / 2, on), snap(pos.y() - 20, on))
    node = None

    def edit():
        nonlocal node
        if payload.startswith(LIBRARY_PREFIX):
            node = add_from_library(win.doc, payload[len(LIBRARY_PREFIX):], xy)
        else:
            node = win.editor.add_node(payload, xy)
    if win.block_refusals.commit(edit, "Not added: "):
        win._select([node])
    return node


# A definition's own properties (issue 25: block properties, exposed parameters) ------------
# Each edit below is checked first, then pushed as one undo step calling the graph's block
# mutators (Graph.rename_block, Graph.set_block_info) on the project's graph; undo calls them
# back with the old values, so the project file comes back byte for byte.

class _BlockStep:
    text = "edit"


class RenameBlock(_BlockStep):
    """Rename a definition (every instance follows). A title that was the old name (as
    grouping makes it) follows the name. The canvas' frames inside it follow too."""

    def __init__(self, doc, old: str, new: str):
        self.doc, self.old, self.new = doc, old, new
        self.retitle = doc.graph.blocks[old].title == old
        self.text = f"Rename the block '{old}' to '{new}'"

    def _frames(self, old: str, new: str) -> None:
        self.doc.frames = [(new if n == old else n, i) for n, i in self.doc.frames]

    def redo(self):
        self.doc.graph.rename_block(self.old, self.new)
        self._frames(self.old, self.new)
        if self.retitle:
            self.doc.graph.set_block_info(self.new, title=self.new)

    def undo(self):
        if self.retitle:
            self.doc.graph.set_block_info(self.new, title=self.old)
        self.doc.graph.rename_block(self.new, self.old)
        self._frames(self.new, self.old)


class SetBlockInfo(_BlockStep):
    """A definition's title, help text or exposed parameters (Graph.set_block_info)."""

    def __init__(self, graph, name: str, text: str, **changes):
        self.graph, self.name, self.text, self.changes = graph, name, text, changes
        self.old: dict = {}

    def redo(self):
        self.old = self.graph.set_block_info(self.name, **self.changes)

    def undo(self):
        self.graph.set_block_info(self.name, **{k: self.old[k] for k in self.changes})


def _push(doc, step) -> None:
    from .commands import Edit
    if doc.locked:
        raise EditRefused(doc.locked)
    doc.push(Edit([step]))


def _definition(doc, block: str):
    if block not in doc.graph.blocks:
        raise EditRefused(f"there is no block '{block}'")
    return doc.graph.blocks[block]


def rename_block(doc, old: str, new: str) -> None:
    """Rename the block `old` to `new`; every instance follows (one undo step)."""
    from graph.names import id_problem
    _definition(doc, old)
    new = new.strip()
    if new == old:
        return
    why = id_problem(new)
    if why:
        raise EditRefused(f"block name: {why}")
    if new in doc.graph.blocks:
        raise EditRefused(f"a block named '{new}' already exists")
    _push(doc, RenameBlock(doc, old, new))


def set_block_text(doc, block: str, title: str | None = None, help: str | None = None) -> None:
    """A block's title (what its instances are called) or help text, one undo step."""
    d = _definition(doc, block)
    changes = {}
    if title is not None:
        title = title.strip()
        if not title or any(c in title for c in "\r\n\t") or len(title) > 120:
            raise EditRefused("a block's title is one line of 1 to 120 characters")
        if title != d.title:
            changes["title"] = title
    if help is not None and help != d.doc:
        if len(help) > 10_000:
            raise EditRefused("the help text is too long (at most 10,000 characters)")
        changes["doc"] = help
    if not changes:
        return
    what = "title" if "title" in changes else "help text"
    _push(doc, SetBlockInfo(doc.graph, block, f"Edit the block '{block}''s {what}", **changes))


def _set_exposed(doc, block: str, exposed: tuple, text: str) -> None:
    d = _definition(doc, block)
    for x in exposed:
        why = d.exposed_problem(x)
        if why:
            raise EditRefused(why)
    names = [x.name for x in exposed]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise EditRefused(f"the block already has a parameter named '{dup}'")
    _push(doc, SetBlockInfo(doc.graph, block, text, exposed=tuple(exposed)))


def exposed_for(d, target: str):
    """The block parameter of definition `d` that sets `target` ("node.param"), or None."""
    return next((x for x in d.exposed if target in x.targets), None)


def expose(doc, block: str, node: str, param: str, name: str) -> None:
    """Make `node.param` of definition `block` a new block parameter `name`, whose default is
    the parameter's value now (one undo step)."""
    from graph.blocks import RESERVED_PARAMS, Exposed
    d = _definition(doc, block)
    name = name.strip()
    target = f"{node}.{param}"
    if d.target_param(target) is None:
        raise EditRefused(f"'{node}' has no parameter '{param}'")
    if not name.isidentifier() or name in RESERVED_PARAMS:
        raise EditRefused(f"a block parameter's name is a Python identifier other than "
                          f"{' and '.join(RESERVED_PARAMS)}, not {name!r}")
    if any(x.name == name for x in d.exposed):
        raise EditRefused(f"the block already has a parameter named '{name}'")
    taken = exposed_for(d, target)
    if taken:
        raise EditRefused(f"{target} is already set by the block parameter '{taken.name}'")
    default = d.graph.params(node).get(param)
    new = Exposed(name, (target,), default)
    _set_exposed(doc, block, d.exposed + (new,),
                 f"Expose {target} as the block parameter '{name}'")


def add_to_exposed(doc, block: str, name: str, node: str, param: str) -> None:
    """Let the block parameter `name` set `node.param` too (a parameter of the same kind)."""
    from graph.blocks import Exposed
    d = _definition(doc, block)
    target = f"{node}.{param}"
    x = next((x for x in d.exposed if x.name == name), None)
    if x is None:
        raise EditRefused(f"the block has no parameter '{name}'")
    found = d.target_param(target)
    if found is None:
        raise EditRefused(f"'{node}' has no parameter '{param}'")
    taken = exposed_for(d, target)
    if taken:
        raise EditRefused(f"{target} is already set by the block parameter '{taken.name}'")
    first = d.target_param(x.targets[0]) if x.targets else None
    if first is not None and first[1].kind != found[1].kind:
        raise EditRefused(f"the block parameter '{name}' sets {first[1].kind} values, "
                          f"{target} is {found[1].kind}")
    new = tuple(Exposed(x.name, x.targets + (target,), x.default, x.help) if x.name == name
                else x for x in d.exposed)
    _set_exposed(doc, block, new, f"Add {target} to the block parameter '{name}'")


def unexpose(doc, block: str, name: str, target: str | None = None) -> None:
    """Remove the block parameter `name` (or only its `target`; the last one removes it)."""
    from graph.blocks import Exposed
    d = _definition(doc, block)
    x = next((x for x in d.exposed if x.name == name), None)
    if x is None:
        raise EditRefused(f"the block has no parameter '{name}'")
    if target is None or x.targets == (target,):
        why = _outer_users(doc, block, name)
        if why:
            raise EditRefused(why)
        new = tuple(y for y in d.exposed if y.name != name)
        text = f"Remove the block parameter '{name}'"
    else:
        new = tuple(Exposed(y.name, tuple(t for t in y.targets if t != target), y.default,
                            y.help) if y.name == name else y for y in d.exposed)
        text = f"Stop {target} following the block parameter '{name}'"
    _set_exposed(doc, block, new, text)


# Inner nodes that block parameters set (what would leave a parameter setting nothing, which a
# project file cannot hold) --------------------------------------------------------------------

def exposed_cleanup(doc, g, nodes) -> list:
    """Removing `nodes` from the definition `g` shows: a step, to run first, that drops the
    block parameters' targets on them (a parameter left setting nothing goes). Undone after
    the nodes are back, so the file comes back byte for byte."""
    from graph.blocks import Exposed
    if g.owner is None or g.owner not in doc.graph.blocks:
        return []
    d, gone = doc.graph.blocks[g.owner], set(nodes)
    new = []
    for x in d.exposed:
        targets = tuple(t for t in x.targets if t.partition(".")[0] not in gone)
        if targets:
            new.append(x if targets == x.targets else Exposed(x.name, targets, x.default,
                                                                 x.help))
    if tuple(new) == d.exposed or any(d.exposed_problem(x) for x in new):
        return []
    return [SetBlockInfo(doc.graph, g.owner, "Drop the block parameters' removed targets",
                         exposed=tuple(new))]


def _outer_users(doc, block: str, name: str) -> str | None:
    """Why the block parameter `name` of `block` cannot go: another block's parameter sets
    it on an instance of `block`."""
    for other in doc.graph.blocks.names():
        d = doc.graph.blocks[other]
        for x in d.exposed:
            for t in x.targets:
                node, _, p = t.partition(".")
                if p == name and node in d.graph and \
                        d.graph.node_type(node) == f"block:{block}":
                    return (f"the block '{other}''s parameter '{x.name}' sets it ({t}): "
                            "remove that first")
    return None
