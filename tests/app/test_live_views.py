"""The live decision boundary and the dead-unit row, fed the events a run sends (no training
process: the full run through the window is tests/app/test_live_inside.py)."""
import numpy as np

from runtime.events import Started
from runtime.watch_events import Activations, BoundaryFrame


def _started():
    return Started("cpu", "CPU", 2, 25, 50, 800, 200, 4482, ["fc1", "fc2", "fc3"],
                   "supervised", 10)


def _frame(step, classes, first=False, final=False):
    pts = [[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0]]
    return BoundaryFrame(step, 1, 4, (-2.0, 2.0, -2.0, 2.0),
                         np.asarray(classes, np.uint8).tobytes(), bytes([0, 1, 1]), 2,
                         pts if first else None, [0, 1, 0] if first else None,
                         ("x₁", "x₂"), ["0", "1"], final)


def _acts(step, dead):
    return Activations(step, 1, {"relu1": {"mean": 0.4, "std": 0.6, "units": 8,
                                           "dead": len(dead), "dead_units": dead,
                                           "channels": False}}, 200)


def test_frames_draw_the_plane_and_the_dock_appears(win):
    from app.try_boundary import region_colour
    assert not win.docks["boundary"].isVisible()
    win._training_event(_started())
    left = [[0, 0, 1, 1]] * 4  # class 0 on the left half (x₁ < 0), class 1 on the right
    win._training_event(_frame(1, left, first=True))
    win._refresh_live()
    assert win.docks["boundary"].isVisible()
    box = win.live_boundary.box
    assert box.plane.image.shape == (4, 4, 4)
    assert tuple(box.plane.image[0, 0]) == region_colour(0).getRgb()
    assert tuple(box.plane.image[0, 3]) == region_colour(1).getRgb()
    r = box.plane.mapRectToParent(box.plane.boundingRect())  # the grid's extent
    assert (r.left(), r.right(), r.top(), r.bottom()) == (-2.0, 2.0, -2.0, 2.0)
    assert len(box.points.getData()[0]) == 3
    assert "step 1 (epoch 1)" in box.legend.text() and "2 of 3 points" in box.legend.text()
    up = [[0] * 4, [0] * 4, [1] * 4, [1] * 4]  # a later frame: class 1 up x₂ (rows 2, 3)
    win._training_event(_frame(9, up, final=True))
    win._refresh_live()
    assert tuple(box.plane.image[3, 0]) == region_colour(1).getRgb()
    assert tuple(box.plane.image[0, 3]) == region_colour(0).getRgb()
    assert "end of the run" in box.legend.text() and len(box.points.getData()[0]) == 3
    win._hide_samples()  # as a new run starts
    assert not win.docks["boundary"].isVisible() and win.live_boundary.frame is None


def test_the_dead_units_row_names_them(win):
    win._training_event(_started())
    win._training_event(_acts(1, []))
    win._training_event(_acts(25, [1, 5, 6]))
    win._refresh_live()
    dead = win.plots.dead
    assert dead.shown and list(dead.curves) == ["relu1"]
    x, y = dead.curves["relu1"].getData()
    assert list(x) == [1, 25] and list(y) == [0.0, 3 / 8]
    assert "relu1 3/8 (units 1, 5, 6)" in dead.plot.titleLabel.text
    win.live.reset()  # as a new run starts (app/window_training.py start_training)
    win.plots.clear()
    assert not dead.shown and not dead.curves
