"""The view: zoom around the cursor, pan (middle button, or space + drag), rubber-band
selection, fit to view, and drops from the palette."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsView

from .items import GRID

NODE_MIME = "application/x-layerloom-node"


class GraphView(QGraphicsView):
    nodeDropped = Signal(str, QPointF)  # type id, scene pos
    quickAddRequested = Signal(QPointF)  # scene pos
    zoomChanged = Signal(float)

    MIN_ZOOM, MAX_ZOOM = 0.08, 4.0
    FIRST_VIEW = 0.35  # an opened graph's least zoom: titles readable, ports there to drag

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setBackgroundBrush(QColor("#eef1f4"))
        self._pan_from: QPointF | None = None
        self._space = False
        self.setSceneRect(QRectF(-50_000, -50_000, 100_000, 100_000))

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, z: float, anchor: QPointF | None = None) -> None:
        z = max(self.MIN_ZOOM, min(self.MAX_ZOOM, z))
        factor = z / self.zoom
        if anchor is not None:
            self.setTransformationAnchor(QGraphicsView.NoAnchor)
            before = self.mapToScene(anchor.toPoint())
            self.scale(factor, factor)
            after = self.mapToScene(anchor.toPoint())
            d = after - before
            self.translate(d.x(), d.y())
            self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        else:
            self.scale(factor, factor)
        self.zoomChanged.emit(self.zoom)

    def fit_to_view(self, margin: float = 40.0, floor: float = 0.0) -> None:
        """The whole graph in view; with `floor`, never below that zoom: a graph too wide for
        it shows its start (top left: the inputs) at that zoom, the rest a scroll away."""
        scene = self.scene()
        if scene is None:
            return
        rect = scene.itemsBoundingRect()
        if rect.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            self.zoomChanged.emit(self.zoom)  # 100 %: the label and the ports follow
            return
        framed = rect.adjusted(-margin, -margin, margin, margin)
        self.fitInView(framed, Qt.KeepAspectRatio)
        if self.zoom > 1.5:  # a small graph: do not blow it up
            self.set_zoom(1.5)
            self.centerOn(rect.center())
        elif self.zoom < floor:
            self.set_zoom(floor)
            seen = self.mapToScene(self.viewport().rect()).boundingRect()
            x = framed.left() + seen.width() / 2 if seen.width() < framed.width() \
                else framed.center().x()
            y = framed.top() + seen.height() / 2 if seen.height() < framed.height() \
                else framed.center().y()
            self.centerOn(x, y)
        self.zoomChanged.emit(self.zoom)

    def shows_everything(self) -> bool:
        """Whether every item of the scene is in view."""
        scene = self.scene()
        if scene is None:
            return True
        items = scene.itemsBoundingRect()
        seen = self.mapToScene(self.viewport().rect()).boundingRect()
        return items.isEmpty() or seen.contains(items)

    def center_scene_pos(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    # Zoom and pan -------------------------------------------------------------------------------
    def wheelEvent(self, event):
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom * (1.15 ** steps), event.position())
        event.accept()

    def keyPressEvent(self, event):
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.OpenHandCursor)
            event.accept()
            return
        if event.key() == Qt.Key_Tab:
            pos = self.mapFromGlobal(self.cursor().pos())
            if not self.viewport().rect().contains(pos):
                pos = self.viewport().rect().center()
            self.quickAddRequested.emit(self.mapToScene(pos))
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, forward: bool) -> bool:
        return False  # Tab opens the quick-add popup instead of moving focus

    def mousePressEvent(self, event):
        if event.button() == Qt.MiddleButton or (self._space and event.button() == Qt.LeftButton):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._pan_from is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan_from = None
            self.viewport().setCursor(Qt.OpenHandCursor if self._space else Qt.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event):
        if self.itemAt(event.position().toPoint()) is None:
            self.quickAddRequested.emit(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    # Drops from the palette ---------------------------------------------------------------------
    def dragEnterEvent(self, event):
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event):
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event):
        if event.mimeData().hasFormat(NODE_MIME):
            type_id = bytes(event.mimeData().data(NODE_MIME)).decode()
            self.nodeDropped.emit(type_id, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
        else:
            super().dropEvent(event)

    # Grid ---------------------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF):
        super().drawBackground(painter, rect)
        if self.zoom < 0.5:
            return
        step = GRID * 5
        left, top = int(rect.left() // step) * step, int(rect.top() // step) * step
        painter.setPen(QPen(QColor("#dde2e7"), 0))
        x = left
        lines = []
        from PySide6.QtCore import QLineF
        while x < rect.right():
            lines.append(QLineF(x, rect.top(), x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            lines.append(QLineF(rect.left(), y, rect.right(), y))
            y += step
        painter.drawLines(lines)
