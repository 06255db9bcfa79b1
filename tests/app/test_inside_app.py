"""Inside the network in the Try panel (app/try_inside.py), through the real window: the
Saliency and Grad-CAM overlays change the sample's picture, the filters and the statistics
table are shown, and hovering a wire on the canvas shows its tensor for the tried sample."""
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip
from PySide6.QtTest import QTest

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
    from app.try_inside import _preview
    assert "a histogram of its values" in _preview(dense)
    QToolTip.hideText()
