"""A GAN in the app (issue 12): trained from Train > Run, its samples live beside the plots,
its players' curves, its sub-networks set from the inspector and tagged on the canvas."""
import pytest
from PySide6.QtWidgets import QComboBox

from tests.app.test_training import project_copy, twin, wait_until  # noqa: F401 (fixture)


@pytest.fixture(autouse=True)
def answers():
    return None


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_gan_trains_from_the_run_action_with_live_samples_and_both_players_curves(qapp, twin,
                                                                                   tmp_path):
    w = twin
    w.open_path(project_copy(tmp_path, "gan", epochs=12), ask=False)
    events = []
    w.trainer.event.connect(events.append)
    try:
        w.a_run.trigger()  # Train > Run, as a user does
        wait_until(qapp, lambda: w.live.samples is not None, 60)
        wait_until(qapp, lambda: w.docks["samples"].isVisible()
                   and "modes covered" in w.samples.label.text(), 10)
        x, y = w.samples.fake.getData()
        assert len(x) == 512 and len(w.samples.real.getData()[0]) == 512
        wait_until(qapp, lambda: w.trainer.state == "idle" and events, 120)
    finally:
        w.trainer.event.disconnect(events.append)
    assert events[-1].kind == "finished", events[-1]
    assert {"modes", "quality", "d_loss.loss", "g_loss.loss"} <= set(events[-1].metrics)
    w._refresh_live()
    assert set(w.plots.value_curves) == {"d_loss.loss", "g_loss.loss", "D(x)", "D(G(z))"}
    title = w.plots.titles()["values"]
    assert "d_loss.loss" in title and "D(G(z))" in title
    assert len(w.plots.value_curves["g_loss.loss"].getData()[0]) > 5
    run = w.training.runs.item(0).data(0x0100)
    header = (run.folder / "steps.csv").read_text().splitlines()[0]
    assert header.endswith("d_loss.loss,g_loss.loss,D(x),D(G(z))")


def test_sub_network_set_from_the_inspector_is_tagged_and_undoable(qapp, twin, tmp_path):
    w = twin
    w.open_path(project_copy(tmp_path, "gan"), ask=False)
    w._select(["g1"])
    qapp.processEvents()
    combo = w.inspector.findChild(QComboBox, "subnet")
    assert combo is not None and combo.currentText() == "generator"
    assert w.scene.nodes["g1"].subnet == "generator"
    combo.setEditText("encoder")
    combo.lineEdit().editingFinished.emit()
    g = w.doc.graph
    assert g.subnets["encoder"] == ["g1"] and "g1" not in g.subnets["generator"]
    assert w.scene.nodes["g1"].subnet == "encoder"
    assert "sub-network 'encoder'" in w.scene.nodes["g1"].toolTip()
    w.a_undo.trigger()
    assert "encoder" not in g.subnets and "g1" in g.subnets["generator"]
    assert w.scene.nodes["g1"].subnet == "generator" and combo.currentText() == "generator"
    combo.setEditText("not a name!")
    combo.lineEdit().editingFinished.emit()
    assert "sub-network name" in w.inspector.error.text()
    assert "g1" in g.subnets["generator"]


def test_image_grid_and_the_samples_caption():
    import numpy as np
    from app.samples_view import describe, image_grid
    imgs = np.zeros((5, 1, 8, 8), np.float32)
    imgs[:, 0, 2, 3] = 1.0
    grid = image_grid(imgs)
    assert grid.shape == (2 * 9 + 1, 3 * 9 + 1)  # ⌈√5⌉ = 3 columns, 2 rows, 1-pixel gaps
    assert grid[1 + 2, 1 + 3] == 0.0 and grid[0, 0] == 1.0  # ink dark on white
    assert describe({"modes": 8, "quality": 0.934}) == \
        "8 modes covered, 93% of samples within 3σ of a mode"
    assert describe({"digits": 10, "confidence": 0.91}).startswith("10 of 10 digits read")
    assert describe({"fid": 3.25}) == "fid 3.25"


