"""The inspector's block parts (issue 25): a definition's properties and its exposed
parameters, shown when the canvas shows a definition and no node is selected; the block name of
a selected instance; and, inside a definition, the "Expose as block parameter…" menu on an
inner node's parameter fields. Every edit is one undo step (app/block_commands.py).

`BlockInspector` is a mixin of app/inspector.py's Inspector, which provides doc, node, form,
_fields, _updating, refusals, message and _graph.
"""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QLineEdit, QMenu,
                               QPushButton, QTreeWidget, QTreeWidgetItem, QWidget)

from graph.blocks import block_name

from . import block_commands as B


def _value_text(v) -> str:
    if v is None:
        return "auto"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return f"{v:g}" if isinstance(v, float) else str(v)


class BlockInspector:
    """See the module's docstring."""

    # Binding: a definition's change (an edit, an undo) reloads what shows it ------------------
    def _watch_blocks(self, doc) -> None:
        if getattr(self, "_blocks_timer", None) is None:
            self._blocks_timer = QTimer(self, singleShot=True, interval=0)
            self._blocks_timer.timeout.connect(self._blocks_changed)
        old = getattr(self, "_watched", None)
        if old is not None:
            old.unsubscribe(self._on_block_event)
        self._watched = doc.graph.blocks if doc else None
        if self._watched is not None:
            self._watched.subscribe(self._on_block_event)

    def _on_block_event(self, _ev) -> None:
        self._blocks_timer.start()

    def _blocks_changed(self) -> None:
        if self.doc is None:
            return
        if self.node is None and "__block_name__" in self._fields:
            if self.doc.shown_graph.owner is None:
                self.show_node(None)
            else:
                self._load_block()
        elif self.node is not None and self.node in self._graph:
            spec = self._graph.spec(self.node)
            built = [k for k in self._fields if not k.startswith("__")]
            if built != [p.name for p in spec.params]:  # a block parameter added or gone
                self._build()
            elif "__block__" in self._fields:
                self._load_values()

    @property
    def shown_block(self) -> str | None:
        """The definition the canvas shows (None: the project's graph)."""
        return self.doc.shown_graph.owner if self.doc is not None else None

    # A definition's properties (nothing selected inside it) ------------------------------------
    def _build_block(self) -> None:
        from .inspector import _TextBox
        name = self.shown_block
        self.title.setText("Block")
        w = QLineEdit()
        w.setObjectName("block_name")
        w.setToolTip("The block's name: a Python identifier. Every place it is used follows a "
                     "rename.")
        w.editingFinished.connect(lambda: self._rename_block(self.shown_block, w.text()))
        self.form.addRow("name", w)
        t = QLineEdit()
        t.setObjectName("block_title")
        t.setToolTip("What its instances are called on the canvas and in the palette.")
        t.editingFinished.connect(lambda: self._block_text(title=t.text()))
        self.form.addRow("title", t)
        h = _TextBox()
        h.setObjectName("block_doc")
        h.setMaximumHeight(90)
        h.setPlaceholderText("What this block does (shown in its help)")
        h.editingFinished.connect(lambda: self._block_text(help=h.toPlainText()))
        self.form.addRow("help", h)
        self.form.addRow(QLabel("Block parameters (an instance sets them):"))
        params = QTreeWidget()
        params.setObjectName("block_params")
        params.setHeaderLabels(["name", "sets", "default"])
        params.setRootIsDecorated(False)
        params.setMaximumHeight(130)
        params.setToolTip("Right-click an inner node's parameter field to expose it.")
        self.form.addRow(params)
        remove = QPushButton("Remove")
        remove.setObjectName("block_param_remove")
        remove.setToolTip("Remove the selected block parameter (the inner nodes keep their "
                          "values)")
        remove.clicked.connect(self._remove_exposed)
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addStretch(1)
        lay.addWidget(remove)
        self.form.addRow(row)
        hint = QLabel("Select a node to see its parameters; right-click one of its fields to "
                      "make it a block parameter.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #666;")
        self.form.addRow(hint)
        self._fields = {"__block_name__": w, "__block_title__": t, "__block_doc__": h,
                        "__block_params__": params, "__block_remove__": remove}
        self._load_block()

    def _load_block(self) -> None:
        name = self.shown_block
        if name is None or name not in self.doc.graph.blocks:
            return
        d = self.doc.graph.blocks[name]
        f = self._fields
        self._updating = True
        try:
            for key, text in (("__block_name__", name), ("__block_title__", d.title)):
                if f[key].text() != text:
                    f[key].setText(text)
            if f["__block_doc__"].toPlainText() != d.doc:
                f["__block_doc__"].setPlainText(d.doc)
            tree = f["__block_params__"]
            tree.clear()
            for x in d.exposed:
                default = x.default
                found = d.target_param(x.targets[0]) if x.targets else None
                if default is None and found is not None:
                    default = d.graph.params(found[0]).get(found[1].name)
                it = QTreeWidgetItem(tree, [x.name, ", ".join(x.targets), _value_text(default)])
                it.setData(0, Qt.UserRole, x.name)
                why = d.exposed_problem(x)
                it.setToolTip(0, why or x.help or f"sets {', '.join(x.targets)}")
            f["__block_remove__"].setEnabled(bool(d.exposed))
        finally:
            self._updating = False

    def _rename_block(self, old: str | None, text: str) -> None:
        if self._updating or old is None:
            return
        self.refusals.commit(lambda: B.rename_block(self.doc, old, text), "block name: ")

    def _block_text(self, **kw) -> None:
        if self._updating or self.shown_block is None or self.node is not None:
            return
        self.refusals.commit(lambda: B.set_block_text(self.doc, self.shown_block, **kw))

    def _remove_exposed(self) -> None:
        tree = self._fields.get("__block_params__")
        it = tree.currentItem() if tree is not None else None
        if it is None:
            self.refusals.refuse("select a block parameter to remove")
            return
        name = it.data(0, Qt.UserRole)
        self.refusals.commit(lambda: B.unexpose(self.doc, self.shown_block, name))

    def focus_block_name(self) -> None:
        """After Ctrl+G: the new block's name, selected, ready to type."""
        w = self._fields.get("__block_name__") or self._fields.get("__block__")
        if w is not None:
            w.setFocus()
            w.selectAll()

    # A selected instance: the name of its block --------------------------------------------
    def _add_block_row(self) -> None:
        name = block_name(self._graph.node_type(self.node))
        if name is None:
            return
        w = QLineEdit()
        w.setObjectName("block_name")
        w.setToolTip("The name of the block this is an instance of; every instance follows "
                     "a rename. Double-click the node to open the block.")
        w.editingFinished.connect(
            lambda: self._rename_block(block_name(self._graph.node_type(self.node))
                                       if self.node else None, w.text()))
        self.form.addRow("block", w)
        self._fields["__block__"] = w

    def _load_block_row(self) -> None:
        w = self._fields.get("__block__")
        name = block_name(self._graph.node_type(self.node)) if self.node else None
        if w is not None and name is not None and w.text() != name:
            w.setText(name)  # (only when it changed: a selection made to type in stays)

    # Inside a definition: expose an inner node's parameter -----------------------------------
    def _offer_expose(self, p, widgets) -> None:
        """Right-click on `p`'s field or label: the expose menu (inside a definition)."""
        for w in widgets:
            w.setContextMenuPolicy(Qt.CustomContextMenu)
            w.customContextMenuRequested.connect(
                lambda pt, p=p, w=w: self._exec_menu(self.param_menu(p.name),
                                                     w.mapToGlobal(pt)))

    def param_menu(self, pname: str) -> QMenu:
        """What can be done with the shown node's parameter `pname` as a block parameter."""
        menu = QMenu(self)
        block, node = self.shown_block, self.node
        if block is None or node is None:
            return menu
        d = self.doc.graph.blocks[block]
        target = f"{node}.{pname}"
        kind = self._graph.spec(node).param(pname).kind
        taken = B.exposed_for(d, target)
        if taken is not None:
            menu.addAction(f"Stop exposing (block parameter '{taken.name}')",
                           lambda: self._block_edit(B.unexpose, block, taken.name, target))
            return menu
        menu.addAction("Expose as block parameter…", lambda: self._expose(block, node, pname))
        for x in d.exposed:
            first = d.target_param(x.targets[0]) if x.targets else None
            if first is not None and first[1].kind == kind:
                menu.addAction(f"Add to block parameter '{x.name}'",
                               lambda x=x: self._block_edit(B.add_to_exposed, block, x.name,
                                                            node, pname))
        return menu

    def _exec_menu(self, menu: QMenu, where: QPoint) -> None:
        menu.exec(where)

    def _block_edit(self, fn, *args) -> None:
        if self.refusals.commit(lambda: fn(self.doc, *args)):
            self.message.emit("")

    def _expose(self, block: str, node: str, pname: str) -> None:
        d = self.doc.graph.blocks[block]
        taken = {x.name for x in d.exposed}
        suggest, k = pname, 2
        while suggest in taken:
            suggest, k = f"{pname}{k}", k + 1
        name = self.ask_exposed_name(f"{node}.{pname}", suggest)
        if name:
            self._block_edit(B.expose, block, node, pname, name)

    def ask_exposed_name(self, target: str, suggest: str) -> str | None:
        """The new block parameter's name (None: cancelled)."""
        text, ok = QInputDialog.getText(
            self, "Expose as block parameter",
            f"Name of the block parameter that sets {target}\n(its default is the value now; "
            "each instance can set its own):", QLineEdit.Normal, suggest)
        return text.strip() if ok and text.strip() else None
