"""The buffers behind the live plots (no Qt)."""
import math

import numpy as np
import pytest

from app.plotdata import HeatMap, LiveData, Series
from runtime.events import EpochEnd, GradStats, Paused, Resumed, Started, Step


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


def _tensorboard(values, weight):
    """TensorBoard's smoothing (its scalar dashboard's debiased EMA), point by point."""
    last, out = 0.0, []
    for i, v in enumerate(values, 1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight ** i))
    return out


def test_smoothing_at_every_step_is_tensorboards():
    from app.plotdata import smoothed
    rng = np.random.default_rng(0)
    y = list(np.exp(-np.arange(300) / 50) + 0.1 * rng.random(300))
    assert np.allclose(smoothed(range(300), y), _tensorboard(y, 0.9))


def test_the_smoothed_loss_follows_the_loss_at_any_logging_interval():
    """Issue 23, item 3: smoothing by steps, not by logged points (at 0.1 per point logged
    every 10 steps it lagged ~100 steps: 0.070 where the loss was 0.003)."""
    loss = lambda s: 3.0 * 0.983 ** s  # noqa: E731  (3.0 at step 0, ~0.003 at step 400)
    curves = {}
    for every in (1, 10, 50):
        d = LiveData()
        d.feed(Started("cpu", "CPU", 2, 400, 400, 1000, 100, every, ["fc"], "supervised", 1))
        for step in range(every, 401, every):
            d.feed(Step(step, 1, loss(step), 0.01, 1000.0))
        x, y = d.smooth.data()
        curves[every] = dict(zip(x.tolist(), y.tolist()))
        assert y[-1] < 1.5 * loss(400)  # within a few steps' lag of the loss
    # the same curve where the logged points meet, whatever the interval
    assert curves[10][400] == pytest.approx(curves[1][400], rel=0.1)
    assert curves[50][400] == pytest.approx(curves[10][400], rel=0.1)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_the_time_left_counts_each_epochs_evaluation_and_not_the_warm_up(monkeypatch):
    """Issue 23, item 18: a detector's ETA grew as it went (its epoch-end mAP evaluation was
    not counted); right after a resume the ETA said 5 min for 30 s of work (the first steps
    after a start hold the warm-up, and a pause is not training time)."""
    import app.plotdata as pd
    clock = Clock()
    monkeypatch.setattr(pd.time, "perf_counter", clock)
    d = LiveData()
    d.feed(Started("cpu", "CPU", 4, 100, 400, 1000, 200, 10, ["fc"], "supervised", 10))
    clock.t += 5.0  # a slow first step: warm-up
    d.feed(Step(10, 1, 1.0, 0.01, 100.0))
    for step in range(20, 101, 10):  # then 10 steps per second
        clock.t += 1.0
        d.feed(Step(step, 1, 1.0, 0.01, 100.0))
    assert d.steps_per_s == pytest.approx(10.0)
    assert d.eta_seconds() == pytest.approx(30.0)  # 300 steps left, no evaluation seen yet
    clock.t += 6.0  # the evaluation at the epoch's end
    d.feed(EpochEnd(1, 100, {"loss": 1.0}, 16.0))
    # 300 steps at 10/s, and 3 more epoch ends plus the final evaluation at 6 s each
    assert d.eta_seconds() == pytest.approx(30.0 + 4 * 6.0)
    d.feed(Paused(100, 1))
    clock.t += 120.0  # two minutes paused
    d.feed(Resumed(100, 1))
    clock.t += 3.0  # the first steps after the resume are slow again
    d.feed(Step(110, 2, 1.0, 0.01, 100.0))
    for step in range(120, 201, 10):
        clock.t += 1.0
        d.feed(Step(step, 2, 1.0, 0.01, 100.0))
    assert d.steps_per_s == pytest.approx(10.0)
    assert d.eta_seconds() == pytest.approx(20.0 + 4 * 6.0)  # epoch 2 has not ended yet


def test_a_resumed_run_draws_the_steps_before_its_stop():
    """Issue 23, item 18: after resuming, the plots dropped the steps before the stop."""
    d = LiveData()
    d.resume_from({"step": [10.0, 20.0, 30.0], "epoch": [1.0, 1.0, 1.0],
                   "loss": [3.0, 2.0, 1.5], "lr": [0.1, 0.1, 0.1],
                   "samples_per_s": [5.0, 5.0, 5.0]},
                  {"epoch": [1.0], "step": [30.0], "seconds": [2.0], "loss": [1.9],
                   "val_loss": [2.1], "accuracy": [0.5]},
                  {"step": [10.0, 20.0, 30.0], "fc": [0.1, 0.2, 0.3]})
    d.feed(Started("cpu", "CPU", 2, 30, 60, 1000, 200, 10, ["fc"], "supervised", 10))
    d.feed(Step(40, 2, 1.2, 0.1, 5.0))
    assert d.loss.data()[0].tolist() == [10, 20, 30, 40]
    assert d.smooth.data()[1][-1] < 3.0  # the smoothing goes on from the old steps
    assert d.epoch["val_loss"].data()[1].tolist() == [2.1]
    assert d.grads["fc"].data()[1].tolist() == [0.1, 0.2, 0.3]
    assert d.resumed_at == 30 and d.epochs_done == 1
    d.feed(Started("cpu", "CPU", 2, 30, 60, 1000, 200, 10, ["fc"], "supervised", 10))
    assert len(d.loss) == 0 and d.resumed_at is None  # the next run starts afresh
