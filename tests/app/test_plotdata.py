"""The buffers behind the live plots (no Qt)."""
import math

import numpy as np

from app.plotdata import HeatMap, LiveData, Series
from runtime.events import EpochEnd, GradStats, Started, Step


def test_series_grows_by_doubling_and_keeps_every_point():
    s = Series(capacity=4)
    for i in range(1000):
        s.append(i, i * i)
    x, y = s.data()
    assert len(s) == 1000 and x[-1] == 999 and y[10] == 100
    assert len(s.x) == 1024  # doubled, not grown one by one


def test_heatmap_halves_its_resolution_and_keeps_the_averages():
    h = HeatMap(["a", "b"], columns=8)
    for step in range(1, 33):  # 32 samples into 8 columns: two halvings
        h.add(step, {"a": 10.0 ** -(step % 4), "b": 1.0})
    img = h.image()
    assert img.shape == (2, 8) and h.per_column == 4
    assert np.allclose(img[1], 0.0)  # log10(1) everywhere
    # Column 0 holds samples 1-4: log10 of 1e-1, 1e-2, 1e-3, 1e0 → mean -1.5.
    assert math.isclose(img[0, 0], -1.5)
    assert not np.isnan(img).any()


def test_heatmap_handles_zero_and_missing_norms():
    h = HeatMap(["a", "b"], columns=4)
    h.add(1, {"a": 0.0})  # a zero gradient and a layer without one
    assert np.isnan(h.image()).all()
    h.add(2, {"a": 1.0, "b": 100.0})
    assert h.image()[1, -1] == 2.0


def test_live_data_from_events():
    d = LiveData()
    d.feed(Started("cpu", "CPU", 2, 45, 90, 1438, 359, 10, ["fc1", "fc2"], "supervised", 10))
    assert d.expected_grad_samples == 10
    for step in range(10, 100, 10):
        d.feed(Step(step, 1, 2.0 / step, 0.01, 5000.0))
        d.feed(GradStats(step, {"fc1": 0.1, "fc2": 0.2}))
    d.feed(EpochEnd(1, 45, {"loss": 0.5, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.7}, 1.0))
    assert len(d.loss) == 9 and len(d.smooth) == 9 and len(d.grads["fc2"]) == 9
    assert d.smooth.data()[1][0] == d.loss.data()[1][0]  # the EMA starts at the first value
    assert d.metric_names() == ["accuracy", "val_accuracy"]
    assert d.last_norms == {"fc1": 0.1, "fc2": 0.2}
    d.feed(Step(100, 2, float("nan"), 0.01, 5000.0))  # a non-finite loss is not plotted
    assert len(d.loss) == 9


def test_a_hundred_thousand_steps_stay_bounded():
    d = LiveData()
    d.feed(Started("cpu", "CPU", 1, 100_000, 100_000, 1, 0, 1, ["a", "b", "c"], "supervised", 1))
    for step in range(1, 100_001):
        d.feed(Step(step, 1, 1.0, 0.01, 1.0))
        d.feed(GradStats(step, {"a": 1.0, "b": 0.5, "c": 0.1}))
    assert len(d.loss) == 100_000
    assert d.heat.image().shape[1] <= d.heat.columns  # the heatmap never grows past its frame


def test_plot_data_is_peak_decimated_past_the_limit():
    s = Series()
    rng = np.random.default_rng(0)
    y = rng.normal(size=200_000)
    y[123_457] = 50.0  # a spike must survive decimation
    y[7] = -40.0
    for i, v in enumerate(y):
        s.append(i, v)
    px, py = s.plot_data()
    assert len(px) <= Series.MAX_PLOT + 2 * s._bucket
    assert py.max() == 50.0 and py.min() == -40.0
    assert np.all(np.diff(px) > 0)  # still in step order
    assert px[-1] == 199_999  # the newest point is always there
    for i in range(200_000, 200_100):  # appending more keeps it bounded
        s.append(i, 0.0)
    px2, _ = s.plot_data()
    assert len(px2) <= Series.MAX_PLOT + 2 * s._bucket and px2[-1] == 200_099
