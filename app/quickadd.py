"""The quick-add popup: fuzzy search over node types (Tab, or double-click on the canvas).
Opened from a dropped wire, it lists only the types that can take that wire."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from graph import catalogue

from .palette import TYPE_ROLE, swatch


def fuzzy_score(query: str, text: str) -> float | None:
    """None if the letters of `query` do not appear in order in `text`; else higher is better
    (prefix and word-start matches first, then compact matches)."""
    q, t = query.lower().replace(" ", ""), text.lower()
    if not q:
        return 0.0
    if t.startswith(q):
        return 1000.0 - len(t)
    pos, score, last = 0, 0.0, -1
    for ch in q:
        i = t.find(ch, pos)
        if i < 0:
            return None
        if i == 0 or not t[i - 1].isalnum():
            score += 10
        if i == last + 1:
            score += 5
        score -= (i - pos)
        last, pos = i, i + 1
    return score


def ranked(query: str, types: list[str]) -> list[str]:
    """`types` matching `query`, best first; with no query, in the order given (a dropped
    wire's list comes most likely first)."""
    if not query.strip():
        return list(types)
    scored = []
    for t in types:
        s = catalogue.get(t)
        best = max((x for x in (fuzzy_score(query, s.title), fuzzy_score(query, s.type))
                    if x is not None), default=None)
        if best is not None:
            scored.append((-best, s.title, t))
    return [t for _, _, t in sorted(scored)]


class QuickAdd(QFrame):
    chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, Qt.Popup)
        self.setFrameShape(QFrame.StyledPanel)
        self.edit = QLineEdit(placeholderText="Add node…")
        self.list = QListWidget()
        self.list.setMinimumWidth(260)
        self.list.setMaximumHeight(320)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.types: list[str] = list(catalogue.SPECS)
        self.edit.textChanged.connect(self.refresh)
        self.edit.returnPressed.connect(self.accept_current)
        self.list.itemActivated.connect(lambda it: self._choose(it.data(TYPE_ROLE)))
        self.edit.installEventFilter(self)

    def open_at(self, global_pos: QPoint, types: list[str] | None = None) -> None:
        self.types = list(types) if types is not None else list(catalogue.SPECS)
        self.edit.clear()
        self.refresh("")
        self.move(global_pos)
        self.show()
        self.edit.setFocus()

    def refresh(self, text: str = "") -> None:
        self.list.clear()
        for t in ranked(text, self.types):
            s = catalogue.get(t)
            it = QListWidgetItem(swatch(s.color), f"{s.title}   ·  {s.category}")
            it.setData(TYPE_ROLE, t)
            it.setToolTip(s.doc.summary)
            self.list.addItem(it)
        if self.list.count():
            self.list.setCurrentRow(0)

    def accept_current(self) -> None:
        it = self.list.currentItem()
        if it is not None:
            self._choose(it.data(TYPE_ROLE))

    def _choose(self, type_id: str) -> None:
        self.hide()
        self.chosen.emit(type_id)

    def eventFilter(self, obj, event):
        from PySide6.QtCore import QEvent
        if obj is self.edit and event.type() == QEvent.KeyPress:
            if event.key() in (Qt.Key_Down, Qt.Key_Up):
                row = self.list.currentRow() + (1 if event.key() == Qt.Key_Down else -1)
                self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
                return True
            if event.key() == Qt.Key_Escape:
                self.hide()
                return True
        return super().eventFilter(obj, event)
