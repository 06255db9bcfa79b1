"""Train > Evaluate's generator page shows the run's samples per epoch (issue 28, item 1,
"GAN"; app/evaluate_epochs.py): a short gan run evaluated through the real view lists its
epochs, the slider (driven by keys) picks one and the plot shows exactly that epoch's samples,
and an image generator's grid changes with the epoch."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.evaluate_epochs import EpochGrids
from app.evaluate_other import _grid
from app.evaluate_view import EvaluateView
from graph.project import load
from runtime.evaluate import Evaluation
from runtime.runs import list_runs, read_samples, run_with_logging
from runtime.train import Trainer

TEMPLATES = __import__("templates").FOLDER


@pytest.fixture
def gan_run(tmp_path):
    """The gan template on a small ring, trained 3 epochs (3 steps each) into a run folder
    beside its project file."""
    p = load(TEMPLATES / "gan.json")
    p.data.options = {"n_samples": 600}
    p.training.epochs = 3
    proj = tmp_path / "gan.json"
    p.save(proj)
    folder = tmp_path / "runs" / "gan" / "run-1"
    events = list(run_with_logging(Trainer(p, device="cpu"), p, folder))
    assert events[-1].kind == "finished"
    return proj, folder


def _scatter(grids: EpochGrids) -> np.ndarray:
    x, y = grids.item.getData()
    return np.stack([x, y], 1)


@pytest.mark.slow
def test_the_evaluation_of_a_run_shows_each_epochs_samples(qtbot, gan_run):
    proj, folder = gan_run
    kept = read_samples(folder)
    view = EvaluateView()
    qtbot.addWidget(view)
    view.resize(1400, 860)
    view.set_source(load(proj), proj.parent, list_runs(folder.parent), "gan")
    view.show()
    qtbot.waitExposed(view)
    qtbot.mouseClick(view.evaluate_btn, Qt.LeftButton)
    assert view.job.wait(60)
    qtbot.waitUntil(lambda: view.ev is not None, timeout=10000)
    assert view.ev.kind == "generator"
    grids = view.findChild(EpochGrids, "epoch_grids")
    assert grids is not None and grids.isVisible()
    assert grids.slider.minimum() == 0 and grids.slider.maximum() == 2
    assert grids.label.text().startswith("Epoch 3 of 3 (step 9)")  # the last epoch first
    np.testing.assert_allclose(_scatter(grids), kept[2]["generated"], rtol=0, atol=5e-4)
    assert grids.mark.value() == 3
    # the epoch picked by keys on the real slider: the plot shows that epoch's samples
    grids.slider.setFocus()
    qtbot.keyClick(grids.slider, Qt.Key_Home)
    assert grids.label.text().startswith("Epoch 1 of 3 (step 3)")
    np.testing.assert_allclose(_scatter(grids), kept[0]["generated"], rtol=0, atol=5e-4)
    assert not np.allclose(_scatter(grids), kept[2]["generated"], atol=1e-3)
    assert grids.mark.value() == 1
    qtbot.keyClick(grids.slider, Qt.Key_Right)
    assert grids.epoch["epoch"] == 2
    np.testing.assert_allclose(_scatter(grids), kept[1]["generated"], rtol=0, atol=5e-4)
    judged = ", ".join(f"{k} {v:.3g}" for k, v in kept[1]["judged"].items())
    assert grids.label.text().endswith(judged)
    # one curve per judged figure, over every epoch
    curves = grids.judge_plot.getPlotItem().listDataItems()
    assert sorted(c.name() for c in curves) == sorted(kept[0]["judged"])
    for c in curves:
        xs, ys = c.getData()
        assert list(xs) == [1, 2, 3]
        assert list(ys) == pytest.approx([r["judged"][c.name()] for r in kept])


def test_an_image_generators_grid_changes_with_the_epoch(qtbot):
    rng = np.random.default_rng(0)
    epochs = [{"epoch": e, "step": 26 * e, "judged": {"digits": e, "quality": e / 10},
               "generated": rng.normal(size=(36, 1, 8, 8)).round(3).tolist() if e != 2 else None}
              for e in (1, 2, 3, 4)]  # epoch 2: judged only (a long run's thinned grids)
    f = {"samples": 4, "shape": [1, 8, 8], "judged": {"digits": 4.0},
         "generated": rng.normal(size=(4, 1, 8, 8)).tolist(), "epochs": epochs}
    view = EvaluateView()
    qtbot.addWidget(view)
    view.resize(1400, 860)
    view.show_evaluation(Evaluation("generator", "val", "w", "gan_digits", f))
    view.show()
    qtbot.waitExposed(view)
    grids = view.findChild(EpochGrids, "epoch_grids")
    assert [e["epoch"] for e in grids.shown] == [1, 3, 4]
    assert grids.slider.maximum() == 2
    last = grids.item.image.copy()
    np.testing.assert_allclose(last, _grid(np.asarray(epochs[3]["generated"])))
    grids.slider.setFocus()
    qtbot.keyClick(grids.slider, Qt.Key_Left)
    assert grids.label.text().startswith("Epoch 3 of 4 (step 78): digits 3, quality 0.3")
    np.testing.assert_allclose(grids.item.image, _grid(np.asarray(epochs[2]["generated"])))
    assert not np.allclose(grids.item.image, last)
    xs, _ = grids.judge_plot.getPlotItem().listDataItems()[0].getData()
    assert list(xs) == [1, 2, 3, 4]  # the curve holds the epoch without samples too
