"""The Try panel's pictures, checked as drawn: what is where on the screen."""
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QPoint

from app.try_panel import TryPanel
from runtime.tryout import Translation


def _bright(img) -> list[tuple[int, int]]:
    """The pixels of viridis' top colour (yellow) in a QImage."""
    a = np.frombuffer(img.convertToFormat(img.Format.Format_RGB888).constBits(),
                      np.uint8)
    w, h, bpl = img.width(), img.height(), img.convertToFormat(img.Format.Format_RGB888).bytesPerLine()
    a = a.reshape(h, bpl)[:, :3 * w].reshape(h, w, 3).astype(int)
    ys, xs = np.nonzero((a[..., 0] > 200) & (a[..., 1] > 190) & (a[..., 2] < 90))
    return list(zip(xs.tolist(), ys.tolist()))


def _settled_grab(qapp, qtbot, plot):
    """The plot's picture once the layout has settled: the new title resizes the view box,
    which frames the image again, over several turns of the event loop on a busy machine
    (CI once mapped a cell two rows off after one wait of 50 ms). Grabs until two in a row
    are the same picture with the same view box, so that the picture and the mapping agree."""
    prev = None
    for _ in range(80):
        qapp.processEvents()
        img = plot.grab().toImage()
        vb = plot.getViewBox()
        key = (vb.viewRect().getRect(), vb.sceneBoundingRect().getRect())
        if prev is not None and key == prev[1] and img == prev[0]:
            return img
        prev = (img, key)
        qtbot.wait(25)
    raise AssertionError("the heatmap's layout did not settle in 2 s")


@pytest.mark.parametrize("t, j", [(3, 6), (0, 8), (4, 0)])
def test_attention_heatmap_draws_output_positions_as_rows_one_square_cell_per_label(qapp, qtbot,
                                                                                     t, j):
    src, out = list("Aug 29 58"), ["1", "9", "5", "8", "</s>"]  # 9 inputs, 5 outputs
    alpha = np.full((1, len(out), len(src)), 0.02, np.float32)
    alpha[0, t, j] = 1.0
    panel = TryPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.tryout = SimpleNamespace(attention_nodes=lambda: ["attn"])
    panel.trans_box.show()
    panel.show()
    qtbot.waitExposed(panel)
    panel._translated(Translation("Aug 29 58", "1958", src, out, {"attn": alpha}))
    qapp.processEvents()
    assert panel.trans_box.heat.image.shape == (len(out), len(src))  # rows t, columns j
    img = _settled_grab(qapp, qtbot, panel.heatmap)
    # the bright cell among the heatmap image's own pixels (where the image item is drawn on
    # the widget), not any other yellow the widget may show
    heat = panel.trans_box.heat
    r = panel.heatmap.mapFromScene(heat.sceneBoundingRect()).boundingRect()
    bright = [(x, y) for x, y in _bright(img) if r.contains(x, y)]
    assert bright, "the brightest cell is not drawn"
    xs, ys = [p[0] for p in bright], [p[1] for p in bright]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    vb = panel.heatmap.getViewBox()
    at = vb.mapSceneToView(panel.heatmap.mapToScene(QPoint(round(cx), round(cy))))
    assert (int(at.y()), int(at.x())) == (t, j)  # row t (output), column j (input)
    w, h = max(xs) - min(xs) + 1, max(ys) - min(ys) + 1
    assert w > 8 and abs(w - h) <= 2  # one square cell
    # one tick per label, at the middle of its cell
    bottom = panel.heatmap.getAxis("bottom")._tickLevels[0]
    left = panel.heatmap.getAxis("left")._tickLevels[0]
    assert [(x, s) for x, s in bottom] == [(i + 0.5, c.replace(" ", "␣"))
                                           for i, c in enumerate(src)]
    assert [(y, s) for y, s in left] == [(i + 0.5, c) for i, c in enumerate(out)]
    # the whole image is in view: its corners map inside the plot's view box
    r = vb.viewRect()
    assert r.left() <= 0 and r.right() >= len(src) and r.top() <= 0 and r.bottom() >= len(out)


# The decision boundary (app/try_boundary.py) ---------------------------------------------------
def _shown(qapp, qtbot, panel):
    """The boundary's plot as drawn, once the layout has settled."""
    panel.boundary.grab()
    qtbot.wait(50)
    qapp.processEvents()
    return panel.boundary.grab().toImage()


