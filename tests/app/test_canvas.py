"""Gestures on the canvas change the model (offscreen, pytest-qt)."""
from pathlib import Path

import pytest

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QSpinBox

from app.palette import node_mime
from graph.model import Edge

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "cnn.json"


@pytest.fixture
def CNN(tmp_path):
    """A copy of the CNN template: tests that save must never write into templates/."""
    import shutil
    return Path(shutil.copy(TEMPLATE, tmp_path / "cnn.json"))


def view_pos(win, scene_point: QPointF) -> QPoint:
    return win.view.mapFromScene(scene_point)


def port_pos(win, node, port, is_input):
    item = win.scene.nodes[node].port(port, is_input)
    return view_pos(win, item.scenePos())


def drag(win, a: QPoint, b: QPoint) -> None:
    vp = win.view.viewport()
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, a)
    for t in (0.25, 0.5, 0.75, 1.0):
        QTest.mouseMove(vp, QPoint(int(a.x() + (b.x() - a.x()) * t), int(a.y() + (b.y() - a.y()) * t)))
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, b)
    QApplication.processEvents()


def test_drag_palette_entry_onto_canvas_adds_a_node(win, qtbot):
    vp = win.view.viewport()
    target = QPointF(300, 200)
    mime = node_mime("Conv2d")
    enter = QDragEnterEvent(target.toPoint(), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    drop = QDropEvent(target, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(vp, drop)
    assert win.doc.graph.nodes() == ["conv1"]
    assert win.doc.graph.node_type("conv1") == "Conv2d"
    assert "conv1" in win.scene.nodes
    # It landed where it was dropped (centred under the cursor, snapped to the grid).
    x, y = win.doc.graph.pos("conv1")
    scene_drop = win.view.mapToScene(target.toPoint())
    assert abs(x + 75 - scene_drop.x()) <= 10 and abs(y + 20 - scene_drop.y()) <= 10
    win.a_undo.trigger()
    assert win.doc.graph.nodes() == []


def test_palette_filter_and_double_click(win):
    from graph import catalogue

    def shown_for(text):
        win.palette.filter.setText(text)
        shown = set(win.palette.visible_types())
        # exactly the types whose title, id, category or summary hold every word
        assert shown == {t for t, s in catalogue.SPECS.items()
                         if all(w in f"{s.title} {s.type} {s.category} {s.doc.summary}".lower()
                                for w in text.split())}
        return shown
    assert {"MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "RoIPool", "RoIAlign",
            "AdaptiveAvgPool1d", "MaxPool3d"} <= shown_for("pool")
    assert "Linear" not in shown_for("pool")
    assert {"BCELoss", "CategoricalCrossEntropyLoss", "ObjectnessLoss", "MaskLoss",
            "CrossEntropyLoss"} <= shown_for("cross entropy")
    assert "MSELoss" not in shown_for("cross entropy")
    win.palette.filter.setText("")
    win.palette.tree.itemDoubleClicked.emit(win.palette.items["ReLU"], 0)
    assert win.doc.graph.nodes() == ["relu1"]
    assert win.scene.selected_nodes() == ["relu1"]


def test_drag_output_port_to_input_port_adds_the_edge(win, CNN):
    win.open_path(CNN, ask=False)
    g = win.doc.graph
    old = Edge("relu1", "y", "pool1", "x")
    win.editor.disconnect([old])
    assert not g.has_edge(old)
    drag(win, port_pos(win, "relu1", "y", False), port_pos(win, "pool1", "x", True))
    assert g.has_edge(old)
    assert old in win.scene.edges
    # Wiring from the input end works too, and a drop onto a taken input swaps the wire.
    drag(win, port_pos(win, "pool1", "x", True), port_pos(win, "conv1", "y", False))
    assert g.has_edge(Edge("conv1", "y", "pool1", "x")) and not g.has_edge(old)
    win.a_undo.trigger()
    assert g.has_edge(old)


def test_incompatible_wire_is_refused_and_says_why(win, CNN):
    win.open_path(CNN, ask=False)
    g = win.doc.graph
    before = win.doc.project.to_json()
    g_edges = len(g.edges())
    drag(win, port_pos(win, "loss", "loss", False), port_pos(win, "dense", "x", True))
    assert len(g.edges()) == g_edges and win.doc.project.to_json() == before
    assert "Wire refused" in win.status.text() and "takes a tensor" in win.status.text()
    # A cycle is refused too.
    drag(win, port_pos(win, "softmax", "y", False), port_pos(win, "conv2", "x", True))
    assert "cycle" in win.status.text() and win.doc.project.to_json() == before


def test_live_feedback_while_dragging_a_wire(win, CNN):
    win.open_path(CNN, ask=False)
    vp = win.view.viewport()
    a = port_pos(win, "loss", "loss", False)
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, a)
    QTest.mouseMove(vp, a + QPoint(30, 30))
    dense_in = win.scene.nodes["dense"].port("x", True)
    assert dense_in.highlight == "no"  # a loss cannot go into a layer
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, a + QPoint(30, 30))
    assert dense_in.highlight is None


