"""Train > Evaluate in the app (issue 28 items 1 and 3, app/evaluate_view.py): a run's weights
judged on a background thread and shown; a confusion cell clicked through the real widget
lists exactly Evaluation.cell's samples; the matrix's orientation pinned on a constructed case
(rows true, columns predicted); Save as HTML writes the runtime's page."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from app.evaluate_view import EvaluateView
from graph.project import load
from runtime.evaluate import Evaluation, evaluate
from runtime.evaluate.classify import classification, per_sample, regression
from runtime.evaluate.html import page

ROOT = Path(__file__).resolve().parents[2]


def _fresh_run(tmp_path: Path, name: str = "cnn") -> tuple[Path, Path]:
    """The template copied to tmp_path and a run folder beside it holding weights of the
    compiled model (untrained: what matters here is what the view shows of them)."""
    from runtime.compile import compile_graph
    from runtime.weights import save_weights
    proj = tmp_path / f"{name}.json"
    shutil.copy(ROOT / "templates" / f"{name}.json", proj)
    p = load(proj)
    c = compile_graph(p.graph, standardize=p.data.standardize,
                      normalize=p.data.augment.normalize)
    run = tmp_path / "runs" / "run-1"
    (run / "checkpoints" / "best").mkdir(parents=True)
    save_weights(c.model, run / "checkpoints" / "best" / "model.safetensors")
    (run / "run.json").write_text(json.dumps({"status": "finished", "steps": 1}))
    return proj, run


def _click_cell(qtbot, plot, true: int, predicted: int) -> None:
    """A left click at the centre of cell (true, predicted), in the widget's coordinates."""
    scene_pt = plot.getViewBox().mapViewToScene(plot.cell_center(true, predicted))
    pos = plot.mapFromScene(scene_pt)
    assert plot.viewport().rect().contains(pos)
    qtbot.mouseClick(plot.viewport(), Qt.LeftButton, pos=pos)


def _matrix_cell(plot, true: int, predicted: int) -> float:
    """The image item's value for (true, predicted), read in pyqtgraph's axis order."""
    data = plot.image.image
    if pg.getConfigOption("imageAxisOrder") == "row-major":
        return float(data[true, predicted])
    return float(data[predicted, true])


@pytest.fixture
def cnn_view(qtbot, tmp_path):
    from runtime.runs import list_runs
    proj, run = _fresh_run(tmp_path)
    view = EvaluateView()
    qtbot.addWidget(view)
    view.resize(1200, 760)
    view.set_source(load(proj), tmp_path, list_runs(tmp_path / "runs"), "cnn")
    view.show()
    qtbot.waitExposed(view)
    assert view.evaluate()
    assert view.job.wait(60)
    return view, proj, run


def test_cnn_run_cell_click_lists_exactly_its_samples(qtbot, cnn_view, tmp_path):
    view, proj, run = cnn_view
    ev = view.ev
    assert ev is not None and ev.kind == "classification", view.status.text()
    want = evaluate(load(proj), tmp_path, run, "val")
    assert ev.figures["confusion_matrix"] == want.figures["confusion_matrix"]
    plot = view.confusion
    cm = np.array(ev.figures["confusion_matrix"])
    C = len(ev.figures["classes"])
    assert plot.matrix.shape == (C, C)
    # an off-diagonal cell with samples when there is one (untrained weights: likely), and
    # the cell of the most samples
    off = [(i, j) for i in range(C) for j in range(C) if i != j and cm[i, j]]
    cells = ([off[0]] if off else []) + [tuple(np.unravel_index(cm.argmax(), cm.shape))]
    for t, p in cells:
        _click_cell(qtbot, plot, int(t), int(p))
        rows = want.cell(int(t), int(p))
        assert view.cell_samples == rows
        table = view.samples_table
        assert table.rowCount() == len(rows) == cm[t, p]
        assert [int(table.item(r, 0).text()) for r in range(table.rowCount())] == \
            [s["index"] for s in rows]
        names = ev.figures["classes"]
        assert {table.item(r, 2).text() for r in range(table.rowCount())} == {names[t]}
        assert {table.item(r, 3).text() for r in range(table.rowCount())} == {names[p]}
        assert not table.item(0, 0).icon().isNull()  # digits: a thumbnail per sample
    # per-class table = the runtime's figures
    pc = view.per_class_table
    assert pc.rowCount() == C
    assert [pc.item(k, 4).text() for k in range(C)] == \
        [str(x["support"]) for x in want.figures["per_class"]]
    # Save as HTML: the runtime's page, byte for byte
    out = tmp_path / "eval.html"
    assert view.save_html(str(out))
    assert out.read_text(encoding="utf-8") == page(view.ev)
    assert out.read_text(encoding="utf-8") == page(want).replace(str(want.weights),
                                                                 str(view.ev.weights))


