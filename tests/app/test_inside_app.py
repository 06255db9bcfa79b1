"""Inside the network in the Try panel (app/try_inside.py), through the real window: the
Saliency and Grad-CAM overlays change the sample's picture, the filters and the statistics
table are shown, and hovering a wire on the canvas shows its tensor for the tried sample,
asked through the hook of that window's own scene (GraphScene.preview_hook): no other
window's box, open or closed, is ever asked."""
import gc

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import (QApplication, QGraphicsScene, QGraphicsSceneHoverEvent,
                               QToolTip)
from PySide6.QtTest import QTest
import shiboken6

from app.canvas.items import EdgeItem
from app.mainwindow import MainWindow
from app.try_inside import InsideBox

from graph.project import load
from runtime.train import Trainer
from templates import FOLDER


@pytest.fixture(scope="module")
def cnn_weights(tmp_path_factory):
    p = load(FOLDER / "cnn.json")
    t = Trainer(p, device="cpu", max_steps=2)
    assert list(t.run())[-1].kind == "finished"
    ck = tmp_path_factory.mktemp("inside") / "ck"
    t.save_checkpoint(ck)
    return ck


def _pixels(pm) -> np.ndarray:
    img = pm.toImage().convertToFormat(pm.toImage().Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return a[:, :3 * img.width()].astype(int)


def _loaded(win, qtbot, ck):
    win.open_template(FOLDER / "cnn.json")
    panel = win.trypanel
    panel._project = win.doc.project
    panel.weights.clear()
    panel.weights.addItem("cnn", str(ck))
    panel.weights.setCurrentIndex(0)
    panel.load()
    panel.wait()
    QApplication.processEvents()
    assert panel.tryout is not None, panel.status.text()
    return panel


def test_overlays_filters_and_statistics_in_the_panel(win, qtbot, cnn_weights):
    panel = _loaded(win, qtbot, cnn_weights)
    box = panel.inside
    assert not box.isHidden()
    plain = _pixels(panel.image.pixmap())
    assert box.overlay.isEnabled()
    box.overlay.setCurrentText("Saliency")
    sal = _pixels(panel.image.pixmap())
    assert sal.shape == plain.shape and np.abs(sal - plain).sum() > 0
    assert box.found is not None and "Saliency of the predicted class" in box.info.text()
    box.overlay.setCurrentText("Grad-CAM")
    cam = _pixels(panel.image.pixmap())
    assert np.abs(cam - plain).sum() > 0 and np.abs(cam - sal).sum() > 0
    assert box.found.layer == "conv2" and "Grad-CAM" in box.info.text()
    panel.index.setValue(3)  # another sample keeps the overlay
    assert box.index == 3 and box.shown is not None
    box.overlay.setCurrentText("none")
    assert box.shown is None
    # the first convolution's 16 filters, and one row per wire of the model
    assert box.filters.pixmap() is not None and not box.filters.pixmap().isNull()
    rows = [box.stats.item(r, 0).text() for r in range(box.stats.rowCount())]
    assert rows[:3] == ["image.out", "conv1.y", "relu1.y"] and "softmax.y" in rows
    relu = rows.index("relu1.y")
    assert box.stats.item(relu, 4).text().endswith("%)")  # 'k/16 (p%)': never fire
    assert box.stats.item(rows.index("conv1.y"), 4).text() == ""  # not a ReLU


def test_hovering_a_wire_shows_its_tensor(win, qtbot, cnn_weights):
    panel = _loaded(win, qtbot, cnn_weights)
    assert panel.inside.outputs  # the sample's wires, kept for the canvas
    edge = next(i for e, i in win.scene.edges.items() if (e.src, e.dst) == ("conv1", "relu1"))
    view = win.view
    view.centerOn(edge)
    QApplication.processEvents()
    pos = view.mapFromScene(edge.path().pointAtPercent(0.5))
    QTest.mouseMove(view.viewport(), pos + QPoint(1, 0))
    QTest.mouseMove(view.viewport(), pos)
    QApplication.processEvents()
    tip = edge.toolTip()
    assert "<b>conv1.y</b>: 16 × 8 × 8, validation sample 0" in tip
    assert '<img src="data:image/png;base64,' in tip
    ev = QHelpEvent(QEvent.ToolTip, pos, view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.viewport(), ev)
    QApplication.processEvents()
    assert QToolTip.isVisible() and "conv1.y" in QToolTip.text()
    # a vector's wire: a histogram
    dense = next(i for e, i in win.scene.edges.items() if (e.src, e.dst) == ("dense", "softmax"))
    assert "a histogram of its values" in win.scene.wire_preview(dense)
    QToolTip.hideText()


def _hover(win, pair) -> EdgeItem:
    """Move the mouse onto the wire `pair` (source, destination) of the window's canvas."""
    edge = next(i for e, i in win.scene.edges.items() if (e.src, e.dst) == pair)
    view = win.view
    view.centerOn(edge)
    QApplication.processEvents()
    pos = view.mapFromScene(edge.path().pointAtPercent(0.5))
    QTest.mouseMove(view.viewport(), pos + QPoint(1, 0))
    QTest.mouseMove(view.viewport(), pos)
    QApplication.processEvents()
    return edge


@pytest.fixture
def asked(monkeypatch):
    """Which boxes were asked for a wire's preview, by the tag set on each (a box asked
    after its widget was deleted is recorded as such before anything touches it)."""
    calls = []
    original = InsideBox.wire_preview

    def wire_preview(self, item):
        calls.append(getattr(self, "tag", "?") if shiboken6.isValid(self) else "deleted")
        return original(self, item)
    monkeypatch.setattr(InsideBox, "wire_preview", wire_preview)
    return calls


def _window(qtbot, tag, x=0):
    """A window at `x`: side by side, not on top of each other (offscreen, a mouse move
    goes to the first window found under the cursor)."""
    w = MainWindow()
    w.resize(1400, 900)
    w.move(x, 0)
    w.show()
    qtbot.waitExposed(w)
    w.trypanel.inside.tag = tag
    return w


@pytest.mark.slow  # two windows, each loading a model: ~5 s
def test_a_closed_and_deleted_window_s_box_is_never_asked(qtbot, cnn_weights, asked):
    first = _window(qtbot, "first")
    _loaded(first, qtbot, cnn_weights)
    assert "conv1.y" in _hover(first, ("conv1", "relu1")).toolTip()
    assert asked == ["first"]
    first.close()
    first.deleteLater()
    del first
    for _ in range(3):
        QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
        QApplication.processEvents()
        gc.collect()
    asked.clear()
    second = _window(qtbot, "second")
    try:
        _loaded(second, qtbot, cnn_weights)
        tip = _hover(second, ("conv1", "relu1")).toolTip()
        assert "<b>conv1.y</b>: 16 × 8 × 8, validation sample 0" in tip
        assert asked == ["second"]
    finally:
        second.close()


@pytest.mark.slow  # two windows, each loading a model: ~5 s
def test_two_open_windows_each_ask_only_their_own_box(qtbot, cnn_weights, asked):
    first, second = _window(qtbot, "first"), _window(qtbot, "second", 1500)
    qtbot.addWidget(first)
    qtbot.addWidget(second)
    _loaded(first, qtbot, cnn_weights)  # only the first has tried a sample
    second.open_template(FOLDER / "cnn.json")
    QApplication.processEvents()
    edge = _hover(second, ("conv1", "relu1"))
    assert asked == ["second"] and "conv1.y" not in edge.toolTip()
    asked.clear()
    assert "conv1.y" in _hover(first, ("conv1", "relu1")).toolTip()
    assert asked == ["first"]


def test_a_window_s_new_scene_and_a_closed_window_keep_the_hook_right(win, qtbot,
                                                                      cnn_weights):
    old = win.scene
    panel = _loaded(win, qtbot, cnn_weights)  # opening the template gave a new scene
    assert old is not win.scene
    assert win.scene.preview_hook == panel.inside.wire_preview
    win.close()
    assert win.scene.preview_hook is None
    dense = next(i for e, i in win.scene.edges.items() if (e.src, e.dst) == ("dense", "softmax"))
    assert win.scene.wire_preview(dense) is None


def test_a_scene_without_a_try_panel_shows_no_preview(qtbot, win):
    """The gallery's scenes and plain scenes have no hook: a hovered wire keeps its own
    tooltip (or none) and nothing fails."""
    from app.canvas.scene import GraphScene
    from app.document import Document
    doc = Document(load(FOLDER / "cnn.json"))
    scene = GraphScene(doc)
    assert scene.preview_hook is None
    edge = next(iter(scene.edges.values()))
    assert scene.wire_preview(edge) is None
    win.view.setScene(scene)  # shown in a view: a real hover asks the hookless scene
    win.view.centerOn(edge)
    QApplication.processEvents()
    pos = win.view.mapFromScene(edge.path().pointAtPercent(0.5))
    QTest.mouseMove(win.view.viewport(), pos + QPoint(1, 0))
    QTest.mouseMove(win.view.viewport(), pos)
    QApplication.processEvents()
    assert edge.toolTip() == edge._own_tip
    win.view.setScene(win.scene)
    scene.close()
    plain = QGraphicsScene()  # a wire in a scene that is not a GraphScene: no hook either
    scene.removeItem(edge)
    plain.addItem(edge)
    edge.setToolTip("stale")
    edge.hoverEnterEvent(QGraphicsSceneHoverEvent(QEvent.GraphicsSceneHoverEnter))
    assert edge.toolTip() == edge._own_tip
    plain.removeItem(edge)
