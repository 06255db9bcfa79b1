"""The inside of the network while it trains, in the window (issue 28): a classifier of 2-D
points (the mlp template) gets the live decision boundary beside the plots, and every run
with ReLU layers a row of dead-unit shares in the live plots; both go when another run
starts."""
import numpy as np
import pytest

from tests.app.test_training import project_copy, twin, wait_until  # noqa: F401 (fixture)


@pytest.fixture(autouse=True)
def answers():
    return None


def _colours(widget) -> set[tuple[int, int, int]]:
    img = widget.grab().toImage()
    return {img.pixelColor(x, y).getRgb()[:3] for x in range(0, img.width(), 3)
            for y in range(0, img.height(), 3)}


@pytest.mark.slow  # a whole run through the training process: over 4.5 s
def test_an_mlp_run_shows_its_boundary_and_its_dead_units(qapp, twin, tmp_path):
    from app.try_boundary import region_colour
    w = twin
    w.open_path(project_copy(tmp_path, "mlp", epochs=6), ask=False)
    events = []
    w.trainer.event.connect(events.append)
    try:
        w.a_run.trigger()  # Train > Run, as a user does
        wait_until(qapp, lambda: w.trainer.state == "idle" and events, 120)
    finally:
        w.trainer.event.disconnect(events.append)
    assert events[-1].kind == "finished", events[-1]
    w._refresh_live()
    frames = [e for e in events if e.kind == "boundaryframe"]
    assert frames and frames[-1].final
    view = w.live_boundary
    assert w.docks["boundary"].isVisible()
    assert view.frame is frames[-1]  # the last frame drawn
    image = view.box.plane.image
    assert image.shape == (64, 64, 4)
    # row i of the picture is row i of the grid (up x₂), coloured by the predicted class
    want = np.array([region_colour(int(k)).getRgb() for k in frames[-1].grid().ravel()])
    assert (image.reshape(-1, 4) == want).all()
    seen = _colours(view.box.view)
    assert {region_colour(0).getRgb()[:3], region_colour(1).getRgb()[:3]} <= seen
    assert len(view.box.points.getData()[0]) == 200
    text = view.box.legend.text()
    assert "end of the run" in text and "64 × 64 grid; x₁ across, x₂ up" in text
    acc = events[-1].metrics["val_accuracy"]
    assert f"({acc:.1%})" in text  # the points on their side: the run's validation accuracy
    # the dead units: a row of the live plots, a curve per ReLU layer, named in the title
    acts = [e for e in events if e.kind == "activations"]
    dead = w.plots.dead
    assert acts and dead.shown and set(dead.curves) == {"relu1", "relu2"}
    x, y = dead.curves["relu2"].getData()
    assert list(x) == [e.step for e in acts]
    assert list(y) == pytest.approx([e.layers["relu2"]["dead"] / 64 for e in acts])
    title = dead.plot.titleLabel.text
    assert f"dead ReLU units at step {acts[-1].step:,}" in title
    last = acts[-1].layers["relu2"]
    if last["dead"]:
        assert f"relu2 {last['dead']}/64 (units {last['dead_units'][0]}" in title
    # another run: both views are cleared as it starts
    assert w.start_training()
    assert not w.docks["boundary"].isVisible() and view.frame is None
    assert not dead.shown and not dead.curves
    w.trainer.stop()
    wait_until(qapp, lambda: w.trainer.state == "idle", 60)
