"""The data-wait figure (issue 27 item 1) in the live plots: a curve on the learning rate's
plot, on its own 0-1 axis."""
import numpy as np

from app.plotdata import LiveData
from app.plots import LivePlots
from runtime.events import Started, Step


def test_the_data_wait_curve_follows_the_steps(qtbot):
    data = LiveData()
    plots = LivePlots(data)
    qtbot.addWidget(plots)
    data.feed(Started("cpu", "CPU", 1, 4, 4, 32, 8, 10, ["a"], "supervised", 1))
    for step, wait in enumerate([0.9, 0.8, 0.85, 0.1], 1):
        data.feed(Step(step, 1, 1.0 / step, 0.01, 100.0, {}, wait))
    data.dirty = True
    plots.refresh()
    x, y = plots.c_wait.getData()
    assert list(x) == [1, 2, 3, 4] and np.allclose(y, [0.9, 0.8, 0.85, 0.1])
    assert plots.wait_box.viewRange()[1] == [0, 1.02]
    data.reset()
    plots.clear()
    assert plots.c_wait.getData()[0] is None or not len(plots.c_wait.getData()[0])