def test_param_edit_updates_shape_labels(win, qtbot, CNN):
    win.open_path(CNN, ask=False)
    win.scene.nodes["conv1"].setSelected(True)
    edge = win.scene.edges[Edge("conv1", "y", "relu1", "x")]
    assert edge.label == "N × 16 × 8 × 8"
    spin = win.inspector.findChild(QSpinBox, "out_channels")
    spin.setValue(32)
    spin.editingFinished.emit()
    qtbot.waitUntil(lambda: edge.label == "N × 32 × 8 × 8", timeout=2000)
    assert win.doc.graph.params("conv1")["out_channels"] == 32
    downstream = win.scene.edges[Edge("pool1", "y", "conv2", "x")]
    assert downstream.label == "N × 32 × 4 × 4"


def test_problem_badge_and_tooltip(win, qtbot, CNN):
    win.open_path(CNN, ask=False)
    win.editor.set_param("dense", "in_features", 512)
    item = win.scene.nodes["dense"]
    qtbot.waitUntil(lambda: bool(item.issues), timeout=2000)
    assert "expects 512 input features but 'flatten' gives 128" in item.toolTip()
    assert "1 problem" in win.status.text()
    win.a_undo.trigger()
    qtbot.waitUntil(lambda: not item.issues, timeout=2000)


def test_node_drag_is_one_move_command(win, CNN):
    win.open_path(CNN, ask=False)
    g = win.doc.graph
    x0, y0 = g.pos("relu1")
    item = win.scene.nodes["relu1"]
    a = view_pos(win, item.scenePos() + QPointF(60, 8))  # the header
    b = a + QPoint(120, 90)
    count = win.doc.undo.count()
    drag(win, a, b)
    assert win.doc.undo.count() == count + 1
    x1, y1 = g.pos("relu1")
    assert (x1, y1) != (x0, y0) and x1 % 10 == 0 and y1 % 10 == 0  # snapped
    win.a_undo.trigger()
    assert g.pos("relu1") == (x0, y0)
    assert (item.pos().x(), item.pos().y()) == (x0, y0)


def test_rubber_band_delete_copy_paste_duplicate(win, CNN):
    win.open_path(CNN, ask=False)
    g = win.doc.graph
    for n in ("conv1", "relu1", "pool1"):
        win.scene.nodes[n].setSelected(True)
    win.a_copy.trigger()
    win.scene.clearSelection()
    win.a_paste.trigger()
    pasted = win.scene.selected_nodes()
    assert sorted(pasted) == ["conv3", "pool3", "relu3"]
    assert g.has_edge(Edge("conv3", "y", "relu3", "x")) and g.has_edge(Edge("relu3", "y", "pool3", "x"))
    assert g.params("conv3") == g.params("conv1")
    win.a_duplicate.trigger()
    assert len(win.scene.selected_nodes()) == 3 and len(g) == 19
    win.a_delete.trigger()
    assert len(g) == 16
    win.a_select_all.trigger()
    win.a_delete.trigger()
    assert len(g) == 0
    win.a_undo.trigger()
    assert len(g) == 16


def test_selecting_an_edge_and_deleting_it(win, CNN):
    win.open_path(CNN, ask=False)
    e = Edge("flatten", "y", "dense", "x")
    win.scene.edges[e].setSelected(True)
    win.a_delete.trigger()
    assert not win.doc.graph.has_edge(e) and "dense" in win.doc.graph


