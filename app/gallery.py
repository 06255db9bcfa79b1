"""File > New from Template: every template with its name, one-line description and a
preview of its graph."""
from __future__ import annotations


from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem,
                               QVBoxLayout)

from graph.project import load
from templates import list_templates

from .canvas.scene import GraphScene
from .document import Document

PREVIEW = QSize(240, 150)


def preview(path) -> QPixmap:
    """The template's graph drawn small. A graph much wider than the picture (a detector's
    16 columns, an RNN's one row) is cut into bands drawn one under the other, as a line of
    text wraps, so it fills the picture instead of being a thin strip across it."""
    doc = Document(load(path))
    scene = GraphScene(doc)
    pm = QPixmap(PREVIEW)
    pm.fill(QColor("#eef1f4"))
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.Antialiasing)
    rect = scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
    aspect = (rect.width() / max(rect.height(), 1.0)) / (PREVIEW.width() / PREVIEW.height())
    bands = max((1, 2, 3), key=lambda k: min(k / aspect, 1 / k))  # the largest drawing
    w, h = rect.width() / bands, PREVIEW.height() / bands
    for i in range(bands):
        source = QRectF(rect.left() + i * w, rect.top(), w, rect.height())
        scene.render(painter, QRectF(0, i * h, PREVIEW.width(), h), source, Qt.KeepAspectRatio)
        if i:  # where the graph wraps
            painter.setPen(QColor("#c5ccd3"))
            painter.drawLine(6, round(i * h), PREVIEW.width() - 6, round(i * h))
    painter.end()
    scene.close()
    doc.close()
    return pm


class TemplateGallery(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New from Template")
        self.resize(1140, 660)  # four previews a row
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.IconMode)
        self.list.setIconSize(PREVIEW)
        self.list.setGridSize(QSize(PREVIEW.width() + 24, PREVIEW.height() + 48))
        self.list.setResizeMode(QListWidget.Adjust)
        self.list.setMovement(QListWidget.Static)
        self.list.setWordWrap(True)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setMinimumHeight(48)
        buttons = QDialogButtonBox(QDialogButtonBox.Open | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.description)
        layout.addWidget(buttons)
        self.templates = list_templates()
        for t in self.templates:
            it = QListWidgetItem(QIcon(preview(t.path)), t.name)
            it.setToolTip(t.description)
            self.list.addItem(it)
        self.list.currentRowChanged.connect(
            lambda r: self.description.setText(self.templates[r].description if r >= 0 else ""))
        self.list.itemDoubleClicked.connect(lambda _: self.accept())
        if self.templates:
            self.list.setCurrentRow(0)

    def chosen(self):
        r = self.list.currentRow()
        return self.templates[r] if r >= 0 else None
