"""Nothing in the window speaks of a state that is gone (issue 23, item 13): the Samples view
of another project's GAN, an error whose edit was undone, "Preparing the data" while the
model trains, the last project's learning rate, a Stop button with nothing to stop."""
from pathlib import Path

from PySide6.QtWidgets import QApplication

from runtime.events import Finished, Preparing, Samples, Started, Step

ROOT = Path(__file__).resolve().parents[2]


def _started(layers=("fc1",), total=100):
    return Started("cpu", "CPU", 1, total, total, 100, 20, 1000, list(layers), "supervised", 10)


def test_a_fresh_window_has_nothing_to_stop_or_pause(win):
    assert not win.a_stop.isEnabled() and not win.a_pause.isEnabled()
    assert win.a_run.isEnabled()
    win._training_state("running")
    assert win.a_stop.isEnabled() and win.a_pause.isEnabled()


def test_a_training_error_goes_when_the_edit_that_caused_it_is_undone(win):
    win.open_template(ROOT / "templates" / "mlp.json")
    win.editor.remove(["fc1"])
    assert not win.start_training()  # the graph has problems: said in the panel
    assert win.training.error.isVisible() and "problems" in win.training.error.text()
    win.a_undo.trigger()
    assert not win.training.error.isVisible()


def test_the_status_bar_stops_saying_preparing_when_training_starts(win):
    win.open_template(ROOT / "templates" / "mlp.json")
    win._training_event(Preparing("region proposals (selective search)", 5, 10))
    assert win.status.text().startswith("Preparing the data")
    win._training_event(_started())
    assert "Preparing" not in win.status.text() and "Training on CPU" in win.status.text()


def test_the_samples_view_goes_with_the_generator_it_showed(win):
    win.open_template(ROOT / "templates" / "gan.json")
    win._training_event(_started())
    win._training_event(Samples(10, 1, [[0.0, 1.0]] * 4, [[0.5, 0.5]] * 4, [2],
                                {"modes": 1, "quality": 0.5}))
    win._refresh_live()
    assert win.docks["samples"].isVisible() and "modes covered" in win.samples.label.text()
    win.open_template(ROOT / "templates" / "fast_rcnn.json")
    assert not win.docks["samples"].isVisible()
    assert len(win.samples.fake.getData()[0]) == 0
    assert "modes" not in win.samples.label.text()


def test_a_new_project_shows_no_learning_rate_of_the_last_run(win):
    win.open_template(ROOT / "templates" / "mlp.json")
    win._training_event(_started())
    for s in (10, 20, 30):
        win._training_event(Step(s, 1, 1.0, 0.05, 100.0))
    win._refresh_live()
    assert len(win.plots.c_lr.getData()[0]) > 0
    win.a_new.trigger()
    QApplication.processEvents()
    x, _ = win.plots.c_lr.getData()
    assert x is None or len(x) == 0


def test_a_resumed_run_says_how_many_steps_it_took_after_the_resume(win):
    """Issue 23, item 18: the final status counted only the resumed part."""
    win.open_template(ROOT / "templates" / "mlp.json")
    win.live.resume_from({"step": [10.0, 20.0], "loss": [1.0, 0.9], "lr": [0.1, 0.1]},
                         {}, {})
    win._training_event(_started(total=60))
    win._training_event(Finished(60, 2, 3.5, 0.5, {"accuracy": 0.9}, 100.0, "cpu"))
    assert ("Training finished: 60 steps, resumed at step 20: the last 40 in 3.5 s"
            in win.status.text())
    assert len(win.live.loss) == 2  # the steps before the stop are drawn


def test_a_finished_runs_metrics_are_all_in_the_training_panel(win):
    """Issue 23, item 19: a detector's final metrics were cut off in the status bar and
    shown nowhere else."""
    win.open_template(ROOT / "templates" / "mask_rcnn.json")
    metrics = {"loss": 0.31, "val_map50": 0.952, "val_map": 0.61, "val_ap50.circle": 0.97,
               "val_ap50.square": 0.95, "val_ap50.triangle": 0.93, "val_mask_map50": 0.92,
               "val_mask_map": 0.62, "val_mask_iou": 0.79}
    win._training_event(_started())
    assert not win.training.result.isVisible()
    win._training_event(Finished(100, 4, 200.0, 0.31, metrics, 50.0, "cpu"))
    text = win.training.result.text()
    assert win.training.result.isVisible() and win.training.result.wordWrap()
    assert all(f"{k} {v:.4g}" in text for k, v in metrics.items())
    win._training_event(_started())  # the next run: its own results
    assert not win.training.result.isVisible()


def test_a_damaged_proposal_cache_is_said_in_the_status_bar(win):
    win.open_template(ROOT / "templates" / "fast_rcnn.json")
    win._training_event(Preparing("region proposals (selective search)", 3, 10,
                                  note="the proposal cache file x.npz was damaged: computed "
                                       "again"))
    assert "x.npz was damaged" in win.status.text()
