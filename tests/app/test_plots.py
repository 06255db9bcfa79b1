"""The live plots as a user reads them: legends outside the curves, legible log axes, an x
range that follows the data, nothing left over from the last project's run."""
import math

import pytest
import pyqtgraph as pg

from app.plotdata import LiveData
from app.plots import DecadeAxis, LivePlots
from runtime.events import EpochEnd, GradStats, Started, Step


@pytest.fixture
def plots(qtbot):
    p = LivePlots(LiveData())
    qtbot.addWidget(p)
    p.resize(1200, 360)
    p.show()
    return p


def feed_run(plots, layers=("fc1", "fc2"), steps=100, total=125_000):
    d = plots.data
    d.feed(Started("cpu", "CPU", 1, total, total, 1000, 100, 10, list(layers), "supervised", 10))
    for step in range(10, steps + 1, 10):
        d.feed(Step(step, 1, 1.0 / step, 0.01, 1000.0))
        d.feed(GradStats(step, {l: 0.1 for l in layers}))
    d.feed(EpochEnd(1, steps, {"loss": 0.1, "accuracy": 0.9, "val_loss": 0.2,
                               "val_accuracy": 0.8}, 1.0))
    plots.refresh()


def test_legends_are_in_the_titles_not_over_the_curves(plots):
    feed_run(plots)
    t = plots.titles()
    for name in ("per step", "smoothed", "epoch", "validation"):
        assert name in t["loss"]
    assert "accuracy" in t["metric"] and "■ validation" in t["metric"]  # one entry, both marks
    assert "fc1" in t["grad"] and "fc2" in t["grad"]
    for plot in (plots.loss_plot, plots.metric_plot, plots.grad_plot):
        assert plot.legend is None  # no legend box inside the data area


def test_each_metric_has_its_own_colour_and_its_validation_twin_shares_it(plots):
    d = plots.data
    d.feed(Started("cpu", "CPU", 1, 100, 100, 1000, 100, 10, ["fc1"], "supervised", 10))
    d.feed(Step(10, 1, 0.5, 0.01, 1000.0))
    d.feed(EpochEnd(1, 10, {"loss": 0.4, "accuracy": 0.9, "val_loss": 0.5, "val_accuracy": 0.8,
                            "val_map50": 0.7, "val_map": 0.5, "val_ap50.circle": 0.6}, 1.0))
    plots.refresh()
    legend = {c._ll_legend[0]: c._ll_legend[1:] for c in plots.metric_curves.values()}
    assert legend["accuracy"][0] == legend["val_accuracy"][0]
    assert (legend["accuracy"][1], legend["val_accuracy"][1]) == ("●", "■")
    vals = [legend[n][0] for n in ("val_accuracy", "val_map50", "val_map", "val_ap50.circle")]
    assert len(set(vals)) == 4  # a detector's mAPs and per-class APs are told apart
    assert "map50" in plots.titles()["metric"]


def test_a_long_list_of_layers_is_cut_short_in_the_title(plots):
    feed_run(plots, layers=[f"l{i}" for i in range(12)])
    assert "l7" in plots.titles()["grad"] and "l8" not in plots.titles()["grad"]
    assert "4 more" in plots.titles()["grad"]


def test_x_range_follows_the_data_not_the_planned_total(plots):
    feed_run(plots, steps=100, total=125_000)
    lo, hi = plots.loss_plot.viewRange()[0]
    assert hi < 1_000, hi  # not 125,000: the first steps are not squashed into a corner
    assert hi >= 100
    d = plots.data
    for step in range(110, 5_001, 10):
        d.feed(Step(step, 1, 0.01, 0.01, 1000.0))
    plots.refresh()
    assert 5_000 <= plots.loss_plot.viewRange()[0][1] < 10_000


def test_x_range_never_passes_the_run_length(plots):
    feed_run(plots, steps=100, total=120)
    assert plots.loss_plot.viewRange()[0][1] <= 120 * 1.03


def test_clear_forgets_the_last_run(plots):
    feed_run(plots, layers=("conv1", "conv2"))
    plots.data.reset()
    plots.clear()
    ticks = plots.heat_plot.getAxis("left")._tickLevels
    assert not ticks or not any(ticks[0]), ticks  # old layer names gone
    assert "conv1" not in plots.titles()["grad"]
    assert plots.loss_plot.viewRange()[0][1] < 100
    assert not plots.ranges["metric"].fixed  # the accuracy axis is not kept for the next run


def test_log_axis_labels_whole_decades_and_thins_them_to_fit():
    axis = DecadeAxis("left")
    levels = axis.logTickValues(-12.0, 1.0, 120, [])
    labelled = [v for v in levels[0][1]]
    strings = axis.logTickStrings(labelled, 1, 1)
    assert len(labelled) <= 120 // DecadeAxis.PX_PER_LABEL  # they fit, no overlap
    assert all(float(v).is_integer() for v in labelled)
    assert all(s for s in strings)
    minor = levels[1][1]
    assert all(s == "" for s in axis.logTickStrings(minor, 1, 1))  # unlabelled minor ticks
    assert axis.logTickStrings([0.0, -3.0, -6.0], 1, 1) == ["1", "0.001", "1e-6"]
    # Less than a decade: 1-2-5 steps, so the axis still has numbers.
    levels = axis.logTickValues(math.log10(0.02), math.log10(0.09), 120, [])
    assert axis.logTickStrings(levels[0][1], 1, 1) == ["0.02", "0.05"]
    # One decade mark in view (a loss between 0.45 and 1.5): not a lone "1".
    levels = axis.logTickValues(math.log10(0.45), math.log10(1.5), 120, [])
    assert axis.logTickStrings(levels[0][1], 1, 1) == ["0.5", "1"]


