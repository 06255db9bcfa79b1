"""Train > Evaluate of a detector in the app (issue 28, item 1, "detection";
app/evaluate_detect.py): the detection page shows the runtime's per-class precision-recall
curves and AP table and the images by their errors; double-clicking an image (through the
real table) opens that validation sample in the Try panel, as does the button."""
from __future__ import annotations

import json
import time

import pytest
from PySide6.QtCore import Qt

from graph.project import load
from templates import find

SMALL = {"n_samples": 48, "proposals": 40}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The fast_rcnn template made small, trained 6 steps, its checkpoint as a run's best."""
    from runtime.train import Trainer
    folder = tmp_path_factory.mktemp("det_app")
    p = load(find("fast_rcnn").path)
    p.data.options.update(SMALL)
    p.graph.set_param("proposals", "count", SMALL["proposals"])
    path = folder / "fast_rcnn.json"
    p.save(path)
    t = Trainer(load(path), max_steps=6)
    assert list(t.run())[-1].kind == "finished"
    run = folder / "runs" / "fast_rcnn" / "run-1"
    t.save_checkpoint(run / "checkpoints" / "best")
    (run / "run.json").write_text(json.dumps({"status": "finished", "steps": 6}))
    return path, run


def _wait(qapp, cond, timeout=120):
    deadline = time.time() + timeout
    while not cond() and time.time() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    assert cond()


def _double_click_row(qtbot, table, row: int) -> None:
    item = table.item(row, 0)
    table.scrollToItem(item)
    pos = table.visualItemRect(item).center()
    assert table.viewport().rect().contains(pos)
    # what a real double click sends: a click, then the second press as a double click
    # (QTest's mouseDClick alone never emits an item view's doubleClicked in Qt 6)
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=pos)
    qtbot.mouseDClick(table.viewport(), Qt.LeftButton, pos=pos)


@pytest.mark.slow  # trains a detector for a few steps and loads it twice
def test_detection_page_and_an_image_opened_in_the_try_panel(qapp, qtbot, win, trained):
    from runtime.evaluate import evaluate
    path, run = trained
    w = win
    w.open_path(path, ask=False)
    w.show_evaluate()
    view = w.evaluate_window
    _wait(qapp, lambda: not view.job.busy and view.ev is not None)
    ev = view.ev
    assert ev.kind == "detection", view.status.text()
    want = evaluate(load(path), path.parent, run / "checkpoints" / "best").figures
    page = view.detection
    assert page is not None and view.tabs.tabText(view.tabs.currentIndex()) == "Detection"
    assert f"mAP50 {want['map50']:.4f}" in view.status.text()
    # the AP table and the curves are the runtime's
    t = page.ap_table
    assert t.rowCount() == len(want["per_class"])
    assert [t.item(k, 0).text() for k in range(t.rowCount())] == \
        [c["class"] for c in want["per_class"]]
    assert [t.item(k, 1).text() for k in range(t.rowCount())] == \
        [f"{c['ap50']:.4g}" for c in want["per_class"]]
    curves = page.plot.getPlotItem().listDataItems()
    drawn = [c for c in want["per_class"] if c["recall"]]
    assert len(curves) == len(drawn)
    for item, c in zip(curves, drawn):
        xs, ys = item.getData()
        assert xs.tolist() == c["recall"] and ys.tolist() == c["precision"]
    # the images, worst first, as the runtime orders them
    images = page.images_table
    assert images.rowCount() == len(want["images"])
    assert [int(images.item(r, 0).text()) for r in range(images.rowCount())] == \
        [r["index"] for r in want["images"]]
    assert [int(images.item(r, 4).text()) for r in range(images.rowCount())] == \
        [r["missed"] for r in want["images"]]
    # double-click the worst image: the Try panel loads the run and shows that sample
    first = want["images"][0]
    _double_click_row(qtbot, images, 0)
    panel = w.trypanel
    _wait(qapp, lambda: not panel.job.busy and panel.tryout is not None
          and panel.detections is not None)
    assert w.docks["try"].isVisible()
    assert panel.index.value() == first["index"]
    d = panel.detections
    assert d.index == first["index"] and len(d.true_boxes) == first["objects"]
    assert int((d.scores >= 0.5).sum()) == first["detections"]
    # another image, by double-click: the weights are loaded, it shows at once
    other = next(r for r in want["images"] if r["index"] != first["index"])
    row = [r["index"] for r in want["images"]].index(other["index"])
    _double_click_row(qtbot, images, row)
    assert panel.index.value() == other["index"] and panel.detections.index == other["index"]
    # and by the button, with a row selected
    images.selectRow(0)
    qtbot.mouseClick(page.open_btn, Qt.LeftButton)
    assert panel.detections.index == first["index"]


def test_detection_page_of_a_constructed_case_asks_for_the_double_clicked_image(qtbot):
    """No training: the constructed two-image case (tests/runtime/test_evaluate_detect.py)
    laid out; a double-click on a row asks open_sample for the judged weights and that
    image's index; the button for the selected row."""
    import numpy as np

    from app.evaluate_view import EvaluateView
    from runtime.evaluate import Evaluation
    from runtime.evaluate.detect import figures
    from tests.runtime.test_evaluate_detect import CLASSES, _case
    asked = []
    view = EvaluateView(open_sample=lambda w, i: asked.append((w, i)))
    qtbot.addWidget(view)
    view.resize(1200, 700)
    f = figures(_case(), CLASSES, np.array([7, 3]))
    view.weights = "/runs/r1/checkpoints/best"
    view.show_evaluation(Evaluation("detection", "val", view.weights, "case", f))
    view.show()
    qtbot.waitExposed(view)
    page = view.detection
    assert view.tabs.count() == 1 and view.tabs.tabText(0) == "Detection"
    assert "mAP50" in view.status.text() and "2 missed, 3 false" in view.status.text()
    t = page.images_table
    assert [t.item(r, 0).text() for r in range(t.rowCount())] == ["1", "0"]  # worst first
    assert [t.item(r, 1).text() for r in range(t.rowCount())] == ["3", "7"]
    assert [(t.item(r, 4).text(), t.item(r, 5).text()) for r in range(2)] == \
        [("1", "2"), ("1", "1")]
    assert t.item(1, 6).text() == "square (20, 20)–(30, 30)"
    _double_click_row(qtbot, t, 1)
    assert asked == [("/runs/r1/checkpoints/best", 0)]
    t.selectRow(0)
    qtbot.mouseClick(page.open_btn, Qt.LeftButton)
    assert asked[-1] == ("/runs/r1/checkpoints/best", 1)
    assert [page.ap_table.item(k, 0).text() for k in range(2)] == ["circle", "square"]
