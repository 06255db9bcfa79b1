"""A detector in the app (issues 13, 14): trained with Train > Run, its boxes over a
validation image in the Try panel (Ctrl+T), the truth beside them, the proposals on request;
Mask R-CNN's instance masks, translucent, one colour per instance."""
from __future__ import annotations

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