def _at(panel, img, x1: float, x2: float):
    """The colour drawn at the point (x1, x2) of the plane, and that pixel."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor
    vb = panel.boundary.getViewBox()
    p = panel.boundary.mapFromScene(vb.mapViewToScene(QPointF(x1, x2)))
    px, py = int(p.x()), int(p.y())
    assert 0 <= px < img.width() and 0 <= py < img.height(), "outside the plot"
    return QColor(img.pixel(px, py)), (px, py)


def _same(a, b, tol=3) -> bool:
    return all(abs(u - v) <= tol for u, v in zip(a.getRgb()[:3], b.getRgb()[:3]))


def _panel(qtbot):
    panel = TryPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    return panel


def test_the_boundary_is_drawn_with_the_second_feature_up(qapp, qtbot):
    """A plane whose classes differ in each part: each drawn where it lies, x₂ up, and each
    point at its coordinates in its true class's colour, the chosen one ringed."""
    import torch

    from app.try_boundary import class_colour, region_colour
    from runtime.tryout import Boundary
    size, (x0, x1, y0, y1) = 40, (-2.0, 2.0, -1.0, 3.0)
    c1 = x0 + (torch.arange(size) + 0.5) * (x1 - x0) / size
    c2 = y0 + (torch.arange(size) + 0.5) * (y1 - y0) / size
    a, b = c1.expand(size, size), c2[:, None].expand(size, size)
    classes = torch.zeros(size, size, dtype=torch.long)
    classes[a > 0.5] = 1
    classes[(a < 0) & (b > 2)] = 2  # the top left corner only
    points = torch.tensor([[1.5, 2.5], [-1.0, -0.5], [-1.5, 2.6]])
    labels = torch.tensor([0, 2, 1])
    bd = Boundary(c1, c2, classes, (x0, x1, y0, y1), points, labels,
                  torch.tensor([1, 0, 2]), 3, ("length", "width"), ["a", "b", "c"])
    panel = _panel(qtbot)
    panel.bound_box.show()
    panel.show()
    qtbot.waitExposed(panel)
    panel.bound_box.show_boundary(bd, index=2)
    img = _shown(qapp, qtbot, panel)
    for (x, y), k in [((-1.5, 2.5 - 0.3), 2), ((-0.5, 1.5), 0), ((-1.0, 0.3), 0),
                      ((1.0, -0.7), 1), ((1.2, 1.2), 1), ((0.2, 2.7), 0), ((-0.2, 2.7), 2)]:
        got, _ = _at(panel, img, x, y)
        assert _same(got, region_colour(k)), ((x, y), k, got.getRgb())
    # x₂ up, x₁ right: the top left corner's class is drawn in the picture's top left
    _, (lx, ty) = _at(panel, img, -1.0, 2.5)
    _, (rx, by) = _at(panel, img, 1.0, -0.5)
    assert lx < rx and ty < by
    assert ty < img.height() / 2 and lx < img.width() / 2
    for (x, y), k in zip(points.tolist(), labels.tolist()):  # on top, in the true colour
        got, _ = _at(panel, img, x, y)
        assert _same(got, class_colour(k)), ((x, y), k, got.getRgb())
    _, (px, py) = _at(panel, img, -1.5, 2.6)  # the chosen sample: a dark ring around it
    ring = [_dark(img.pixel(px + dx, py)) for dx in range(6, 14)]
    assert any(ring)
    assert panel.boundary.getAxis("bottom").labelText == "length"
    assert panel.boundary.getAxis("left").labelText == "width"
    assert "0 of 3 points on their class's side" in panel.bound_box.legend.text()
    # a click on a point picks that validation sample
    from PySide6.QtCore import Qt
    panel.index.setRange(0, 2)
    _, (px, py) = _at(panel, img, 1.5, 2.5)
    qtbot.mouseClick(panel.boundary.viewport(), Qt.LeftButton, pos=QPoint(px, py))
    assert panel.index.value() == 0
    _, (px, py) = _at(panel, img, -1.0, -0.5)
    qtbot.mouseClick(panel.boundary.viewport(), Qt.LeftButton, pos=QPoint(px, py))
    assert panel.index.value() == 1


def _dark(rgb: int) -> bool:
    from PySide6.QtGui import QColor
    c = QColor(rgb)
    return max(c.red(), c.green(), c.blue()) < 80


def test_a_trained_perceptrons_boundary_in_the_panel(qapp, qtbot, tmp_path):
    """The panel loads a trained perceptron and draws its boundary: a cell is drawn in the
    colour of the class the model predicts there, a validation point at its coordinates."""
    import torch

    from app.try_boundary import class_colour, region_colour
    from graph.project import load
    from runtime.train import Trainer
    from templates import FOLDER
    p = load(FOLDER / "perceptron.json")
    t = Trainer(p, device="cpu", max_steps=60)
    assert list(t.run())[-1].kind == "finished"
    t.save_checkpoint(tmp_path / "ck")
    panel = _panel(qtbot)
    panel._project = p
    panel.weights.addItem("perceptron", str(tmp_path / "ck"))
    panel.show()
    qtbot.waitExposed(panel)
    panel.load()
    panel.wait()  # the model
    panel.wait()  # its boundary, on the thread too
    assert panel.bound_box.isVisible() and not panel.trans_box.isVisible()
    bd = panel.bound_box.result
    assert bd is not None and bd.classes.shape == (200, 200)
    img = _shown(qapp, qtbot, panel)
    model = panel.tryout.compiled.model
    x0, x1, y0, y1 = bd.extent
    seen = set()
    for fx, fy in [(0.1, 0.1), (0.9, 0.9), (0.15, 0.85), (0.85, 0.15), (0.5, 0.3)]:
        x, y = x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)
        with torch.no_grad():
            k = int(model(torch.tensor([[x, y]]))[0, 0] > 0.5)
        seen.add(k)
        got, _ = _at(panel, img, x, y)
        assert _same(got, region_colour(k)), ((x, y), k, got.getRgb())
    assert seen == {0, 1}  # both sides of the line looked at
    # a validation point far from the ringed one and from the other class's points
    pts, lab = bd.points, bd.labels
    far = [i for i in range(1, len(pts))
           if float((pts[i] - pts[0]).norm()) > 0.8
           and float((pts[lab != lab[i]] - pts[i]).norm(dim=1).min()) > 0.5]
    i = far[0]
    got, _ = _at(panel, img, float(pts[i, 0]), float(pts[i, 1]))
    assert _same(got, class_colour(int(lab[i]))), (i, got.getRgb())
    assert "Ringed on the decision boundary" in panel.text.toPlainText()
    panel.index.setValue(i)
    assert panel.bound_box.ring.data["x"][0] == pytest.approx(float(pts[i, 0]))
