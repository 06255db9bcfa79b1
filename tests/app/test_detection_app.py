"""A detector in the app (issue 13): trained with Train > Run, its boxes over a validation
image in the Try panel (Ctrl+T), the truth beside them, the proposals on request."""
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
