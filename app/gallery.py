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

PREVIEW = QSize(300, 170)


def preview(path) -> QPixmap:
    doc = Document(load(path))
    scene = GraphScene(doc)
    pm = QPixmap(PREVIEW)
    pm.fill(QColor("#eef1f4"))
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.Antialiasing)
    rect = scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
    scene.render(painter, QRectF(0, 0, PREVIEW.width(), PREVIEW.height()), rect, Qt.KeepAspectRatio)
    painter.end()
    scene.close()
    doc.close()
    return pm


class TemplateGallery(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("New from Template")
        self.resize(1000, 620)
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