def test_quick_add_fuzzy_and_from_a_dropped_wire(win, qtbot, CNN):
    from app.quickadd import ranked
    assert ranked("cnv", ["Linear", "Conv2d", "Concat"])[0] == "Conv2d"
    assert ranked("mxp", ["MaxPool2d", "AvgPool2d", "Linear"]) == ["MaxPool2d"]
    assert ranked("cce", ["CategoricalCrossEntropyLoss", "MSELoss"])[0] == "CategoricalCrossEntropyLoss"
    win.open_path(CNN, ask=False)
    g = win.doc.graph
    a = port_pos(win, "dense", "y", False)
    drag(win, a, a + QPoint(40, 160))  # onto empty canvas
    assert win.quick.isVisible()
    listed = [win.quick.list.item(i).data(Qt.UserRole + 1) for i in range(win.quick.list.count())]
    assert "ReLU" in listed and "Input" not in listed and "Target" not in listed
    win.quick.edit.setText("sigm")
    win.quick.accept_current()
    assert g.has_edge(Edge("dense", "y", "sigmoid1", "x"))
    win.a_undo.trigger()  # one step: node and wire
    assert "sigmoid1" not in g and g.has_edge(Edge("dense", "y", "softmax", "x"))


def test_zoom_and_fit(win, CNN):
    win.open_path(CNN, ask=False)
    win.view.fit_to_view()
    z = win.view.zoom
    rect = win.scene.itemsBoundingRect()
    visible = win.view.mapToScene(win.view.viewport().rect()).boundingRect()
    assert visible.contains(rect)
    vp = win.view.viewport()
    from PySide6.QtGui import QWheelEvent
    pos = QPointF(200, 200)
    before = win.view.mapToScene(pos.toPoint())
    ev = QWheelEvent(pos, vp.mapToGlobal(pos), QPoint(), QPoint(0, 120), Qt.NoButton,
                     Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)
    assert abs(win.view.zoom - z * 1.15) < 1e-6
    after = win.view.mapToScene(pos.toPoint())
    assert abs(after.x() - before.x()) < 2 and abs(after.y() - before.y()) < 2  # around the cursor


def test_middle_button_pans(win, CNN):
    win.open_path(CNN, ask=False)
    vp = win.view.viewport()
    c = win.view.mapToScene(vp.rect().center())
    QTest.mousePress(vp, Qt.MiddleButton, Qt.NoModifier, QPoint(300, 300))
    QTest.mouseMove(vp, QPoint(200, 250))
    QTest.mouseRelease(vp, Qt.MiddleButton, Qt.NoModifier, QPoint(200, 250))
    c2 = win.view.mapToScene(vp.rect().center())
    assert abs((c2.x() - c.x()) * win.view.zoom - 100) < 3


def test_arrange_is_one_undoable_step(win, CNN):
    win.open_path(CNN, ask=False)
    g = win.doc.graph
    before = win.doc.project.to_json()
    for n in g.nodes():
        win.editor.move({n: (g.pos(n), (0.0, 0.0))})
    win.a_arrange.trigger()
    positions = {g.pos(n) for n in g.nodes()}
    assert len(positions) == len(g)
    for e in g.edges():  # left to right within each row
        if g.pos(e.src)[1] == g.pos(e.dst)[1]:
            assert g.pos(e.src)[0] < g.pos(e.dst)[0]
    win.a_undo.trigger()
    assert all(g.pos(n) == (0.0, 0.0) for n in g.nodes())
    while win.doc.undo.canUndo():
        win.a_undo.trigger()
    assert win.doc.project.to_json() == before


def test_rename_keeps_a_valid_identifier(win, qtbot, CNN):
    from PySide6.QtWidgets import QLineEdit
    win.open_path(CNN, ask=False)
    win.scene.nodes["conv1"].setSelected(True)
    name = win.inspector.findChild(QLineEdit, "name")
    name.setText("first conv")
    name.editingFinished.emit()
    assert "conv1" in win.doc.graph and "not a valid name" in win.inspector.error.text()
    assert name.text() == "conv1"
    name.setText("features")
    name.editingFinished.emit()
    assert "features" in win.doc.graph and win.scene.nodes["features"].node_id == "features"
    assert win.doc.graph.has_edge(Edge("image", "out", "features", "x"))
    assert "features = self.features(image)" in __import__("runtime.compile", fromlist=["x"]) \
        .compile_graph(win.doc.graph).model.code


def test_invalid_param_value_is_refused_with_reason(win):
    from PySide6.QtWidgets import QLineEdit
    win.open_path(ROOT / "templates" / "perceptron.json", ask=False)
    win.scene.nodes["x"].setSelected(True)
    shape = win.inspector.findChild(QLineEdit, "shape")
    shape.setText("2, zero")
    shape.editingFinished.emit()
    assert "Refused" in win.inspector.error.text() and "whole numbers" in win.inspector.error.text()
    assert shape.text() == "2" and win.doc.graph.params("x")["shape"] == [2]
    win.scene.clearSelection()
    win.scene.nodes["error"].setSelected(True)
    weight = win.inspector.findChild(QLineEdit, "weight")
    weight.setText("-1")
    weight.editingFinished.emit()
    assert "weight must be >= 0" in win.inspector.error.text()
    assert win.doc.graph.params("error")["weight"] == 1.0


