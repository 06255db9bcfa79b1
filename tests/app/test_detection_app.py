"""A detector in the app (issues 13, 14): trained with Train > Run, its boxes over a
validation image in the Try panel (Ctrl+T), the truth beside them, the proposals on request;
Mask R-CNN's instance masks, translucent, one colour per instance."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from graph.project import load
from tests.app.test_training import ROOT, _tried, run_to_end, twin  # noqa: F401


def _small(tmp_path):
    p = load(ROOT / "templates" / "fast_rcnn.json")
    p.data.options.update({"n_samples": 60, "proposals": 40})
    p.graph.set_param("proposals", "count", 40)
    p.training.epochs = 2
    path = tmp_path / "fast_rcnn.json"
    p.save(path)
    return path


def _colour_share(img, colour) -> float:
    hits = sum(img.pixelColor(x, y) == colour for x in range(0, img.width(), 2)
               for y in range(0, img.height(), 2))
    return hits / ((img.width() // 2) * (img.height() // 2))


@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
def test_try_panel_draws_detections_truth_and_proposals(qapp, qtbot, twin, tmp_path):
    from app.detection_view import PREDICTED, TRUE, picture
    w = twin
    w.open_path(_small(tmp_path), ask=False)
    events = run_to_end(qapp, w)
    assert events[-1].kind == "finished", events[-1]
    assert "val_map50" in events[-1].metrics
    panel = _tried(qapp, qtbot, w)
    assert panel.proposals.isVisible() and not panel.proposals.isChecked()
    d = panel.detections
    assert d is not None and len(d.true_boxes) >= 1
    text = panel.text.toPlainText()
    assert "true object" in text and "dashed green" in text and "grey" not in text
    assert not panel.image.pixmap().isNull() and panel.image.pixmap().width() == 320
    img = picture(d)
    assert _colour_share(img, TRUE) > 0  # the truth is drawn
    if (d.scores >= 0.5).any():  # the confident detections, as the text lists them
        assert _colour_share(img, PREDICTED) > 0
    assert picture(d, threshold=1.01) != img or not (d.scores >= 0.5).any()
    qtbot.mouseClick(panel.proposals, Qt.LeftButton)
    assert panel.proposals.isChecked()
    assert "grey: the proposals" in panel.text.toPlainText()
    more = picture(d, proposals=True)
    assert more != img  # the proposals drawn over it
    # another validation image, by the spin box a user types into
    panel.index.setValue(3)
    assert panel.detections.index == 3


def test_instance_masks_are_translucent_one_colour_per_instance(qapp):
    """Two detections with masks: each mask's pixels blend the image with its own colour;
    outside the masks the image is untouched; a detection below the threshold shows none."""
    import torch

    from app.detection_view import INSTANCE, MASK_ALPHA, picture
    from runtime.tryout import Detections
    image = torch.zeros(3, 20, 20)
    image[2] = 1.0  # blue
    masks = torch.zeros(3, 20, 20)
    masks[0, 2:8, 2:8] = 0.9
    masks[1, 10:16, 10:16] = 0.7
    masks[2, 2:8, 12:18] = 1.0  # its detection scores 0.3: not shown
    d = Detections(0, image, torch.tensor([[2., 2, 8, 8], [10, 10, 16, 16], [12, 2, 18, 8]]),
                   torch.tensor([0.9, 0.8, 0.3]), torch.tensor([1, 2, 3]),
                   torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0, 4),
                   ["background", "circle", "square", "triangle"], masks, None)
    img = picture(d, scale=4)
    a = MASK_ALPHA / 255

    def blend(c):
        return (round(c.red() * a), round(c.green() * a), round(255 * (1 - a) + c.blue() * a))

    for (x, y), colour in (((5, 5), INSTANCE[0]), ((13, 13), INSTANCE[1])):
        got = img.pixelColor(x * 4 + 1, y * 4 + 1)
        assert all(abs(g - w) <= 2 for g, w in zip((got.red(), got.green(), got.blue()),
                                                   blend(colour))), (got.name(), colour.name())
    assert img.pixelColor(15 * 4, 5 * 4).name() == "#0000ff"  # the weak one: no mask
    assert img.pixelColor(1, 1 + 18 * 4).name() == "#0000ff"  # outside every mask


@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
def test_mask_rcnn_in_the_app_draws_its_masks(qapp, qtbot, twin, tmp_path):
    w = twin
    p = load(ROOT / "templates" / "mask_rcnn.json")
    p.data.options.update({"n_samples": 60})
    p.training.epochs = 1
    path = tmp_path / "mask_rcnn.json"
    p.save(path)
    w.open_path(path, ask=False)
    events = run_to_end(qapp, w)
    assert events[-1].kind == "finished", events[-1]
    assert "val_mask_map50" in events[-1].metrics and "val_mask_iou" in events[-1].metrics
    panel = _tried(qapp, qtbot, w)
    d = panel.detections
    assert d.masks is not None and d.masks.shape[1:] == (64, 64)
    assert "each detection its colour: mask" in panel.text.toPlainText()
    if (d.scores >= 0.5).any():
        assert "mask IoU" in panel.text.toPlainText()
    # Faster R-CNN's proposals come from its RPN, inside the model
    assert len(d.proposals) > 0 and d.anchors is not None
    # the anchors of a cell, on request: the checkbox, then a click on the picture
    from app.detection_view import ANCHOR, SCALE
    assert panel.anchors.isVisible() and not panel.anchors.isChecked()
    assert "Anchors of cell" not in panel.text.toPlainText()
    qtbot.mouseClick(panel.anchors, Qt.LeftButton)
    assert panel.anchors.isChecked() and "Anchors of cell" in panel.text.toPlainText()
    grid = panel.detections.anchors
    pm = panel.image.pixmap()
    dx, dy = (panel.image.width() - pm.width()) // 2, (panel.image.height() - pm.height()) // 2
    i, j = (1, grid.shape[1] - 2)
    x, y = grid.centre(i, j)
    from PySide6.QtCore import QPoint
    qtbot.mouseClick(panel.image, Qt.LeftButton, pos=QPoint(dx + int(x * SCALE) + 3,
                                                            dy + int(y * SCALE) + 3))
    assert panel.cell == (i, j)
    assert f"Anchors of cell ({i}, {j})" in panel.text.toPlainText()
    shown = panel.image.pixmap().toImage()
    assert shown.pixelColor(int(x * SCALE), int(y * SCALE)) == ANCHOR  # its centre dot
    # another sample keeps the cell; unticking hides the anchors
    panel.index.setValue(2)
    assert f"Anchors of cell ({i}, {j})" in panel.text.toPlainText()
    qtbot.mouseClick(panel.anchors, Qt.LeftButton)
    assert "Anchors of cell" not in panel.text.toPlainText()


def test_help_draws_roipool_against_roialign(qapp, win):
    """Choosing RoIAlign in the palette shows the side-by-side figure in the help: computed
    by the real ops, RoIPool's output unchanged by a sub-pixel move, RoIAlign's moved."""
    import numpy as np
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    from app.roi_figure import comparison
    from app.warmup import warmup
    warmup().start()
    warmup().finish()
    qapp.processEvents()
    tree = win.palette.tree
    tree.setCurrentItem(win.palette.items["RoIAlign"])
    assert "RoIPool versus RoIAlign" in win.help.toPlainText()
    img = win.help.document().resource(QTextDocument.ImageResource,
                                       QUrl(win.help.FIGURE_URL))
    assert img is not None and not img.isNull()
    d = comparison()
    assert np.array_equal(d["pool"], d["pool_shifted"])  # quantised: the move is lost
    assert np.abs(d["align"] - d["align_shifted"]).max() > 0.01  # RoIAlign follows it
    tree.setCurrentItem(win.palette.items["ReLU"])
    assert "RoIPool versus RoIAlign" not in win.help.toPlainText()


def test_anchors_of_a_cell_follow_the_layout_and_the_rpn_thresholds(qapp):
    """A 4 × 4 map over a 32 × 32 image: stride 8; cell (1, 2) centred on (16, 8); size 8
    ratio 1 is the box (12, 4, 20, 12). A true box on it makes that anchor an object, the
    wide and tall ones of size 8 (IoU 0.55: ignored) and the size-16 ones (IoU ≤ 0.25:
    background). The template's grid is laid as its AnchorGenerator node says."""
    import torch

    from app.detection_view import ANCHOR, describe_anchors, picture
    from runtime.tryout import AnchorGrid, Detections, anchor_grid
    from runtime.compile import compile_graph
    from graph.project import load as load_project

    p = load_project(ROOT / "templates" / "faster_rcnn.json")
    c = compile_graph(p.graph)
    grid = anchor_grid(c, torch.zeros(3, 64, 64))
    assert grid is not None and grid.node in c.graph  # inside the RPN block: "rpn.anchor_gen"
    rows, cols, k = grid.shape
    params = c.graph.params(grid.node)
    assert k == len(params["sizes"]) * len(params["aspect_ratios"])
    assert grid.stride == (64 // rows, 64 // cols)
    assert (grid.fg_iou, grid.bg_iou) == (0.7, 0.3)  # the template's MatchAnchors

    from runtime.detection.rpn import grid_anchors
    boxes = grid_anchors(torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 32, 32), [8.0, 16.0],
                         [0.5, 1.0, 2.0]).reshape(4, 4, 6, 4)
    g = AnchorGrid("anchors", boxes, (8, 8))
    assert g.cell_at(17, 9) == (1, 2) and g.cell_at(-5, 100) == (3, 0)
    assert g.centre(1, 2) == (16.0, 8.0)
    assert g.cell(1, 2)[2].tolist() == [12, 4, 20, 12]  # ratio 1, size 8 (ratio-major)
    truth = torch.tensor([[12., 4, 20, 12]])
    best, labels = g.labels(1, 2, truth)
    # ratio-major: (0.5, 8), (0.5, 16), (1, 8), (1, 16), (2, 8), (2, 16)
    assert labels.tolist() == [-1, 0, 1, 0, -1, 0]
    assert [round(float(v), 3) for v in best] == [0.545, 0.242, 1.0, 0.25, 0.545, 0.242]
    # a box no anchor fits at 0.7: the one overlapping it most is an object all the same
    # (torchvision's low-quality matches), unless the RPN's matching is told otherwise
    off = torch.tensor([[13., 5, 21, 13]])
    best, labels = g.labels(1, 2, off)
    assert round(float(best[2]), 3) == 0.62 and labels[2] == 1
    g.low_quality = False
    assert g.labels(1, 2, off)[1][2] == -1
    g.low_quality = True
    d = Detections(0, torch.zeros(3, 32, 32), torch.zeros(0, 4), torch.zeros(0),
                   torch.zeros(0, dtype=torch.int64), truth, torch.tensor([1]),
                   torch.zeros(0, 4), ["background", "square"], None, None, g)
    text = describe_anchors(d, (1, 2))
    assert "cell (1, 2) of the 4 × 4 feature map" in text and "centred on (16, 8)" in text
    assert "8 × 8 at (12, 4)–(20, 12)  best IoU 1.00: object" in text
    assert "96 in all" in text
    plain = picture(d, scale=4)
    img = picture(d, scale=4, cell=(1, 2))
    assert img.pixelColor(16 * 4, 8 * 4) == ANCHOR  # the centre dot
    assert plain.pixelColor(16 * 4, 8 * 4) != ANCHOR
    assert img.pixelColor(12 * 4, 8 * 4) == ANCHOR  # the object anchor's left side, solid
