"""The "search" toggle beside a field (issue 29 item 1): it marks a node parameter or a training
setting as searchable by a sweep (the project's `search` list, graph/search.py), with a compact
editor for its range (low, high, log, int) or its choices. Each change is one undo step.

    self.search = SearchToggles(self.refusals)        # in a panel's __init__
    self.search.set_document(doc)                     # with the panel's document
    form.addRow(label, self.search.wrap(field, "training.lr"))   # or a callable target

`wrap` returns the field alone where the target takes no range and no choices (a shape, a
text). Refused values are said through the panel's widgets.Refusals. Also here: the undo
steps SetSearch and ApplyValues (a sweep trial's values applied to the project in one step,
through graph.search.apply_values), and `apply_values_edit`, which checks and pushes it.
"""
from __future__ import annotations

import json
import typing
from typing import Any, Callable, Literal

import shiboken6
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLineEdit, QToolButton, QVBoxLayout,
                               QWidget)

from graph import search as S
from graph.settings import TrainingSettings

from .commands import Edit, Step
from .document import EditRefused


# Undo steps ---------------------------------------------------------------------------------

class SetSearch(Step):
    """The project's search list replaced (an entry added, changed or removed)."""

    def __init__(self, project, new: list, text: str, notify=None):
        self.project, self.old, self.new = project, list(project.search), list(new)
        self.text, self.notify = text, notify

    def _set(self, entries) -> None:
        self.project.search = list(entries)
        if self.notify:
            self.notify()

    def redo(self):
        self._set(self.new)

    def undo(self):
        self._set(self.old)


def _value_of(project, target: str):
    node, name = S.split_target(target)
    if node == S.SETTINGS:
        return getattr(project.training, name)
    g = project.graph
    return g.spec(node).resolved(g.params(node))[name]


class ApplyValues(Step):
    """Targets' values set through graph.search.apply_values; undo sets the old ones back."""

    def __init__(self, project, values: dict[str, Any], text: str, notify=None):
        self.project, self.new, self.text, self.notify = project, dict(values), text, notify
        self.old = {t: _value_of(project, t) for t in values}

    def _set(self, values) -> None:
        S.apply_values(self.project, values)
        if self.notify:
            self.notify()

    def redo(self):
        self._set(self.new)

    def undo(self):
        self._set(self.old)


def _push(doc, step: Step) -> None:
    if doc.locked:
        raise EditRefused(doc.locked)
    doc.push(Edit([step], step.text))


def apply_values_edit(doc, values: dict[str, Any], text: str) -> None:
    """Set a trial's values in the document's project as one undo step; EditRefused (naming
    the target) when the project refuses one of them."""
    p = doc.project
    for target, value in values.items():
        try:
            S.target_kind(p.graph, target)
        except S.SearchError as e:
            raise EditRefused(f"{target}: {e}") from None
        why = S.value_problem(p.graph, p.training, target, value)
        if why:
            raise EditRefused(f"{target} = {json.dumps(value)}: {why}")
    changed = {t: v for t, v in values.items() if _value_of(p, t) != v}
    if changed:
        _push(doc, ApplyValues(p, changed, text, doc.settingsChanged.emit))


def set_entry(doc, target: str, entry: S.SearchEntry | None) -> None:
    """Add, replace (entry) or remove (None) the search entry of `target`: one undo step.
    EditRefused when the entry does not fit its target."""
    p = doc.project
    if entry is not None:
        why = S.entry_problem(p.graph, p.training, entry)
        if why:
            raise EditRefused(f"search {target}: {why}")
    old = next((e for e in p.search if e.target == target), None)
    if old == entry:
        return
    new = [e for e in p.search if e.target != target]
    if entry is not None:
        new = [entry if e.target == target else e for e in p.search] if old else new + [entry]
        text = f"{'Change' if old else 'Search'} {target}: {entry.describe()}"
    else:
        text = f"Stop searching {target}"
    _push(doc, SetSearch(p, new, text))


# What a target may take ---------------------------------------------------------------------

def target_choices(graph, target: str) -> list | None:
    """The choices of a choice or bool target (None for numbers and for the rest)."""
    node, name = S.split_target(target)
    if node == S.SETTINGS:
        f = TrainingSettings.model_fields.get(name)
        if f is None:
            return None
        if typing.get_origin(f.annotation) is Literal:
            return list(typing.get_args(f.annotation))
        return [False, True] if f.annotation is bool else None
    if graph is None or node not in graph:
        return None
    try:
        p = graph.spec(node).param(name)
    except KeyError:
        return None
    return list(p.choices) if p.kind == "choice" else [False, True] if p.kind == "bool" else None


