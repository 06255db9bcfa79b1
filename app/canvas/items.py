"""The items a graph is drawn with: nodes (with their ports), edges (with shape labels).

Items hold no model state beyond the ids they draw: the scene sets their text, shapes and
problems from the graph and the analysis.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath,
                           QPainterPathStroker, QPen)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyle

from graph.spec import NodeSpec, Port

NODE_W = 150.0
HEADER_H = 24.0
SUB_H = 17.0
SUB_W = NODE_W - 12  # the type's line under the name
ROW_H = 19.0
PORT_R = 6.0
GRID = 10.0
# Level of detail: below FAR zoom the small texts are unreadable, so a node shows its id
# alone, FAR_TITLE_PX pixels tall on the screen at any zoom, on a tab of its colour that may
# run into the gap before the next column (templates place columns 270 apart)
FAR = 0.6
FAR_TITLE_PX = 11.0
TITLE_ROOM = 255.0

PORT_COLORS = {"tensor": QColor("#5b8def"), "loss": QColor("#d9534f")}
TEXT = QColor("#1f2328")
MUTED = QColor("#5c6670")
BODY = QColor("#fbfbfc")
BORDER = QColor("#aab2bb")
SELECTED = QColor("#f0a020")
ERROR = QColor("#d93025")
WARNING = QColor("#e8a100")
EDGE = QColor("#7d8792")

_TITLE_FONT = QFont()
_TITLE_FONT.setPointSizeF(9.5)
_TITLE_FONT.setBold(True)
_SMALL_FONT = QFont()
_SMALL_FONT.setPointSizeF(8.5)
_LABEL_FONT = QFont()
_LABEL_FONT.setPointSizeF(8.5)


def _elide(text: str, font: QFont, width: float) -> str:
    return QFontMetricsF(font).elidedText(text, Qt.ElideRight, width)


_TINY_FONT = QFont()
_TINY_FONT.setPointSizeF(7.5)
_TINIEST_FONT = QFont()
_TINIEST_FONT.setPointSizeF(7.0)
_FITTED: dict[str, tuple[QFont, str]] = {}


def fitted_subtitle(title: str, width: float) -> tuple[QFont, str]:
    """A node's type under its name, whole where it can be: as it is, without its
    parenthesis ('ConvTranspose2d (up-convolution)'), in a smaller font, and cut short only
    when none fits. Measured with some room to spare: text drawn zoomed out runs wider."""
    if title not in _FITTED:
        room = width * 0.94
        short = title.split(" (")[0]
        for font, text in ((_SMALL_FONT, title), (_SMALL_FONT, short), (_TINY_FONT, short),
                           (_TINIEST_FONT, short)):
            if QFontMetricsF(font).horizontalAdvance(text) <= room:
                _FITTED[title] = (font, text)
                break
        else:
            _FITTED[title] = (_TINIEST_FONT, _elide(short, _TINIEST_FONT, width))
    return _FITTED[title]


class PortItem(QGraphicsItem):
    """A port circle; hit target for wiring. `highlight` shows drag feedback."""

    def __init__(self, node: "NodeItem", port: Port, is_input: bool, index: int):
        super().__init__(node)
        self.node_item, self.port, self.is_input = node, port, is_input
        self.highlight: str | None = None  # None, "ok", "no"
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CrossCursor)
        y = HEADER_H + SUB_H + ROW_H * (index + 0.5)
        self.setPos(0.0 if is_input else NODE_W, y)
        self.setZValue(2)
        kind = "input" if is_input else "output"
        self.setToolTip(f"{kind} '{port.name}': {port.kind}"
                        + (" (takes several wires)" if port.multi else "")
                        + (f"\n{port.doc}" if port.doc else ""))

    @property
    def name(self) -> str:
        return self.port.name

    def boundingRect(self) -> QRectF:
        r = PORT_R + 4
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        p = QPainterPath()
        p.addEllipse(self.boundingRect())
        return p

    def center(self) -> QPointF:
        return self.scenePos()

    def paint(self, painter: QPainter, option, widget=None):
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.35 and not self.highlight:
            return  # zoomed far out: the node's outline is enough
        color = PORT_COLORS.get(self.port.kind, EDGE)
        r = PORT_R
        if self.highlight == "ok":
            painter.setPen(QPen(QColor("#2da44e"), 3))
            r += 2
        elif self.highlight == "no":
            color = QColor("#c8ccd0")
            painter.setPen(QPen(QColor("#c8ccd0"), 1))
        else:
            painter.setPen(QPen(QColor("#ffffff"), 1.5))
        painter.setBrush(color)
        painter.drawEllipse(QPointF(0, 0), r, r)

    def set_highlight(self, mode: str | None) -> None:
        if mode != self.highlight:
            self.highlight = mode
            self.update()


SUBNET_COLORS = ["#7b3294", "#008837", "#c2a5cf", "#e66101", "#5e3c99", "#1b7837"]


def subnet_color(name: str) -> QColor:
    """A sub-network's colour, the same every time for the same name."""
    import zlib
    return QColor(SUBNET_COLORS[zlib.crc32(name.encode()) % len(SUBNET_COLORS)])


