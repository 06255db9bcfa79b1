"""Blocks in the window (issue 25, item 3), through the real actions and mouse: Ctrl+G and
its undo, double-click to open, an edit inside that every instance sees, Esc and the
breadcrumb, "× 4" drawn, refusals said in the breadcrumb bar."""
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def CNN(tmp_path):
    import shutil
    return Path(shutil.copy(ROOT / "templates" / "cnn.json", tmp_path / "cnn.json"))


def select(win, nodes):
    win.scene.clearSelection()
    for n in nodes:
        win.scene.nodes[n].setSelected(True)


def double_click(win, node):
    item = win.scene.nodes[node]
    p = win.view.mapFromScene(item.scenePos() + QPointF(60, 30))
    vp = win.view.viewport()
    QTest.mouseDClick(vp, Qt.LeftButton, Qt.NoModifier, p)
    QApplication.processEvents()


def grouped(win, CNN):
    win.open_path(CNN, ask=False)
    select(win, ["conv2", "relu2"])
    win.a_group.trigger()
    QApplication.processEvents()
    [inst] = win.scene.selected_nodes()
    return inst


def test_ctrl_g_groups_the_selection_and_ctrl_z_gives_the_same_file(win, CNN):
    win.open_path(CNN, ask=False)
    before = win.doc.project.to_json()
    select(win, ["conv2", "relu2"])
    QTest.keyClick(win.view.viewport(), Qt.Key_G, Qt.ControlModifier)
    QApplication.processEvents()
    after = win.doc.project.to_json()
    assert '"blocks": [' in after and "block1" in win.scene.nodes
    assert "conv2" not in win.scene.nodes
    win.doc.reanalyse()
    assert win.doc.analysis.ok, win.doc.analysis.issues
    win.a_undo.trigger()
    assert win.doc.project.to_json() == before
    win.a_redo.trigger()
    assert win.doc.project.to_json() == after
    select(win, ["block1"])
    win.a_ungroup.trigger()
    assert "conv2" in win.scene.nodes and "block1" not in win.scene.nodes


def test_double_click_opens_an_edit_inside_reaches_every_instance_and_esc_goes_back(win, CNN):
    inst = grouped(win, CNN)
    g = win.doc.graph
    # a second instance of the same block, elsewhere
    win.editor.add_node("block:block1", (0, 600))
    win.doc.reanalyse()
    want = str(win.doc.analysis.out_type(inst, "y"))
    double_click(win, inst)
    assert win.doc.frames == [("block1", inst)]
    assert win.crumbs.isVisible() and win.crumbs.text() == f"Project > {inst} (block1)"
    assert f"{inst} (block1)" in win.windowTitle()
    assert set(win.scene.nodes) == {"x", "conv2", "relu2", "y"}
    win.doc.reanalyse()
    labels = {str(e): item.label for e, item in win.scene.edges.items()}
    assert labels["relu2.y → y.x"] == want  # the types the instance gives it
    win.inspector.show_node("conv2")
    win.editor.set_param("conv2", "out_channels", 48)
    win.doc.reanalyse()
    for n in [inst, "block2"]:
        assert g.spec(n).title == "block1"
    assert win.doc.analysis.out_type(inst, "y").shape[1] == 48
    # an Input cannot go into a block: refused in words, no traceback
    win._add_node("Input", QPointF(0, 0))
    assert win.crumbs.error.isVisible() and "a block holds layers" in win.crumbs.error.text()
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key_Escape)
    QApplication.processEvents()
    assert win.doc.frames == [] and inst in win.scene.nodes
    # undo of the inside edit, from the top
    win.a_undo.trigger()
    win.doc.reanalyse()
    assert str(win.doc.analysis.out_type(inst, "y")) == want
    # the breadcrumb: open, then click "Project"
    double_click(win, inst)
    win.crumbs.buttons[0].click()
    assert win.doc.frames == []


def test_a_repeated_instance_shows_times_n(win, CNN):
    inst = grouped(win, CNN)
    item = win.scene.nodes[inst]
    assert item.badge_text == ""
    win.editor.set_param(inst, "repeat", 4)
    assert item.badge_text == "× 4"
    img = QImage(400, 200, QImage.Format_ARGB32)
    img.fill(0xFFFFFFFF)
    p = QPainter(img)
    win.scene.render(p, source=item.sceneBoundingRect())
    p.end()
    assert "applied 4 times" in item.toolTip()
    win.a_undo.trigger()
    assert item.badge_text == ""


def test_the_gate_built_lstm_opens_and_each_gate_says_what_it_does(qapp, win, tmp_path):
    """Issue 25, item 8: the learner opens the LSTM cell and reads each gate's help."""
    import shutil
    path = Path(shutil.copy(ROOT / "templates" / "lstm_from_gates.json", tmp_path / "l.json"))
    win.open_path(path, ask=False)
    select(win, ["lstm"])
    assert "LSTM cell (from its gates)" in win.help.toPlainText()
    double_click(win, "lstm")
    assert {"f", "i", "C_tilde", "o", "keep", "write", "C_t", "h_t"} <= set(win.scene.nodes)
    select(win, ["f"])
    text = win.help.toPlainText()
    assert text.startswith("Sigmoid")
    assert "f: Forget gate f_t = σ(W_f·[h_{t−1}, x_t] + b_f): determines what portion of " \
           "the previous cell state C_{t−1} should be forgotten" in text


def test_the_summary_counts_a_blocks_layers_and_follows_an_edit_inside(qapp, win, qtbot,
                                                                      tmp_path):
    """The Xvfb session showed '1,130 parameters' for a CNN whose conv2 was in a block."""
    import shutil
    path = Path(shutil.copy(ROOT / "templates" / "resnet.json", tmp_path / "r.json"))
    win.open_path(path, ask=False)
    win.docks["summary"].show()
    win.docks["summary"].raise_()
    qtbot.waitUntil(lambda: "170,131 parameters" in win.summary.totals.text(), timeout=10000)
    d = win.doc.graph.blocks["basic"]
    win.doc.graph.blocks["basic"].graph.set_param("conv1", "bias", True)  # an edit inside
    assert d.graph.params("conv1")["bias"] is True
    qtbot.waitUntil(lambda: "170,131 parameters" not in win.summary.totals.text(),
                    timeout=10000)