def test_help_shows_the_seed_formula(win, CNN):
    win.open_path(CNN, ask=False)
    win.scene.nodes["relu1"].setSelected(True)
    text = win.help.toPlainText()
    assert "ReLU(x) = max(0, x)" in text and "vanishing gradients" in text
    assert "\\frac" not in text and "$" not in text  # not raw LaTeX


def test_summary_and_code_panels(win, qtbot, CNN):
    win.open_path(CNN, ask=False)
    win.docks["summary"].raise_()
    qtbot.waitUntil(lambda: "6,090 parameters" in win.summary.totals.text(), timeout=3000)
    assert "23.8 KiB" in win.summary.totals.text()
    win.docks["code"].raise_()
    qtbot.waitUntil(lambda: "conv1 = self.conv1(image)" in win.code.toPlainText(), timeout=3000)
    assert "= None" not in win.code.toPlainText()


def test_space_drag_pans_and_tab_opens_quick_add(win, CNN):
    win.open_path(CNN, ask=False)
    vp = win.view.viewport()
    win.view.setFocus()
    c = win.view.mapToScene(vp.rect().center())
    QTest.keyPress(win.view, Qt.Key_Space)
    QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, QPoint(400, 300))
    QTest.mouseMove(vp, QPoint(340, 300))
    QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, QPoint(340, 300))
    QTest.keyRelease(win.view, Qt.Key_Space)
    c2 = win.view.mapToScene(vp.rect().center())
    assert abs((c2.x() - c.x()) * win.view.zoom - 60) < 3
    assert win.scene.selected_nodes() == []  # panning did not select
    QTest.keyClick(win.view, Qt.Key_Tab)
    assert win.quick.isVisible() and win.quick.list.count() == len(__import__("graph.catalogue", fromlist=["x"]).SPECS)
    win.quick.edit.setText("relu")
    win.quick.accept_current()
    assert "relu3" in win.doc.graph


def test_history_lists_every_edit(win, CNN):
    win.open_path(CNN, ask=False)
    win.editor.set_param("conv1", "out_channels", 8)
    win.editor.rename("relu1", "act1")
    model = win.history.model()
    texts = [model.index(r, 0).data() for r in range(model.rowCount())]
    assert texts == ["<opened>", "Set conv1's out channels to 8", "Rename relu1 to act1"]
    win.history.setCurrentIndex(model.index(0, 0))  # clicking a row jumps there
    assert win.doc.graph.params("conv1")["out_channels"] == 16 and "relu1" in win.doc.graph


def test_gradient_colour_scale():
    from app.canvas.scene import heat_color
    blue, grey, red = heat_color(1e-6), heat_color(1.0), heat_color(1e4)
    assert blue.blue() > blue.red() + 40  # vanishing: blue
    assert abs(grey.red() - grey.blue()) < 5  # healthy: neutral
    assert red.red() > red.blue() + 40  # exploding: red
    assert heat_color(0.1) == heat_color(5.0)  # the healthy band is one colour
    assert heat_color(float("nan")) == heat_color(1e9)  # non-finite: as exploding


def test_a_wire_passing_under_a_node_is_drawn_above_it(win, qtbot):
    """x -> out runs straight through `fc` (not one of its ends): it is drawn over the nodes;
    drag fc out of the way with the mouse and the wire goes back under."""
    ed = win.editor
    x = ed.add_node("Input", (0, 0))
    fc = ed.add_node("Linear", (300, -10))
    out = ed.add_node("Output", (600, 0))
    win.editor.connect(Edge(x, "out", out, "x"))
    qtbot.waitUntil(lambda: not win.scene._restack_due)
    wire = win.scene.edges[Edge(x, "out", out, "x")]
    node = win.scene.nodes[fc]
    assert wire.over and wire.zValue() > node.zValue()
    win.view.fit_to_view()
    QApplication.processEvents()
    head = node.mapToScene(QPointF(40, 8))  # the node's header: grab it there
    drag(win, view_pos(win, head), view_pos(win, head + QPointF(0, 400)))
    assert win.doc.graph.pos(fc)[1] > 200
    qtbot.waitUntil(lambda: not win.scene._restack_due)
    assert not wire.over and wire.zValue() < node.zValue()


