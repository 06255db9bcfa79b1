"""The node palette: every catalogue type by category, filtered as you type. Drag an entry
onto the canvas, or double-click it to place it at the view's centre."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from graph import catalogue

from .canvas.view import NODE_MIME

TYPE_ROLE = Qt.UserRole + 1


def swatch(color: str, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(Qt.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.Antialiasing)
    p.setBrush(QColor(color))
    p.setPen(Qt.NoPen)
    p.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    p.end()
    return QIcon(pm)


def matches(spec, text: str) -> bool:
    text = text.strip().lower()
    if not text:
        return True
    hay = f"{spec.title} {spec.type} {spec.category} {spec.doc.summary}".lower()
    return all(word in hay for word in text.split())


def node_mime(type_id: str) -> QMimeData:
    """What a palette drag carries: the node type id."""
    mime = QMimeData()
    mime.setData(NODE_MIME, type_id.encode())
    mime.setText(type_id)
    return mime


class _Tree(QTreeWidget):
    def startDrag(self, actions):
        item = self.currentItem()
        type_id = item.data(0, TYPE_ROLE) if item else None
        if not type_id:
            return
        mime = node_mime(type_id)
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.setPixmap(item.icon(0).pixmap(16, 16))
        drag.exec(Qt.CopyAction)


class Palette(QWidget):
    addRequested = Signal(str)  # type id, placed at the view's centre

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = QLineEdit(placeholderText="Filter nodes…")
        self.filter.setClearButtonEnabled(True)
        self.tree = _Tree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setRootIsDecorated(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        for cat, specs in catalogue.by_category().items():
            parent_item = QTreeWidgetItem(self.tree, [cat])
            parent_item.setFlags(Qt.ItemIsEnabled)
            f = parent_item.font(0)
            f.setBold(True)
            parent_item.setFont(0, f)
            for s in specs:
                it = QTreeWidgetItem(parent_item, [s.title])
                it.setData(0, TYPE_ROLE, s.type)
                it.setIcon(0, swatch(s.color))
                it.setToolTip(0, f"{s.title}: {s.doc.summary}")
                it.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
                self.items[s.type] = it
        self.tree.expandAll()
        self.filter.textChanged.connect(self.apply_filter)
        self.tree.itemDoubleClicked.connect(self._double_clicked)

    def apply_filter(self, text: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(i)
            visible = 0
            for j in range(cat.childCount()):
                it = cat.child(j)
                show = matches(catalogue.get(it.data(0, TYPE_ROLE)), text)
                it.setHidden(not show)
                visible += show
            cat.setHidden(visible == 0)
        self.tree.expandAll()

    def visible_types(self) -> list[str]:
        return [t for t, it in self.items.items() if not it.isHidden() and not it.parent().isHidden()]

    def _double_clicked(self, item, column) -> None:
        t = item.data(0, TYPE_ROLE)
        if t:
            self.addRequested.emit(t)
