"""The scene mirrors the document's graph: it listens to graph events and to the analysis, and
turns gestures into checked edits (through the Editor). It never writes the model directly."""
from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene

from graph import model as M
from graph.blocks import BlockChanged
from graph.spec import TensorType

from ..document import Document, EditRefused, Editor
from .items import NODE_W, EdgeItem, NodeItem, PortItem, snap, wire_path, wire_samples


# log10(gradient norm) -> colour: vanishing blue, a neutral band for healthy values, exploding
# red (the seed notes' vanishing / exploding gradients).
_HEAT = [(-4.0, (59, 111, 212)), (-1.0, (205, 205, 205)), (1.0, (205, 205, 205)),
         (2.5, (212, 73, 59))]


def heat_color(norm: float) -> QColor:
    """The node body colour for a gradient norm (55% colour, 45% white, for legible text)."""
    import math
    if not math.isfinite(norm):
        x = _HEAT[-1][0]
    elif norm <= 0:
        x = _HEAT[0][0]
    else:
        x = math.log10(norm)
    x = min(max(x, _HEAT[0][0]), _HEAT[-1][0])
    for (x0, c0), (x1, c1) in zip(_HEAT, _HEAT[1:]):
        if x <= x1:
            t = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            rgb = [a + (b - a) * t for a, b in zip(c0, c1)]
            break
    return QColor(*[int(255 - (255 - v) * 0.55) for v in rgb])


def shape_label(t: TensorType | None) -> str:
    return "" if t is None else str(t)