def test_matrix_orientation_rows_true_columns_predicted(qtbot):
    """Class 0 always predicted as class 1: the count sits in row 0 (true 'zero'), column 1
    (predicted 'one'), in the image data, at the click position and under the axis labels."""
    names = ["zero", "one", "two"]
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    pred = np.array([1, 1, 1, 1, 1, 1, 2, 2, 2])
    proba = np.full((len(y), 3), 0.1)
    proba[np.arange(len(y)), pred] = 0.8
    f = classification(y, proba, names)
    assert f["confusion_matrix"][0] == [0, 4, 0]
    ev = Evaluation("classification", "val", "w", "p", {"loss_node": "loss", **f},
                    samples=per_sample(y, proba, np.arange(len(y)) + 100))
    view = EvaluateView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show_evaluation(ev)
    view.show()
    qtbot.waitExposed(view)
    plot = view.confusion
    assert _matrix_cell(plot, 0, 1) == 4
    assert _matrix_cell(plot, 1, 0) == 0
    assert _matrix_cell(plot, 0, 0) == 0 and _matrix_cell(plot, 2, 2) == 3
    # the axes: the left one is the true class, the bottom one the predicted, each tick
    # at its cell's centre
    assert plot.getAxis("left").labelText == "true class"
    assert plot.getAxis("bottom").labelText == "predicted class"
    assert plot.axis_labels("left") == [(0.5, "zero"), (1.5, "one"), (2.5, "two")]
    assert plot.axis_labels("bottom") == [(0.5, "zero"), (1.5, "one"), (2.5, "two")]
    # row 0 is drawn at the top: its centre above row 2's on screen; column 1 right of 0
    vb = plot.getViewBox()
    top = plot.mapFromScene(vb.mapViewToScene(plot.cell_center(0, 1)))
    bottom = plot.mapFromScene(vb.mapViewToScene(plot.cell_center(2, 1)))
    left = plot.mapFromScene(vb.mapViewToScene(plot.cell_center(0, 0)))
    assert top.y() < bottom.y() and left.x() < top.x()
    # the count written in the cell is where the cell is
    text = next(t for t in plot.texts if t.textItem.toPlainText() == "4")
    assert (text.pos().x(), text.pos().y()) == (1.5, 0.5)
    _click_cell(qtbot, plot, 0, 1)
    assert [s["dataset_index"] for s in view.cell_samples] == [100, 101, 102, 103]
    assert view.samples_table.rowCount() == 4
    assert view.cell_label.text().startswith("True zero, predicted one: 4")
    r = plot.mark.rect()  # the clicked cell outlined: column 1, row 0
    assert plot.mark.isVisible() and (r.x(), r.y(), r.width(), r.height()) == (1, 0, 1, 1)
    _click_cell(qtbot, plot, 1, 0)
    assert view.samples_table.rowCount() == 0


def test_regression_and_refusal_in_words(qtbot, tmp_path):
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    f = regression(y, y + rng.normal(scale=0.1, size=50))
    view = EvaluateView()
    qtbot.addWidget(view)
    view.show_evaluation(Evaluation("regression", "val", "w", "p", {"loss_node": "l", **f}))
    assert view.tabs.tabText(0) == "Regression"
    assert f"MAE {f['mae']:.4g}" in view.status.text()
    # weights that do not exist: the runtime's message, no traceback
    proj, _ = _fresh_run(tmp_path, "mlp")
    view.set_source(load(proj), tmp_path, [], "mlp")
    assert "No run with weights" in view.status.text()
    assert view.evaluate(str(tmp_path / "missing.safetensors"))
    assert view.job.wait(60)
    assert view.status.text().startswith("Cannot evaluate: ")
    assert "missing.safetensors" in view.status.text()
    assert view.ev is None and not view.save_btn.isEnabled()


def test_menu_and_runs_list_open_the_evaluation(qtbot, win, tmp_path):
    proj, run = _fresh_run(tmp_path, "mlp")
    assert win.open_path(proj, ask=False)
    root = win.runs_root()
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(run, root / "run-1")
    win._refresh_runs()
    box = win.training.runs_box
    assert not box.evaluate_btn.isEnabled()
    box.runs.item(0).setSelected(True)
    assert box.evaluate_btn.isEnabled()
    qtbot.mouseClick(box.evaluate_btn, Qt.LeftButton)
    view = win.evaluate_window
    assert view.isVisible()
    assert view.job.wait(60)
    assert view.ev is not None and view.ev.kind == "classification", view.status.text()
    assert Path(view.ev.weights).parents[2] == root / "run-1"
    assert win.a_evaluate.text() == "&Evaluate…"