def test_the_inspector_reads_a_size_name():
    from app.inspector import parse_value
    from graph.catalogue import get
    assert parse_value(get("Input").param("shape"), "T, 2") == ["T", 2]
    assert parse_value(get("Input").param("shape"), "28x28") == [28, 28]
    assert parse_value(get("Permute").param("dims"), "0, 2, 1") == [0, 2, 1]


def test_a_training_only_wire_is_dashed(win):
    """The Teacher forcing node's target wire exists in training only: drawn dashed, and its
    tooltip says so; the other wires are solid."""
    win.open_path(Path(__file__).resolve().parents[2] / "templates" / "encoder_decoder.json",
                  ask=False)
    teacher = win.scene.edges[Edge("iso", "out", "prev", "target")]
    plain = win.scene.edges[Edge("prev", "tokens", "tgt_embed", "x")]
    assert teacher._pen.style() == Qt.DashLine and "Training only" in teacher.toolTip()
    assert plain._pen.style() == Qt.SolidLine and not plain.toolTip()


def test_new_after_a_zoomed_out_template_is_at_full_size_with_its_ports(win, qtbot):
    """Issue 23, item 14: File > New kept the template's 21 % in the label and the ports
    hidden although the empty canvas draws at 100 %."""
    win.open_template(ROOT / "templates" / "mask_rcnn.json")
    qtbot.waitUntil(lambda: win.view.zoom < 0.5)
    win.a_new.trigger()
    qtbot.waitUntil(lambda: win.zoom_label.text() == "100%")
    assert win.view.zoom == 1.0
    win.doc.graph.add_node("Linear", pos=(0, 0))
    QApplication.processEvents()
    item = next(iter(win.scene.nodes.values()))
    assert all(p.isVisible() for p in item.outputs.values())  # a wire can be dragged


def test_a_plain_click_on_an_off_grid_node_records_no_move(win, qtbot):
    """Issue 23, item 14: one click on a mask_rcnn node recorded "Move 'sample'"."""
    win.open_template(ROOT / "templates" / "mask_rcnn.json")
    node = "anchor_match"  # ('sample' was; the template's blocks put it on the grid now)
    x, y = win.doc.graph.pos(node)
    assert (x % 10, y % 10) != (0, 0)  # off the grid, as the template has it
    win.view.set_zoom(1.0)
    item = win.scene.nodes[node]
    win.view.centerOn(item)
    QApplication.processEvents()
    at = view_pos(win, item.scenePos() + QPointF(60, 10))  # on its header
    before = win.doc.undo.count()
    QTest.mouseClick(win.view.viewport(), Qt.LeftButton, Qt.NoModifier, at)
    QApplication.processEvents()
    assert item.isSelected()
    assert win.doc.undo.count() == before and win.doc.graph.pos(node) == (x, y)


def test_a_large_template_opens_readable(win, qtbot):
    """Issue 23, item 15: mask_rcnn opened at 21 % with no titles or ports in a canvas half
    the window's height. Now the canvas takes most of the window, the first view is at a
    zoom where ports are there to drag and each node's id is drawn 11 px tall (level of
    detail), starting at the inputs, and the status bar says Ctrl+0 shows everything."""
    win.resize(1500, 920)
    win.open_template(ROOT / "templates" / "mask_rcnn.json")
    qtbot.waitUntil(lambda: "%" in win.zoom_label.text())
    QApplication.processEvents()
    assert win.view.height() > 0.6 * win.height()
    z = win.view.zoom
    assert z >= win.view.FIRST_VIEW
    image = win.scene.nodes["image"]
    seen = win.view.mapToScene(win.view.viewport().rect()).boundingRect()
    assert seen.contains(image.sceneBoundingRect())  # the start of the graph is in view
    assert all(p.isVisible() for p in image.outputs.values())
    from PySide6.QtGui import QFontMetricsF

    from app.canvas.items import TITLE_ROOM
    for node in ("backbone", "anchor_match", "mask_head"):  # the top level: blocks
        item = win.scene.nodes[node]
        rect, text = item.far_title_rect(z)
        fm = QFontMetricsF(item.far_title_font(z))
        room = TITLE_ROOM - 0.5 * fm.height()
        # whole, unless this machine's font makes the id wider than the tab's room (then cut
        # with an ellipsis, its start kept)
        assert text == node or (fm.horizontalAdvance(node) > room and text.endswith("…")
                                and node.startswith(text[:-1]) and len(text) >= 8), text
        assert rect.height() * z >= 11  # pixels on the screen
    assert "Ctrl+0 shows the whole graph" in win.zoom_label.text()
    win.a_fit.trigger()
    assert win.view.shows_everything() and win.zoom_label.text().endswith("%")