def test_vanishing_gradients_at_the_start_are_said_in_words(plots):
    d = plots.data
    d.feed(Started("cpu", "CPU", 1, 100, 100, 1000, 100, 10, ["fc1", "fc2"], "supervised", 10))
    for step in (10, 20):
        d.feed(GradStats(step, {"fc1": 0.0, "fc2": 0.0}))
    plots.refresh()
    assert plots.warning.isHidden()  # two samples are not yet a verdict
    d.feed(GradStats(30, {"fc1": 0.0, "fc2": 0.0}))
    plots.refresh()
    assert plots.warning.isVisible()
    assert "vanishing" in plots.warning.text() and "exactly zero" in plots.warning.text()
    assert "standardise features" in plots.warning.text()
    d.feed(GradStats(40, {"fc1": 0.5, "fc2": 0.2}))  # recovered
    plots.refresh()
    assert plots.warning.isHidden()


def test_healthy_and_exploding_gradients():
    from app.plotdata import gradient_warning
    healthy = [{"a": 0.3, "b": 1e-5}] * 3  # one small layer is not a vanishing network
    assert gradient_warning(healthy) is None
    boom = [{"a": 0.3}, {"a": 5e4}, {"a": 1.0}]
    assert "exploding" in gradient_warning(boom) and "clipping" in gradient_warning(boom)


def test_a_recurrent_run_shows_the_gradient_per_time_step(plots):
    """The vanishing gradient made visible: |dL/dx_t| over t, now and at the start, in the
    learning rate's place; back to the learning rate for the next run."""
    d = plots.data
    d.feed(Started("cpu", "CPU", 1, 100, 100, 1000, 100, 10, ["rnn", "head"], "supervised", 10))
    early = [10.0 ** (-12 + 0.2 * t) for t in range(50)]  # falls by 10 decades to t = 0
    d.feed(GradStats(10, {"rnn": 0.1, "head": 0.2}, {"rnn": early}))
    d.feed(GradStats(20, {"rnn": 0.1, "head": 0.2}, {"rnn": [1e-5] * 50}))
    plots.refresh()
    assert plots.time_plot.isVisible() and not plots.lr_plot.isVisible()
    now, first = plots.time_curves["rnn"]
    assert list(now.yData) == [1e-5] * 50
    assert first.yData[0] == early[0]  # the run's first profile, kept
    assert plots.time_plot in plots.view.ci.items and plots.lr_plot not in plots.view.ci.items
    assert "rnn now" in plots.titles()["time"] and "at the start" in plots.titles()["time"]
    d.reset()
    plots.clear()
    assert plots.lr_plot.isVisible() and not plots.time_plot.isVisible()
    assert plots.lr_plot in plots.view.ci.items and plots.time_plot not in plots.view.ci.items
    assert plots.time_curves == {}


def test_a_feed_forward_run_keeps_the_learning_rate(plots):
    feed_run(plots)
    assert plots.lr_plot.isVisible() and not plots.time_plot.isVisible()


@pytest.mark.parametrize("metrics", [1, 5, 8, 12])
@pytest.mark.parametrize("width", [1100, 1500])
def test_every_plot_stays_inside_the_window_with_many_metrics_and_layers(qtbot, metrics, width):
    """Issue 23, item 12: with 5-8 metrics the legend widened its plot and pushed the
    learning rate and the heatmap past the window's edge; 16 layers' names overlapped."""
    names = ["map50", "map", "ap50.circle", "ap50.square", "ap50.triangle", "mask_map50",
             "mask_map", "mask_iou", "accuracy", "mae", "exact_match", "quality"][:metrics]
    layers = [f"layer_{i}_conv" for i in range(16)]
    p = LivePlots(LiveData())
    qtbot.addWidget(p)
    p.resize(width, 360)
    p.show()
    qtbot.waitExposed(p)
    d = p.data
    d.feed(Started("cpu", "CPU", 4, 100, 400, 1000, 200, 1000, layers, "supervised", 10))
    for s in range(10, 401, 10):
        d.feed(Step(s, 1 + s // 100, 2 * math.exp(-s / 100), 0.01, 100.0))
        d.feed(GradStats(s, {l: 0.1 * (i + 1) for i, l in enumerate(layers)}))
        if s % 100 == 0:
            m = {"loss": 1.0, "val_loss": 1.1}
            m.update({k: 0.5 for k in names})
            m.update({f"val_{k}": 0.4 for k in names})
            d.feed(EpochEnd(s // 100, s, m, 1.0))
    p.refresh()
    qtbot.wait(50)
    edge = p.view.width()
    for key, plot in p._plots().items():
        if plot.isVisible():
            assert plot.sceneBoundingRect().right() <= edge + 1, key
    bar = p.colorbar.sceneBoundingRect()
    assert bar.right() <= edge + 1  # the colour bar's labels are not cut off
    title = p.titles()["metric"]
    assert all(n in title for n in names) and "validation" in title
    # the heatmap's row labels are far enough apart to be read
    ticks = p.heat_plot.getAxis("left")._tickLevels[0]
    ys = [p.heat_plot.vb.mapViewToScene(pg.Point(0, y)).y() for y, _ in ticks]
    assert len(ticks) >= 2 and min(b - a for a, b in zip(ys, ys[1:])) >= 12
