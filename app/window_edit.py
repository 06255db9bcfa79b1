"""The main window's editing of the graph (ARCHITECTURE.md, principle 3: every edit is an
undo command, through app/document.py's Editor): nodes added from the palette or the quick-add
box (with what usually follows, from the shipped templates), selection, cut, copy, paste,
duplicate, delete, and the auto-layout.

`GraphEditing` is a mixin of MainWindow (app/mainwindow.py), which provides doc, editor, scene,
view, quick, _quick_target and show_message.
"""
from __future__ import annotations

import json

from PySide6.QtCore import QPointF
from PySide6.QtGui import QGuiApplication

from graph import catalogue
from graph.layout import layered_positions, wrap_for_aspect
from graph.project import ProjectError

from .document import EditRefused

_PAIRS = None


def template_pairs():
    """How often each type follows each other in the shipped templates (read once)."""
    global _PAIRS
    if _PAIRS is None:
        from graph.project import load
        from graph.suggest import pair_counts
        from templates import FOLDER
        graphs = []
        for path in sorted(FOLDER.glob("*.json")):
            try:
                graphs.append(load(path).graph)
            except ProjectError:  # a damaged template only costs its suggestions
                continue
        _PAIRS = pair_counts(graphs)
    return _PAIRS


class GraphEditing:
    """Editing for MainWindow: see the module's docstring."""

    # Editing ------------------------------------------------------------------------------------
    def _add_node(self, type_id: str, pos: QPointF) -> str | None:
        if type_id.startswith(("block:", "library:")):  # the palette's Blocks section
            from .block_commands import place
            return place(self, type_id, pos)
        if catalogue.resolve_type(type_id) is None:
            return None
        from .canvas.items import NODE_W, snap
        x, y = snap(pos.x() - NODE_W / 2, self.scene.snap_to_grid), snap(pos.y() - 20, self.scene.snap_to_grid)
        node = None

        def edit():
            nonlocal node
            node = self.editor.add_node(type_id, (x, y))
        if self.block_refusals.commit(edit, "Not added: "):
            self._select([node])
            self.palette.note_used(type_id)
        return node

    def _open_quick(self, pos: QPointF, port) -> None:
        types = None
        if port is not None:  # what can take the wire, what usually follows first
            from graph.suggest import follow_ups
            g = self.doc.shown_graph
            types = follow_ups(g, self.doc.shown_analysis.types,
                               port.node_item.node_id, port.name, port.is_input,
                               template_pairs())
            # not what this graph may not hold (a Block output outside a block)
            types = [t for t in types if not g.placement_problem(catalogue.get(t))]
        self._quick_target = (pos, port)
        self.quick.open_at(self.view.mapToGlobal(self.view.mapFromScene(pos)), types)

    def _quick_chosen(self, type_id: str) -> None:
        pos, port = self._quick_target or (self.view.center_scene_pos(), None)
        self._quick_target = None
        if port is None:
            self._add_node(type_id, pos)
            return
        from .canvas.items import NODE_W, snap
        on = self.scene.snap_to_grid
        xy = (snap(pos.x() - (NODE_W if port.is_input else 0), on), snap(pos.y() - 20, on))
        try:
            node = self.editor.add_wired(type_id, xy, port.node_item.node_id, port.name,
                                         port.is_input)
        except EditRefused as e:
            self.show_message(f"Not added: {e}")
            return
        self._select([node])

    def _select(self, nodes) -> None:
        self.scene.clearSelection()
        for n in nodes:
            item = self.scene.nodes.get(n)
            if item:
                item.setSelected(True)

    def delete_selection(self) -> None:
        self.editor.remove(self.scene.selected_nodes(), self.scene.selected_edges())

    def select_all(self) -> None:
        for item in self.scene.nodes.values():
            item.setSelected(True)

    def copy(self) -> bool:
        nodes = self.scene.selected_nodes()
        if not nodes:
            return False
        # Plain text (JSON with its own "format" marker): a QMimeData made in Python and
        # handed to the clipboard would be destroyed by Qt after Python has shut down.
        QGuiApplication.clipboard().setText(json.dumps(self.editor.copy_records(nodes)))
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete_selection()

    def paste(self) -> None:
        raw = QGuiApplication.clipboard().text()
        try:
            records = json.loads(raw)
            if not isinstance(records, dict) or records.get("format") != "layerloom.nodes":
                raise ValueError
        except ValueError:
            self.show_message("Nothing to paste: the clipboard holds no LayerLoom nodes")
            return
        try:
            self._select(self.editor.paste(records))
        except EditRefused as e:
            self.show_message(f"Paste refused: {e}")

    def duplicate(self) -> None:
        nodes = self.scene.selected_nodes()
        if nodes:
            try:
                self._select(self.editor.paste(self.editor.copy_records(nodes)))
            except EditRefused as e:
                self.block_refusals.refuse(f"Duplicate: {e}")

    def arrange(self) -> None:
        g = self.doc.graph
        vp = self.view.viewport().rect()
        pos = layered_positions(g, wrap=wrap_for_aspect(g, vp.width() / max(vp.height(), 1)))
        self.editor.move({n: (g.pos(n), xy) for n, xy in pos.items()}, "Arrange the graph")
        self.view.fit_to_view()

    # Blocks: group, ungroup, open a definition (issue 25) --------------------------------------
    def group_selection(self) -> None:
        """Edit > Group into Block (Ctrl+G): the selection becomes one block instance."""
        nodes = self.scene.selected_nodes()
        node = None

        def edit():
            nonlocal node
            node = self.editor.group(nodes)
        if self.block_refusals.commit(edit, "Group into block: "):
            self._select([node])
            # The block is named block1, block2, ...: its name field, selected, to type one
            self.inspector.focus_block_name()
            self.show_message(f"Grouped into '{node}': type the block's name in the "
                              "inspector; double-click it to open the block")

    def ungroup_selection(self) -> None:
        """Edit > Ungroup (Ctrl+Shift+G): the selected instance unpacked into plain nodes."""
        nodes = self.scene.selected_nodes()
        if len(nodes) != 1:
            self.block_refusals.refuse("Ungroup: select one block")
            return
        added = []
        if self.block_refusals.commit(lambda: added.extend(self.editor.ungroup(nodes[0])),
                                      "Ungroup: "):
            self._select(added)

    def open_block(self, node: str) -> None:
        """Show the definition of instance `node` on the canvas (double-click)."""
        self.doc.open_block(node)

    def leave_block(self) -> bool:
        """Esc: up one level; False at the project's graph."""
        if not self.doc.frames:
            return False
        inst = self.doc.frames[-1][1]
        self.doc.go_to(len(self.doc.frames) - 1)
        self._select([inst])
        return True

    def _shown_changed(self) -> None:
        self.crumbs.set_crumbs(self.doc.crumbs())
        self._update_title()
        self.view.fit_to_view()
