"""The inspector: the selected node's name and params, as a form generated from the catalogue
spec. Ranged numbers are spin boxes, choices combo boxes, booleans check boxes; free-form
values (floats, shapes, padding) are text fields parsed and checked by the param's own rule.
A refused value is shown with the reason and the field returns to the model's value.
With nothing selected it shows the project itself: its name (the exported class and module
are named after it) and description, editable and undoable like everything else.
See ARCHITECTURE.md (principle 2: the form is a function of the catalogue)."""
from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QScrollArea, QSpinBox, QVBoxLayout, QWidget)

from graph import model as M
from graph.spec import Param, is_symbol

from .block_inspector import BlockInspector
from .document import Document, Editor
from .search_toggle import SearchToggles
from .widgets import Refusals, guard_wheel

AUTO = "auto"


class _TextBox(QPlainTextEdit):
    """A multi-line field that commits when it loses focus (one undo step per edit)."""
    editingFinished = Signal()

    def focusOutEvent(self, event):
        super().focusOutEvent(event)
        self.editingFinished.emit()


def format_value(p: Param, v) -> str:
    if v is None:
        return AUTO
    if p.kind in ("shape", "dims", "axes", "ints", "intlist"):
        return ", ".join(str(x) for x in v)
    if p.kind == "numbers":
        return ", ".join(f"{x:g}" for x in v)
    if isinstance(v, float):
        return repr(v) if (abs(v) < 1e-3 and v != 0) or abs(v) >= 1e6 else f"{v:g}"
    return str(v)


def parse_value(p: Param, text: str):
    """Text -> a value of the param's kind; raises ValueError with a reason."""
    t = text.strip()
    if p.auto and t.lower() in ("", AUTO):
        return None
    if p.kind == "float":
        try:
            v = float(t)
        except ValueError:
            raise ValueError("must be a number") from None
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v
    if p.kind == "int":
        try:
            return int(t)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if p.kind in ("shape", "dims", "axes", "ints", "intlist"):
        import re
        body = t.replace("[", "").replace("]", "").replace("'", "").replace('"', "")
        parts = [x.strip() for x in re.split(r"[,×]|\s+x\s+|(?<=\d)x(?=\d)", body) if x.strip()]
        out = []
        for x in parts:
            try:
                out.append(int(x))
            except ValueError:
                if p.kind == "shape" and is_symbol(x):
                    out.append(x)  # a size the data sets, e.g. T
                else:
                    raise ValueError("must be whole numbers separated by commas, e.g. 1, 28, 28"
                                     + (" (or a size name such as T)" if p.kind == "shape"
                                        else "")) from None
        return out
    if p.kind == "numbers":
        import re
        body = t.replace("[", "").replace("]", "")
        try:
            return [float(x) for x in re.split(r"[,\s]+", body) if x]
        except ValueError:
            raise ValueError("must be numbers separated by commas, e.g. 0.5, 1, 2") from None
    if p.kind == "padding":
        if t in ("valid", "same"):
            return t
        try:
            return int(t)
        except ValueError:
            raise ValueError("must be 'valid', 'same' or a number") from None
    return t