class NodeItem(QGraphicsItem):
    """A node: coloured header with its id, the type below, ports on both sides."""

    def __init__(self, node_id: str, spec: NodeSpec):
        super().__init__()
        self.node_id, self.spec = node_id, spec
        self.issues: list = []  # the analysis issues on this node
        self.heat: QColor | None = None  # gradient-norm colour while training
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        rows = max(len(spec.inputs), len(spec.outputs), 1)
        self._h = HEADER_H + SUB_H + rows * ROW_H + 6
        self.body_height = self._h
        self.inputs = {p.name: PortItem(self, p, True, i) for i, p in enumerate(spec.inputs)}
        self.outputs = {p.name: PortItem(self, p, False, i) for i, p in enumerate(spec.outputs)}
        self.edges: set[EdgeItem] = set()
        self._color = QColor(spec.color)
        self.subnet: str | None = None  # the sub-network it belongs to: a tag above it
        self.is_block = spec.type.startswith("block:")  # an instance: double-click opens it
        self.repeat = 1  # an instance's repeat: "× N" drawn when over 1
        self._tooltip()

    def set_repeat(self, n: int) -> None:
        if n != self.repeat:
            self.repeat = n
            self._tooltip()
            self.update()

    @property
    def badge_text(self) -> str:
        """What the node shows besides its id and type: "× 4" for a repeated block."""
        return f"× {self.repeat}" if self.repeat > 1 else ""

    def set_subnet(self, name: str | None) -> None:
        if name != self.subnet:
            self.subnet = name
            self._tooltip()
            self.update()

    def set_id(self, node_id: str) -> None:
        self.node_id = node_id
        self._tooltip()
        self.update()

    def set_issues(self, issues: list) -> None:
        if [str(i) for i in issues] != [str(i) for i in self.issues]:
            self.issues = list(issues)
            self._tooltip()
            self.update()

    def _tooltip(self) -> None:
        text = f"{self.spec.title} '{self.node_id}'"
        if self.badge_text:
            text += f", applied {self.repeat} times in sequence"
        if self.is_block:
            text += " — double-click to open the block"
        if self.subnet:
            text += f" — in the sub-network '{self.subnet}'"
        if self.issues:
            text += "\n\n" + "\n".join(("⚠ " if i.severity == "warning" else "✖ ") + i.message
                                       for i in self.issues)
        self.setToolTip(text)

    def boundingRect(self) -> QRectF:
        return QRectF(-4, -12, TITLE_ROOM + 8, self._h + 16)

    def shape(self) -> QPainterPath:
        p = QPainterPath()
        p.addRoundedRect(QRectF(0, 0, NODE_W, self._h), 6, 6)
        return p

    def port(self, name: str, is_input: bool) -> PortItem | None:
        return (self.inputs if is_input else self.outputs).get(name)

    def paint(self, painter: QPainter, option, widget=None):
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        rect = QRectF(0, 0, NODE_W, self._h)
        selected = bool(option.state & QStyle.State_Selected)
        if lod < 0.35:  # zoomed far out: flat boxes, no antialiasing
            painter.setRenderHint(QPainter.Antialiasing, False)
            painter.fillRect(rect, self.heat or BODY)
            painter.fillRect(QRectF(0, 0, NODE_W, HEADER_H), self._color)
            painter.setPen(QPen(SELECTED if selected else BORDER, 3 if selected else 1))
            painter.drawRect(rect)
            self._paint_far_title(painter, lod)
            self._paint_badge(painter)
            return
        painter.setPen(QPen(SELECTED if selected else BORDER, 2.5 if selected else 1))
        painter.setBrush(self.heat or BODY)
        painter.drawRoundedRect(rect, 6, 6)
        header = QPainterPath()
        header.addRoundedRect(QRectF(0, 0, NODE_W, HEADER_H), 6, 6)
        header.addRect(QRectF(0, HEADER_H - 6, NODE_W, 6))
        painter.fillPath(header, self._color)
        if lod < FAR:  # zoomed out: the id, large enough to read
            self._paint_far_title(painter, lod)
            self._paint_badge(painter)
            return
        painter.setPen(QColor("#ffffff"))
        painter.setFont(_TITLE_FONT)
        room = NODE_W - 34 - (40 if self.badge_text else 0)
        painter.drawText(QRectF(10, 0, room + 4, HEADER_H), Qt.AlignVCenter | Qt.AlignLeft,
                         _elide(self.node_id, _TITLE_FONT, room))
        painter.setPen(MUTED)
        font, text = fitted_subtitle(self.spec.title, SUB_W)
        painter.setFont(font)
        painter.drawText(QRectF(8, HEADER_H, SUB_W, SUB_H), Qt.AlignVCenter | Qt.AlignLeft,
                         text)
        if self.badge_text:  # a repeated block: "× 4" at the header's right
            painter.setPen(QColor("#ffffff"))
            painter.setFont(_TITLE_FONT)
            painter.drawText(QRectF(NODE_W - 52, 0, 44, HEADER_H),
                             Qt.AlignVCenter | Qt.AlignRight, self.badge_text)
        painter.setFont(_SMALL_FONT)
        painter.setPen(TEXT)
        for items, align, x in ((self.inputs, Qt.AlignLeft, 12.0),
                                (self.outputs, Qt.AlignRight, NODE_W / 2)):
            for port in items.values():
                y = port.pos().y()
                painter.drawText(QRectF(x, y - ROW_H / 2, NODE_W / 2 - 12, ROW_H),
                                 Qt.AlignVCenter | align, port.name)
        self._paint_badge(painter)

    def far_title_font(self, lod: float) -> QFont:
        """The title's font when zoomed out: FAR_TITLE_PX screen pixels tall at `lod`."""
        f = QFont(_TITLE_FONT)
        f.setPixelSize(max(1, round(FAR_TITLE_PX / max(lod, 1e-3))))
        return f

    def far_title_rect(self, lod: float) -> tuple[QRectF, str]:
        """Where the zoomed-out title goes (scene units, the node's own) and its text."""
        f = self.far_title_font(lod)
        fm = QFontMetricsF(f)
        pad = fm.height() * 0.25
        text = fm.elidedText(self.node_id, Qt.ElideRight, TITLE_ROOM - 2 * pad)
        w = max(fm.horizontalAdvance(text) + 2 * pad, NODE_W)
        return QRectF(0, 0, min(w, TITLE_ROOM), fm.height() + pad), text

    def _paint_far_title(self, painter: QPainter, lod: float) -> None:
        rect, text = self.far_title_rect(lod)
        painter.setPen(Qt.NoPen)
        painter.setBrush(self._color)
        painter.drawRect(rect)
        painter.setPen(QColor("#ffffff"))
        painter.setFont(self.far_title_font(lod))
        painter.drawText(rect, Qt.AlignCenter, text)

    def _paint_subnet(self, painter: QPainter) -> None:
        """The sub-network's tag: its name on a pill of its colour above the node's header,
        and a stripe of that colour down the node's left edge."""
        if not self.subnet:
            return
        color = subnet_color(self.subnet)
        painter.fillRect(QRectF(0, HEADER_H, 4, self._h - HEADER_H - 3), color)
        painter.setFont(_SMALL_FONT)
        w = min(NODE_W - 24, painter.fontMetrics().horizontalAdvance(self.subnet) + 12)
        painter.setPen(Qt.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(QRectF(6, -11, w, 13), 4, 4)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(QRectF(6, -11, w, 13), Qt.AlignCenter,
                         _elide(self.subnet, _SMALL_FONT, w - 6))

    def _paint_badge(self, painter: QPainter) -> None:
        self._paint_subnet(painter)
        if not self.issues:
            return
        error = any(i.severity == "error" for i in self.issues)
        painter.setPen(QPen(QColor("#ffffff"), 1.5))
        painter.setBrush(ERROR if error else WARNING)
        c = QPointF(NODE_W - 4, -2)
        painter.drawEllipse(c, 9, 9)
        painter.setPen(QColor("#ffffff"))
        painter.setFont(_TITLE_FONT)
        painter.drawText(QRectF(c.x() - 9, c.y() - 9, 18, 18), Qt.AlignCenter, "!")

    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemPositionHasChanged:
            for e in self.edges:
                e.update_path()
            scene = self.scene()
            if scene is not None and hasattr(scene, "restack_around"):
                scene.restack_around(self)
        return super().itemChange(change, value)


_EDGE_PEN = QPen(EDGE, 2)
_LOSS_PEN = QPen(PORT_COLORS["loss"], 2)
_SELECTED_PEN = QPen(SELECTED, 3)
_TRAINING_PEN = QPen(EDGE, 2, Qt.DashLine)  # a wire that exists in training only
_LABEL_BG = QBrush(QColor(255, 255, 255, 230))
_LABEL_TEXT = QColor("#3b4450")


class EdgeItem(QGraphicsPathItem):
    """A curved wire from an output port to an input port, labelled with its tensor shape.
    Its bounds and end points are cached when the path changes: paint() runs for every
    visible wire on every frame. A wire that passes under a node it does not connect is
    drawn above the nodes (`set_over`), so no wire is ever hidden."""

    Z_UNDER, Z_OVER = 0.0, 1.5  # nodes are at 1, ports at 2

    def __init__(self, edge, src: PortItem, dst: PortItem):
        super().__init__()
        self.edge, self.src, self.dst = edge, src, dst
        self.label = ""
        self.setFlags(QGraphicsItem.ItemIsSelectable)
        self.setZValue(self.Z_UNDER)
        self.over = False
        self._pen = _LOSS_PEN if src.port.kind == "loss" else _EDGE_PEN
        if dst.port.phase == "train":  # a Teacher forcing node's target: dashed
            self._pen = _TRAINING_PEN
            self.setToolTip("Training only: this wire feeds the true tokens while training; "
                            "at inference the Greedy decode feeds the model's own")
        self._own_tip = self.toolTip()
        self.setAcceptHoverEvents(True)
        self._label_rect = QRectF()
        self._bounds = QRectF()
        self._a = self._b = QPointF()
        src.node_item.edges.add(self)
        dst.node_item.edges.add(self)
        self.update_path()

    def hoverEnterEvent(self, event) -> None:
        # a tried sample's value on this wire, from its own scene's hook (GraphScene.
        # wire_preview; a plain QGraphicsScene has none)
        ask = getattr(self.scene(), "wire_preview", None)
        tip = ask(self) if ask is not None else None
        self.setToolTip(tip or self._own_tip)
        super().hoverEnterEvent(event)

    def detach(self) -> None:
        self.src.node_item.edges.discard(self)
        self.dst.node_item.edges.discard(self)

    def set_label(self, text: str) -> None:
        if text == self.label:
            return
        old_bounds, old_rect = QRectF(self._bounds), QRectF(self._label_rect)
        self.label = text
        self._place_label()
        if self._bounds == old_bounds:
            # Only the label changed: repaint it, not the whole wire (a wire from one row to
            # the next spans most of the canvas).
            self.update(old_rect.united(self._label_rect).adjusted(-2, -2, 2, 2))
        else:
            new_bounds = self._bounds
            self._bounds = old_bounds
            self.prepareGeometryChange()  # tells the scene the old bounds go away
            self._bounds = new_bounds
            self.update()

    def set_over(self, over: bool) -> None:
        if over != self.over:
            self.over = over
            self.setZValue(self.Z_OVER if over else self.Z_UNDER)

    def end_points(self) -> tuple[float, float, float, float]:
        return self._a.x(), self._a.y(), self._b.x(), self._b.y()

    def update_path(self) -> None:
        self._a, self._b = self.src.center(), self.dst.center()
        self.setPath(wire_path(self._a, self._b))
        self.prepareGeometryChange()
        self._place_label()

    def _place_label(self) -> None:
        """Above the wire's middle; where that covers one of the two nodes it joins (a
        short wire between neighbours), further along the wire, or below it."""
        self._label_rect = QRectF()
        if not self.label:
            self._bounds = self.path().boundingRect().adjusted(-3, -3, 3, 3)
            return
        w = QFontMetricsF(_LABEL_FONT).horizontalAdvance(self.label) + 10
        bodies = [n.mapRectToScene(QRectF(0, 0, NODE_W, n.body_height)).adjusted(-2, -2, 2, 2)
                  for n in (self.src.node_item, self.dst.node_item)]
        path = self.path()
        first = None
        for t in (0.5, 0.35, 0.65, 0.2, 0.8):
            mid = path.pointAtPercent(t)
            for dy in (-17.0, 2.0):
                rect = QRectF(mid.x() - w / 2, mid.y() + dy, w, 15)
                first = first or rect
                if not any(rect.intersects(b) for b in bodies):
                    self._label_rect = rect
                    break
            if not self._label_rect.isNull():
                break
        if self._label_rect.isNull():
            self._label_rect = first
        self._bounds = self.path().boundingRect().united(self._label_rect).adjusted(-3, -3, 3, 3)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())

    def paint(self, painter: QPainter, option, widget=None):
        painter.setPen(_SELECTED_PEN if self.isSelected() else self._pen)
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.35:
            painter.setRenderHint(QPainter.Antialiasing, False)  # far out: straight and cheap
            painter.drawLine(self._a, self._b)
            return
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(self.path())
        if not self.label or option.levelOfDetailFromTransform(painter.worldTransform()) < 0.45:
            return
        painter.setPen(Qt.NoPen)
        painter.setBrush(_LABEL_BG)
        painter.drawRoundedRect(self._label_rect, 4, 4)
        painter.setPen(_LABEL_TEXT)
        painter.setFont(_LABEL_FONT)
        painter.drawText(self._label_rect, Qt.AlignCenter, self.label)


def _wire_dx(ax: float, bx: float) -> float:
    return max(abs(bx - ax) * 0.5, 40.0)


def wire_samples(ends: tuple[float, float, float, float], step: float = 25.0):
    """Points along the wire's curve (the same cubic as wire_path), about `step` apart."""
    ax, ay, bx, by = ends
    dx = _wire_dx(ax, bx)
    c1x, c2x = ax + dx, bx - dx
    n = max(4, int((abs(bx - ax) + abs(by - ay) + 2 * dx) / step))
    for k in range(1, n):
        t = k / n
        u = 1 - t
        w0, w1, w2, w3 = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
        yield (w0 * ax + w1 * c1x + w2 * c2x + w3 * bx, (w0 + w1) * ay + (w2 + w3) * by)


def wire_path(a: QPointF, b: QPointF) -> QPainterPath:
    dx = _wire_dx(a.x(), b.x())
    p = QPainterPath(a)
    p.cubicTo(QPointF(a.x() + dx, a.y()), QPointF(b.x() - dx, b.y()), b)
    return p


def snap(v: float, on: bool = True) -> float:
    return round(v / GRID) * GRID if on else v