def test_a_wire_dropped_from_a_conv_offers_what_follows_a_conv_first(win, CNN):
    """Issue 23, item 19: a Conv2d's wire dropped on empty canvas offered Anchor generator
    and Box decoder first (alphabetical). Now: what follows a Conv2d in the templates first,
    nothing whose shape rule refuses its feature map."""
    win.open_path(CNN, ask=False)
    a = port_pos(win, "conv1", "y", False)
    drag(win, a, a + QPoint(40, 160))
    assert win.quick.isVisible()
    listed = [win.quick.list.item(i).data(Qt.UserRole + 1) for i in range(win.quick.list.count())]
    # what follows a Conv2d in the templates (block definitions included: the resnet's
    # conv → batch norm) first, by how often; the rest by title (the catalogue grows, so
    # MaxPool2d's place among them is not pinned), all fitting the map
    assert listed[:2] == ["ReLU", "BatchNorm2d"] and "MaxPool2d" in listed
    assert "Linear" not in listed and "BatchNorm1d" not in listed  # 4-d maps: refused
    # types that need other inputs too come after every one that takes the map alone
    assert listed.index("AnchorGenerator") > listed.index("MaxPool2d")
    assert listed.index("BoxDecode") > listed.index("MaxPool2d")
    win.quick.hide()


def test_suggestions_come_from_the_templates_and_the_shape_rules():
    from graph.model import Graph
    from graph.analysis import analyse
    from graph.suggest import follow_ups, pair_counts, takes
    from graph.spec import TensorType
    assert takes("Linear", "x", TensorType(("N", 16, 8, 8), "float32")) is False
    assert takes("ReLU", "x", TensorType(("N", 16, 8, 8), "float32")) is True
    assert takes("BoxDecode", "deltas", TensorType(("N", 16, 8, 8), "float32")) is None
    g = Graph()
    g.add_node("Input", "x", {"shape": [3, 8, 8]})
    g.add_node("Conv2d", "c", {"out_channels": 4})
    g.connect("x", "out", "c", "x")
    types = analyse(g).types
    counts = pair_counts([g]) + pair_counts([g])  # Input → Conv2d twice: often
    offered = follow_ups(g, types, "x", "out", False, counts)
    assert offered[0] == "Conv2d"  # what often followed an Input, first


def test_node_subtitles_are_whole(qapp):
    """Issue 23, item 19: "Categorical cross-e…" under a loss node's name."""
    from PySide6.QtGui import QFontMetricsF
    from app.canvas.items import _TINIEST_FONT, SUB_W, fitted_subtitle
    from graph import catalogue
    # Which titles are cut depends on the fonts a machine has (CI's fallback font is
    # narrower than this machine's): a title is cut only when even its short form in the
    # tiniest font is too wide, and otherwise shown whole or without its parenthesis.
    for s in catalogue.SPECS.values():
        font, text = fitted_subtitle(s.title, SUB_W)
        short = s.title.split(" (")[0]
        if text.endswith("…"):
            assert QFontMetricsF(_TINIEST_FONT).horizontalAdvance(short) > SUB_W * 0.94, s.title
            assert short.startswith(text[:-1])
        else:
            assert text in (s.title, short), (s.title, text)
    assert fitted_subtitle("Categorical cross-entropy", SUB_W)[1] == \
        "Categorical cross-entropy"
    assert fitted_subtitle("ConvTranspose2d (up-convolution)", SUB_W)[1] == \
        "ConvTranspose2d"


@pytest.mark.parametrize("name", ["cnn", "mlp", "gan", "transformer"])
def test_wire_labels_cover_neither_node_they_join(win, name):
    """Issue 23, item 19: the 'N (int64)' label covered the loss node's title."""
    from app.canvas.items import NODE_W
    win.open_template(ROOT / "templates" / f"{name}.json")
    QApplication.processEvents()
    for e in win.scene.edges.values():
        if not e.label:
            continue
        for n in (e.src.node_item, e.dst.node_item):
            body = n.mapRectToScene(QRectF(0, 0, NODE_W, n.body_height))
            assert not e._label_rect.intersects(body), (e.label, n.node_id)