def searchable(graph, target: str) -> bool:
    node, name = S.split_target(target)
    if node == S.SETTINGS:
        if name not in S.searchable_settings():
            return False
        return S._setting_kind(name) in ("int", "float") or target_choices(graph, target) is not None
    try:
        kind = S.target_kind(graph, target)
    except S.SearchError:
        return False
    return kind in ("int", "float") or target_choices(graph, target) is not None


def _reach(ok: Callable[[Any], bool], start, far, whole: bool):
    """The value nearest `far` (halving the way back to `start`) that ok() accepts."""
    x = far
    for _ in range(40):
        if x != start and ok(x):
            return x
        x = start + (x - start) / 2
        if whole:
            x = int(round(x))
        if x == start:
            return None
    return None


def default_entry(project, target: str) -> S.SearchEntry | None:
    """A first range or choice list for `target`, around its value: ×/÷10 on a log scale for
    a positive float, ×/÷2 for an int, every choice for a list; None when none fits."""
    g, t = project.graph, project.training
    choices = target_choices(g, target)
    if choices is not None:
        return S.SearchEntry(target=target, kind="categorical", choices=choices)
    kind = S.target_kind(g, target)
    v = _value_of(project, target)
    ok = lambda x: S.value_problem(g, t, target, x) is None  # noqa: E731
    if kind == "int":
        v = v if isinstance(v, int) and not isinstance(v, bool) and ok(v) else 1
        lo, hi = _reach(ok, v, max(v // 2, 1), True), _reach(ok, v, v * 2, True)
        lo, hi = lo if lo is not None else v, hi if hi is not None else v
        if lo < hi:
            return S.SearchEntry(target=target, kind="int", low=lo, high=hi)
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and ok(float(v)):
        v = float(v)
        lo, hi = _reach(ok, v, v / 10, False) or v, _reach(ok, v, v * 10, False) or v
        if lo < hi:
            return S.SearchEntry(target=target, kind="float", low=lo, high=hi, log=True)
    for lo, hi, log in ((1e-4, 0.1, True), (0.1, 10.0, True), (0.0, 1.0, False)):
        if ok(lo) and ok(hi):
            return S.SearchEntry(target=target, kind="float", low=lo, high=hi, log=log)
    return None


# The widgets --------------------------------------------------------------------------------

class SearchField(QWidget):
    """A field with its toggle, and below it (while on) the entry's range or choices."""

    def __init__(self, owner: "SearchToggles", field: QWidget, target):
        super().__init__()
        self.owner, self.field, self._target = owner, field, target
        self._updating = False
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(field, 1)
        self.toggle = QToolButton()
        self.toggle.setText("search")
        self.toggle.setCheckable(True)
        self.toggle.setObjectName("search_toggle")
        self.toggle.setToolTip("Let a sweep (Train > Sweep…) vary this value")
        self.toggle.toggled.connect(self._toggled)
        top.addWidget(self.toggle)
        v.addLayout(top)
        self.editor = QWidget()
        h = QHBoxLayout(self.editor)
        h.setContentsMargins(12, 0, 0, 0)
        self.low, self.high, self.choices = QLineEdit(), QLineEdit(), QLineEdit()
        self.low.setPlaceholderText("low")
        self.high.setPlaceholderText("high")
        self.choices.setPlaceholderText("choices: a, b, c")
        self.log, self.int = QCheckBox("log"), QCheckBox("int")
        for name, w in (("search_low", self.low), ("search_high", self.high),
                        ("search_choices", self.choices), ("search_log", self.log),
                        ("search_int", self.int)):
            w.setObjectName(name)
            h.addWidget(w)
        for w in (self.low, self.high, self.choices):
            w.setMinimumWidth(40)
            w.editingFinished.connect(self._edited)
        self.log.toggled.connect(lambda _v: self._edited())
        self.int.toggled.connect(lambda _v: self._edited())
        v.addWidget(self.editor)
        self.editor.hide()

    @property
    def target(self) -> str:
        return self._target() if callable(self._target) else self._target

    def _entry(self) -> S.SearchEntry | None:
        doc = self.owner.doc
        return None if doc is None else next(
            (e for e in doc.project.search if e.target == self.target), None)

    def refresh(self) -> None:
        e = self._entry()
        self._updating = True
        try:
            self.toggle.setChecked(e is not None)
            self.editor.setVisible(e is not None)
            if e is None:
                return
            ranged = e.kind != "categorical"
            for w in (self.low, self.high, self.log, self.int):
                w.setVisible(ranged)
            self.choices.setVisible(not ranged)
            if ranged:
                self.low.setText(f"{e.low:g}")
                self.high.setText(f"{e.high:g}")
                self.log.setChecked(e.log)
                self.int.setChecked(e.kind == "int")
                takes_int = S.target_kind(self.owner.doc.project.graph, e.target) == "int"
                self.int.setEnabled(not takes_int)
            else:
                self.choices.setText(", ".join(c if isinstance(c, str) else json.dumps(c)
                                               for c in e.choices))
        finally:
            self._updating = False

    def _toggled(self, on: bool) -> None:
        if self._updating or self.owner.doc is None:
            return
        if on:
            try:
                entry = default_entry(self.owner.doc.project, self.target)
            except S.SearchError as e:
                entry, why = None, str(e)
            else:
                why = "no range around its value fits it; search it from the command line"
            if entry is None:
                self.owner.refuse(f"search {self.target}: {why}")
                return
            self.owner.commit(lambda: set_entry(self.owner.doc, self.target, entry))
        else:
            self.owner.commit(lambda: set_entry(self.owner.doc, self.target, None))

    def _edited(self) -> None:
        if self._updating or self.owner.doc is None:
            return
        old = self._entry()
        if old is None:
            return
        t = self.target
        try:
            if old.kind == "categorical":
                parts = [S._choice(c.strip()) for c in self.choices.text().split(",")
                         if c.strip()]
                entry = S.SearchEntry(target=t, kind="categorical", choices=parts)
            else:
                lo, hi = S._number(self.low.text()), S._number(self.high.text())
                kind = "int" if self.int.isChecked() else "float"
                entry = S.SearchEntry(target=t, kind=kind, low=lo, high=hi,
                                      log=self.log.isChecked())
        except S.SearchError as e:
            self.owner.refuse(f"search {t}: {e}")
            return
        except ValueError as e:  # pydantic's ValidationError
            errors = getattr(e, "errors", None)
            msg = errors()[0]["msg"] if errors else str(e)
            self.owner.refuse(f"search {t}: {msg.removeprefix('Value error, ')}")
            return
        self.owner.commit(lambda: set_entry(self.owner.doc, t, entry))


class SearchToggles:
    """The search toggles of one panel: made by `wrap`, refreshed after every undo-stack
    change of the panel's document; refusals said through the panel's Refusals."""

    def __init__(self, refusals):
        self.refusals = refusals
        self.doc = None
        self._watched = None  # the undo stack whose indexChanged is connected, if any
        self.fields: list[SearchField] = []

    def set_document(self, doc) -> None:
        """Follow `doc`: disconnect only the stack connected here (and only while it is
        alive), so PySide logs no 'Failed to disconnect' warning."""
        undo = doc.undo if doc is not None else None
        if self._watched is not None and self._watched is not undo:
            if shiboken6.isValid(self._watched):
                self._watched.indexChanged.disconnect(self._changed)
            self._watched = None
        self.doc = doc
        if undo is not None and self._watched is None:
            undo.indexChanged.connect(self._changed)
            self._watched = undo
        self.refresh()

    def _changed(self, _index: int) -> None:
        self.refresh()

    def wrap(self, field: QWidget, target) -> QWidget:
        """`field` with a search toggle (or alone where the target cannot be searched)."""
        t = target() if callable(target) else target
        graph = self.doc.project.graph if self.doc is not None else None
        if S.split_target(t)[0] != S.SETTINGS and graph is None:
            return field
        if not searchable(graph, t):
            return field
        w = SearchField(self, field, target)
        self.fields = [f for f in self.fields if shiboken6.isValid(f)] + [w]
        w.refresh()
        return w

    def refresh(self) -> None:
        self.fields = [f for f in self.fields if shiboken6.isValid(f)]
        for f in self.fields:
            f.refresh()

    def commit(self, edit) -> bool:
        ok = self.refusals.commit(edit)
        self.refresh()
        return ok

    def refuse(self, why: str) -> None:
        self.refusals.refuse(why)
        self.refresh()