class Inspector(BlockInspector, QWidget):
    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.doc: Document | None = None
        self.editor: Editor | None = None
        self.node: str | None = None
        self._fields: dict[str, QWidget] = {}
        self._unsubscribe = None
        self._updating = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        self.title = QLabel("Select a node to see its parameters.")
        self.title.setWordWrap(True)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        outer.addWidget(self.title)
        # The fields scroll inside the dock: a node with many parameters never makes the
        # dock taller (which moved the canvas under the user's hand)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        inner = QWidget()
        body = QVBoxLayout(inner)
        body.setContentsMargins(0, 0, 0, 0)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 6, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        body.addWidget(self.form_host)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.hide()
        body.addWidget(self.error)
        # A refused edit: said here and on the status bar; the field returns to the model's
        # value (the node's params, or the project's name and description)
        self.refusals = Refusals(self.error, self.message.emit, self._load_values)
        self._project_refusals = Refusals(self.error, self.message.emit, self._load_project)
        self.search = SearchToggles(self.refusals)  # the "search" toggles (a sweep's space)
        body.addStretch(1)
        self.scroll.setWidget(inner)
        outer.addWidget(self.scroll, 1)

    # Binding ----------------------------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        if self.doc is not None:
            for signal, slot in ((self.doc.settingsChanged, self._project_changed),
                                 (self.doc.shownChanged, self._shown_changed)):
                try:
                    signal.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self.doc = doc
        self.editor = Editor(doc) if doc else None
        self._watch_blocks(doc)
        self.search.set_document(doc)
        if doc:
            self._unsubscribe = doc.shown_graph.subscribe(self._on_event)
            doc.settingsChanged.connect(self._project_changed)
            doc.shownChanged.connect(self._shown_changed)
        self.show_node(None)

    def _shown_changed(self) -> None:
        """A definition opened or left: the inspector follows the graph the canvas shows."""
        if self._unsubscribe:
            self._unsubscribe()
        self._unsubscribe = self.doc.shown_graph.subscribe(self._on_event)
        self.show_node(None)

    @property
    def _graph(self):
        return self.doc.shown_graph

    def _project_changed(self) -> None:
        if self.node is None and "__project_name__" in self._fields:
            self._load_project()

    def show_node(self, node: str | None) -> None:
        self.node = node if (node and self.doc and node in self.doc.shown_graph) else None
        self._build()

    def _on_event(self, ev) -> None:
        if self.node is None:
            return
        if isinstance(ev, M.ParamChanged) and ev.node == self.node:
            self._load_values()
        elif isinstance(ev, M.NodeRenamed) and ev.old == self.node:
            self.node = ev.new
            self._load_values()
        elif isinstance(ev, M.NodeRemoved) and ev.node == self.node:
            self.show_node(None)
        elif isinstance(ev, M.SubnetsChanged):
            self._load_values()

    # The form --------------------------------------------------------------------------------
    def _build(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self._fields = {}
        self.error.hide()
        if self.node is None:
            if self.doc is not None and self.doc.shown_graph.owner is not None:
                self._build_block()
            else:
                self._build_project()
            return
        spec = self._graph.spec(self.node)
        self.title.setText(f"{spec.title}")
        name = QLineEdit()
        name.setObjectName("name")
        name.setToolTip("The node's name: a Python identifier, also its variable in forward() "
                        "and its prefix in the saved weights.")
        name.editingFinished.connect(lambda: self._rename(name.text()))
        self.form.addRow("name", name)
        self._fields["__name__"] = name
        if spec.role.layer_like:
            sub = QComboBox()
            sub.setEditable(True)
            sub.setObjectName("subnet")
            sub.setToolTip("The sub-network this node belongs to (a GAN's 'generator' or "
                           "'discriminator'): an optimizer record trains one sub-network's "
                           "weights, a Shared network node applies one again, and one exports "
                           "alone. Type a new name to start one; empty: none.")
            sub.lineEdit().editingFinished.connect(lambda: self._set_subnet(sub.currentText()))
            sub.activated.connect(lambda _i: self._set_subnet(sub.currentText()))
            self.form.addRow("sub-network", sub)
            self._fields["__subnet__"] = sub
        self._add_block_row()
        inside = self._graph.owner is not None and spec.role.layer_like
        for p in spec.params:
            w = self._widget(p)
            w.setObjectName(p.name)
            w.setToolTip(p.help)
            label = QLabel(p.title)
            label.setToolTip(p.help)
            top = self._graph.owner is None  # a sweep searches the project's own graph
            self.form.addRow(label, self.search.wrap(w, lambda p=p: f"{self.node}.{p.name}")
                             if top else w)
            self._fields[p.name] = w
            if inside:  # right-click: expose it as a block parameter
                self._offer_expose(p, (w, label))
        guard_wheel(self.form_host)
        self._load_values()

    def _widget(self, p: Param) -> QWidget:
        if p.kind == "bool":
            w = QCheckBox()
            w.toggled.connect(lambda v, p=p: self._commit(p, bool(v)))
            return w
        if p.kind == "choice":
            w = QComboBox()
            w.addItems(list(p.choices))
            w.currentTextChanged.connect(lambda v, p=p: self._commit(p, v))
            return w
        if p.kind == "int" and p.min is not None and p.max is not None and not p.auto:
            w = QSpinBox()
            w.setRange(int(p.min), int(p.max))
            w.editingFinished.connect(lambda p=p, w=w: self._commit(p, w.value()))
            return w
        if p.kind == "int" and p.min is not None:
            w = QSpinBox()
            lo = int(p.min) - (1 if p.auto else 0)
            w.setRange(lo, 1_000_000_000 if p.max is None else int(p.max))
            if p.auto:
                w.setSpecialValueText(AUTO)  # shown at the lowest value, which means None
            w.editingFinished.connect(
                lambda p=p, w=w, lo=lo: self._commit(p, None if p.auto and w.value() == lo
                                                     else w.value()))
            return w
        if p.kind == "padding":
            w = QComboBox()
            w.setEditable(True)
            w.addItems(["valid", "same", "0", "1", "2"])
            w.lineEdit().editingFinished.connect(lambda p=p, w=w: self._commit_text(p, w.currentText()))
            w.activated.connect(lambda _i, p=p, w=w: self._commit_text(p, w.currentText()))
            return w
        w = QLineEdit()
        w.editingFinished.connect(lambda p=p, w=w: self._commit_text(p, w.text()))
        return w

    def _build_project(self) -> None:
        """Nothing selected: the project's own fields."""
        self.title.setText("Project")
        if self.doc is None:
            return
        name = QLineEdit()
        name.setObjectName("project_name")
        name.setToolTip("The project's name: the exported model's class and file are named "
                        "after it. The first save names it after the file unless set here.")
        name.editingFinished.connect(lambda: self._set_project("name", name.text().strip()))
        self.form.addRow("name", name)
        desc = _TextBox()
        desc.setObjectName("project_description")
        desc.setMaximumHeight(90)
        desc.setPlaceholderText("What this model is for (optional)")
        desc.editingFinished.connect(lambda: self._set_project("description",
                                                               desc.toPlainText()))
        self.form.addRow("description", desc)
        hint = QLabel("Select a node to see its parameters.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #666;")
        self.form.addRow(hint)
        self._fields = {"__project_name__": name, "__project_description__": desc}
        self._load_project()

    def _load_project(self) -> None:
        self._updating = True
        try:
            p = self.doc.project
            self._fields["__project_name__"].setText(p.name)
            box = self._fields["__project_description__"]
            if box.toPlainText() != p.description:
                box.setPlainText(p.description)
        finally:
            self._updating = False

    def _set_project(self, key: str, value: str) -> None:
        if self._updating or self.doc is None or self.node is not None:
            return
        self._project_refusals.commit(lambda: self.editor.set_setting("project", key, value))

    def focus_project_name(self) -> None:
        """File > Project Properties: the name field, selected, ready to type."""
        w = self._fields.get("__project_name__")
        if w is not None:
            w.setFocus()
            w.selectAll()

    def _load_values(self) -> None:
        if self.node is None:
            if "__block_name__" in self._fields:
                self._load_block()
            return
        self._updating = True
        try:
            spec = self._graph.spec(self.node)
            params = spec.resolved(self._graph.params(self.node))
            if self._fields["__name__"].text() != self.node:
                self._fields["__name__"].setText(self.node)
            self._load_block_row()
            sub = self._fields.get("__subnet__")
            if sub is not None:
                subnets = self._graph.subnets
                sub.clear()
                sub.addItems([""] + sorted(subnets))
                sub.setCurrentText(next((k for k, v in subnets.items() if self.node in v), ""))
            for p in self._graph.spec(self.node).params:
                w, v = self._fields[p.name], params.get(p.name)
                if isinstance(w, QCheckBox):
                    w.setChecked(bool(v))
                elif isinstance(w, QSpinBox):
                    w.setValue(w.minimum() if v is None or not isinstance(v, int) else v)
                elif isinstance(w, QComboBox):
                    w.setCurrentText(format_value(p, v))
                else:
                    w.setText(format_value(p, v))
        finally:
            self._updating = False

    # Commits -----------------------------------------------------------------------------------
    def _commit_text(self, p: Param, text: str) -> None:
        if self._updating:
            return
        try:
            value = parse_value(p, text)
        except ValueError as e:
            self.refusals.refuse(f"{p.title} {e}")
            return
        self._commit(p, value)

    def _commit(self, p: Param, value) -> None:
        if self._updating or self.node is None:
            return
        if self.refusals.commit(lambda: self.editor.set_param(self.node, p.name, value)):
            self.message.emit("")

    def _rename(self, text: str) -> None:
        if self._updating or self.node is None:
            return
        self.refusals.commit(lambda: self.editor.rename(self.node, text.strip()), "name: ")

    def _set_subnet(self, name: str) -> None:
        if self._updating or self.node is None:
            return
        self.refusals.commit(lambda: self.editor.set_node_subnet(self.node, name))