class GraphScene(QGraphicsScene):
    message = Signal(str)  # a refusal or hint for the status bar
    wireDroppedOnEmpty = Signal(object, QPointF)  # (PortItem, scene pos)
    openRequested = Signal(str)  # a block instance double-clicked: open its definition

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.editor = Editor(doc)
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[M.Edge, EdgeItem] = {}
        self.snap_to_grid = True
        self._wire: QGraphicsPathItem | None = None
        self._wire_from: PortItem | None = None
        self._hover_port: PortItem | None = None
        self._press_pos: dict[str, tuple] = {}
        # No BSP index: Qt builds it lazily on the first partial repaint (60-200 ms for a
        # 1,000-node graph, felt as a stall on the first edit); a linear scan over a few
        # thousand items is cheaper, and adding or moving items needs no index updates.
        self.setItemIndexMethod(QGraphicsScene.NoIndex)
        self._restack_due: set[EdgeItem] = set()
        self._restack_timer = QTimer(self)
        self._restack_timer.setSingleShot(True)
        self._restack_timer.setInterval(120)  # a full pass at 1,000 nodes ~65 ms: coalesced
        self._restack_timer.timeout.connect(self.restack)
        self.graph = doc.shown_graph  # the graph shown: the project's or a definition's
        self._unsubscribe = lambda: None
        # (EdgeItem) -> a hovered wire's tooltip or None: set by the window that shows this
        # scene to its Try panel's Inside box (a tried sample's values, app/try_inside), and
        # cleared by close(); per scene, so no window's box answers another window's wires
        self.preview_hook = None
        self._show()
        doc.analysed.connect(self._analysed)
        doc.shownChanged.connect(self._show)

    def _show(self) -> None:
        """Mirror the document's shown graph (again, after a definition was opened or left)."""
        self._unsubscribe()
        for item in list(self.edges.values()):
            item.detach()
            self.removeItem(item)
        for item in list(self.nodes.values()):
            self.removeItem(item)
        self.nodes, self.edges = {}, {}
        self.graph = self.doc.shown_graph
        for n in self.graph.nodes():
            self._add_node(n)
        for e in self.graph.edges():
            self._add_edge(e)
        self._unsubscribe = self.graph.subscribe(self._on_event)
        self.apply_analysis(self.doc.shown_analysis)

    def _analysed(self, _analysis) -> None:
        self.apply_analysis(self.doc.shown_analysis)

    def wire_preview(self, item) -> str | None:
        """A hovered wire's tooltip from this scene's preview hook (None without one)."""
        hook = self.preview_hook
        return None if hook is None else hook(item)

    def close(self) -> None:
        self.preview_hook = None
        self._restack_timer.stop()
        self._unsubscribe()
        for signal, slot in ((self.doc.analysed, self._analysed),
                             (self.doc.shownChanged, self._show)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    # Mirroring the model ------------------------------------------------------------------------
    def _add_node(self, n: str) -> NodeItem:
        item = NodeItem(n, self.graph.spec(n))
        item.set_repeat(self.graph.params(n).get("repeat", 1) if item.is_block else 1)
        if not getattr(self, "_ports_shown", True):
            for p in (*item.inputs.values(), *item.outputs.values()):
                p.setVisible(False)
        x, y = self.graph.pos(n)
        item.setPos(x, y)
        self.addItem(item)
        self.nodes[n] = item
        item.set_subnet(next((k for k, v in self.graph.subnets.items() if n in v), None))
        return item

    def _add_edge(self, e: M.Edge) -> EdgeItem:
        src = self.nodes[e.src].port(e.src_port, False)
        dst = self.nodes[e.dst].port(e.dst_port, True)
        item = EdgeItem(e, src, dst)
        self.addItem(item)
        self.edges[e] = item
        self._restack_due.add(item)
        if not self._restack_timer.isActive():
            self._restack_timer.start()
        return item

    # Wires passing under nodes ------------------------------------------------------------------
    def restack_around(self, node: NodeItem) -> None:
        """A node moved: its wires, the wires it now lies on, and the ones it may have left
        are checked again (coalesced)."""
        self._restack_due.update(node.edges)
        self._restack_due.update(e for e in self.edges.values() if e.over)
        rect = node.sceneBoundingRect()
        self._restack_due.update(i for i in self.items(rect) if isinstance(i, EdgeItem))
        if not self._restack_timer.isActive():
            self._restack_timer.start()

    RESTACK_CELL = 200.0  # the grid the node bodies are bucketed in, scene units

    def restack(self) -> None:
        """Draw each due wire above the nodes where it crosses one it does not connect.
        Node bodies go into a coarse grid and each wire is sampled along its curve every
        ~25 units: a 1,000-node graph restacks in milliseconds (Qt's items(rect) without a
        BSP index, once per wire, took seconds)."""
        due, self._restack_due = self._restack_due, set()
        due = [e for e in due if e.scene() is self]
        if not due:
            return
        cell = self.RESTACK_CELL
        grid: dict[tuple[int, int], list] = {}
        for item in self.nodes.values():
            p = item.pos()
            x0, y0, x1, y1 = p.x(), p.y(), p.x() + NODE_W, p.y() + item.body_height
            for i in range(int(x0 // cell), int(x1 // cell) + 1):
                for j in range(int(y0 // cell), int(y1 // cell) + 1):
                    grid.setdefault((i, j), []).append((x0, y0, x1, y1, item))
        for edge in due:
            ends = (edge.src.node_item, edge.dst.node_item)
            edge.set_over(any(
                x0 <= x <= x1 and y0 <= y <= y1 and item not in ends
                for x, y in wire_samples(edge.end_points())
                for x0, y0, x1, y1, item in grid.get((int(x // cell), int(y // cell)), ())))

    def _on_event(self, ev) -> None:
        if isinstance(ev, M.SubnetsChanged):
            of = {m: k for k, v in self.graph.subnets.items() for m in v}
            for n, item in self.nodes.items():
                item.set_subnet(of.get(n))
        elif isinstance(ev, M.NodeAdded):
            self._add_node(ev.node)
        elif isinstance(ev, M.NodeRemoved):
            item = self.nodes.pop(ev.node)
            self.removeItem(item)
        elif isinstance(ev, M.EdgeAdded):
            self._add_edge(ev.edge)
        elif isinstance(ev, M.EdgeRemoved):
            item = self.edges.pop(ev.edge)
            item.detach()
            self.removeItem(item)
        elif isinstance(ev, M.ParamChanged):
            item = self.nodes.get(ev.node)
            if item is not None and item.is_block and ev.name == "repeat":
                item.set_repeat(ev.new)
        elif isinstance(ev, BlockChanged):
            self._refresh_instances()
        elif isinstance(ev, M.NodeMoved):
            item = self.nodes[ev.node]
            if (item.pos().x(), item.pos().y()) != ev.new:
                item.setPos(*ev.new)
        elif isinstance(ev, M.NodeRenamed):
            item = self.nodes.pop(ev.old)
            item.set_id(ev.new)
            self.nodes[ev.new] = item
            for e in list(self.edges):
                if ev.old in (e.src, e.dst):
                    edge_item = self.edges.pop(e)
                    new = M.Edge(ev.new if e.src == ev.old else e.src, e.src_port,
                                 ev.new if e.dst == ev.old else e.dst, e.dst_port)
                    edge_item.edge = new
                    self.edges[new] = edge_item

    def _refresh_instances(self) -> None:
        """A definition changed: an instance whose ports or title changed is drawn again."""
        for n, item in list(self.nodes.items()):
            if not item.is_block or n not in self.graph:
                continue
            spec = self.graph.spec(n)
            if (spec.title, [p.name for p in spec.inputs], [p.name for p in spec.outputs]) == \
                    (item.spec.title, list(item.inputs), list(item.outputs)):
                continue
            selected = item.isSelected()
            for e in [e for e in self.edges if n in (e.src, e.dst)]:
                edge_item = self.edges.pop(e)
                edge_item.detach()
                self.removeItem(edge_item)
            self.removeItem(self.nodes.pop(n))
            self._add_node(n).setSelected(selected)
            for e in self.graph.in_edges(n) + self.graph.out_edges(n):
                if self.nodes[e.src].port(e.src_port, False) and \
                        self.nodes[e.dst].port(e.dst_port, True):
                    self._add_edge(e)

    def mouseDoubleClickEvent(self, event):
        if event.button() == Qt.LeftButton:
            for item in self.items(event.scenePos()):
                node = item if isinstance(item, NodeItem) else item.parentItem()
                if isinstance(node, NodeItem):
                    if node.is_block:
                        self.openRequested.emit(node.node_id)
                        event.accept()
                        return
                    break
        super().mouseDoubleClickEvent(event)

    def apply_analysis(self, analysis) -> None:
        """Shape labels on every wire, problem badges on every node."""
        by_node: dict[str, list] = {}
        for issue in analysis.issues:
            if issue.node is not None:
                by_node.setdefault(issue.node, []).append(issue)
        for n, item in self.nodes.items():
            item.set_issues(by_node.get(n, []))
        for e, item in self.edges.items():
            item.set_label(shape_label(analysis.edge_type(e)))

    # Level of detail -----------------------------------------------------------------------------
    LOW_DETAIL = 0.35  # below this zoom, nodes are drawn as flat boxes (see items.py)

    def set_zoom_detail(self, zoom: float) -> None:
        """Hide port items when zoomed far out: they would not be drawn, and skipping them
        spares thousands of paint calls per frame on a large graph."""
        show = zoom >= self.LOW_DETAIL
        if show == getattr(self, "_ports_shown", True):
            return
        self._ports_shown = show
        for item in self.nodes.values():
            for p in (*item.inputs.values(), *item.outputs.values()):
                p.setVisible(show)

    # Gradient colours while training ---------------------------------------------------------
    def set_heat(self, norms: dict[str, float]) -> None:
        """Colour each layer by its gradient norm (vanishing blue, healthy grey, exploding
        red); nodes not in `norms` keep their colour."""
        for n, v in norms.items():
            item = self.nodes.get(n)
            if item is not None:
                item.heat = heat_color(v)
                item.update()

    def clear_heat(self) -> None:
        for item in self.nodes.values():
            if item.heat is not None:
                item.heat = None
                item.update()

    # Selection helpers --------------------------------------------------------------------------
    def selected_nodes(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[M.Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, EdgeItem)]

    def port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    # Gestures -----------------------------------------------------------------------------------
    def mousePressEvent(self, event):
        if event.button() == Qt.LeftButton:
            port = self.port_at(event.scenePos())
            if port is not None:
                self._start_wire(port)
                event.accept()
                return
        super().mousePressEvent(event)
        self._press_pos = {n: (item.pos().x(), item.pos().y())
                           for n, item in self.nodes.items() if item.isSelected()}

    def mouseMoveEvent(self, event):
        if self._wire is not None:
            self._drag_wire(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._wire is not None and event.button() == Qt.LeftButton:
            self._finish_wire(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if self._press_pos:
            moves = {}
            for n, old in self._press_pos.items():
                item = self.nodes.get(n)
                if item is None:
                    continue
                if (item.pos().x(), item.pos().y()) == old:
                    continue  # clicked, not dragged: an off-grid node stays where it is
                new = (snap(item.pos().x(), self.snap_to_grid), snap(item.pos().y(), self.snap_to_grid))
                if new != old:
                    moves[n] = (self.graph.pos(n), new)
            self._press_pos = {}
            if moves:
                self.editor.move(moves)  # one drag = one undo step

    # Wiring ------------------------------------------------------------------------------------
    def _start_wire(self, port: PortItem) -> None:
        self._wire_from = port
        self._wire = QGraphicsPathItem()
        self._wire.setPen(QPen(QColor("#2f6fde"), 2, Qt.DashLine))
        self._wire.setZValue(3)
        self.addItem(self._wire)
        # Cheap live feedback for every port: the right direction and kind.
        for item in self.nodes.values():
            for p in (*item.inputs.values(), *item.outputs.values()):
                if p is port:
                    continue
                ok = (p.is_input != port.is_input and p.port.kind == port.port.kind
                      and p.node_item is not port.node_item)
                p.set_highlight(None if ok else "no")

    def _edge_for(self, a: PortItem, b: PortItem) -> M.Edge | None:
        if a.is_input == b.is_input:
            return None
        out, inp = (b, a) if a.is_input else (a, b)
        return M.Edge(out.node_item.node_id, out.name, inp.node_item.node_id, inp.name)

    def _problem(self, a: PortItem, b: PortItem) -> str | None:
        edge = self._edge_for(a, b)
        if edge is None:
            return "connect an output to an input"
        return self.graph.connect_problem(edge.src, edge.src_port, edge.dst, edge.dst_port,
                                              replace=True)

    def _drag_wire(self, pos: QPointF) -> None:
        a = self._wire_from.center()
        self._wire.setPath(wire_path(pos, a) if self._wire_from.is_input else wire_path(a, pos))
        port = self.port_at(pos)
        if port is self._hover_port:
            return
        if self._hover_port is not None and self._hover_port.highlight == "ok":
            self._hover_port.set_highlight(None)
        self._hover_port = port
        if port is not None and port is not self._wire_from:
            why = self._problem(self._wire_from, port)
            port.set_highlight(None if why else "ok")
            self.message.emit(why or "")

    def _finish_wire(self, pos: QPointF) -> None:
        start = self._wire_from
        self.removeItem(self._wire)
        self._wire, self._wire_from, self._hover_port = None, None, None
        for item in self.nodes.values():
            for p in (*item.inputs.values(), *item.outputs.values()):
                p.set_highlight(None)
        target = self.port_at(pos)
        if target is None:
            self.wireDroppedOnEmpty.emit(start, pos)
            return
        if target is start:
            return
        edge = self._edge_for(start, target)
        if edge is None:
            self.message.emit("Wire refused: connect an output to an input")
            return
        try:
            self.editor.connect(edge, replace=True)
            self.message.emit("")
        except EditRefused as e:
            self.message.emit(f"Wire refused: {e}")