def test_optimizer_records_edited_in_the_training_panel(qapp, twin, tmp_path):
    w = twin
    w.open_path(project_copy(tmp_path, "gan"), ask=False)
    ed = w.training.records
    t = ed.table
    assert t.rowCount() == 2 and t.item(1, 0).text() == "generator"
    assert not w.training.fields["lr"].isEnabled()  # the records' own rates are used
    col = {name: i for i, (name, _, _) in enumerate(__import__(
        "app.records_editor", fromlist=["COLUMNS"]).COLUMNS)}
    t.item(1, col["lr"]).setText("0.0005")  # as the cell's editor commits it
    recs = w.doc.project.training.optimizers
    assert recs[1].lr == 0.0005 and recs[0].lr == 0.001
    assert w.doc.undo.undoText() == "Edit the optimizer records"
    w.a_undo.trigger()
    assert w.doc.project.training.optimizers[1].lr == 0.001
    assert ed.table.item(1, col["lr"]).text() == "0.001"
    ed.table.item(0, col["lr"]).setText("-1")
    assert "optimizer record 1, lr: Input should be greater than 0" in \
        w.training.error.text()
    ed.table.item(0, col["every"]).setText("two")
    assert "every must be a whole number" in w.training.error.text()
    assert w.doc.project.training.optimizers[0].every == 1
    ed.table.selectRow(1)
    ed.remove_btn.click()
    assert [r.name for r in w.doc.project.training.optimizers] == ["discriminator"]
    assert w.training.fields["lr"].isEnabled() is False
    ed.add_btn.click()  # the free sub-network and loss are proposed
    new = w.doc.project.training.optimizers[1]
    assert (new.name, new.subnet, new.losses) == ("generator", "generator", ["g_loss"])
    ed.remove_btn.click()
    ed.table.selectRow(0)
    ed.remove_btn.click()
    assert w.doc.project.training.optimizers == []
    assert w.training.fields["lr"].isEnabled()


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_try_the_digit_generator_shows_a_generated_image(qapp, qtbot, twin, tmp_path):
    from tests.app.test_training import _tried, run_to_end
    w = twin
    w.open_path(project_copy(tmp_path, "gan_digits", epochs=3), ask=False)
    assert run_to_end(qapp, w)[-1].kind == "finished"
    panel = _tried(qapp, qtbot, w)
    text = panel.text.toPlainText()
    assert "'digits': image 1 × 8 × 8" in text, text  # noise in, a digit out: no data bound
    assert not panel.image.isHidden() and not panel.image.pixmap().isNull()
    panel.index.setValue(5)  # another noise sample
    assert panel.text.toPlainText() != text


def test_try_the_ring_generator_shows_noise_and_points_not_class_probabilities(qapp, qtbot,
                                                                               twin, tmp_path):
    """Issue 23, item 2: z is noise and the sample a point on the ring's plot."""
    from tests.app.test_training import _tried, run_to_end
    w = twin
    w.open_path(project_copy(tmp_path, "gan", epochs=1), ask=False)
    assert run_to_end(qapp, w)[-1].kind == "finished"
    panel = _tried(qapp, qtbot, w)
    panel.index.setValue(4)
    text = panel.text.toPlainText()
    assert "%" not in text.split("The 64 samples")[0], text  # nothing read as probabilities
    assert "noise 'z': 8 values drawn from N(0, I), the same each time (sample 4 of 64)" in text
    p = panel.tryout.sample(4).outputs["samples"]
    assert f"generated 'samples': the point ({float(p[0]):.3f}, {float(p[1]):.3f})" in text
    assert "modes covered" in text and "Samples view" in text
    assert not panel.plot.isHidden() and panel.image.isHidden()
    items = panel.plot.getPlotItem().listDataItems()
    real, fake, chosen = (i.getData() for i in items)
    assert len(real[0]) == 512 and len(fake[0]) == 64  # the real ring, the fixed noise's samples
    assert (float(chosen[0][0]), float(chosen[1][0])) == pytest.approx((float(p[0]), float(p[1])))
