"""The training panel as a user touches it: the wheel, the CSV columns, the automatic
binding, the progress line, and what is left after another project opens."""
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QListWidget, QScrollArea

from app.plotdata import LiveData
from graph.project import load
from runtime.events import Started, Step

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"


def wheel(widget, dy: int) -> None:
    """A mouse-wheel notch over `widget`, as the window system delivers it."""
    pos = QPointF(5, 5)
    ev = QWheelEvent(pos, QPointF(widget.mapToGlobal(QPoint(5, 5))), QPoint(0, 0),
                     QPoint(0, dy), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


@pytest.fixture
def mlp(win, tmp_path):
    path = tmp_path / "mlp.json"
    load(TEMPLATES / "mlp.json").save(path)
    win.open_path(path, ask=False)
    win.docks["training"].show()
    win.docks["training"].raise_()
    return win


def test_wheel_over_the_form_scrolls_it_and_changes_nothing(mlp, qtbot):
    panel = mlp.training
    panel.resize(panel.width(), 260)  # short: the form scrolls
    qtbot.waitUntil(lambda: panel.findChild(QScrollArea).verticalScrollBar().maximum() > 0)
    bar = panel.findChild(QScrollArea).verticalScrollBar()
    opt = panel.fields["optimizer"]
    batch = panel.fields["batch_size"]
    before = (mlp.doc.project.training.optimizer, mlp.doc.project.training.batch_size)
    bar.setValue(bar.maximum() // 2)
    start = bar.value()
    for _ in range(3):
        wheel(opt, +120)  # up: adam -> minibatch -> sgd -> gd, had it been taken
        wheel(batch, +120)
    assert opt.currentData() == before[0] and batch.value() == before[1]
    assert (mlp.doc.project.training.optimizer,
            mlp.doc.project.training.batch_size) == before
    assert bar.value() < start  # the panel scrolled instead
    # With focus (clicked into), the wheel does change the value, as usual in Qt.
    opt.setFocus()
    qtbot.waitUntil(opt.hasFocus)
    wheel(opt, +120)
    assert opt.currentData() != before[0]


def test_wheel_over_an_inspector_field_without_focus_changes_nothing(win, qtbot, tmp_path):
    path = tmp_path / "cnn.json"
    load(TEMPLATES / "cnn.json").save(path)
    win.open_path(path, ask=False)
    win.scene.nodes["conv1"].setSelected(True)
    spin = win.inspector._fields["out_channels"]
    value = spin.value()
    wheel(spin, +120)
    assert spin.value() == value and win.doc.graph.params("conv1")["out_channels"] == value


def test_opening_another_project_forgets_the_last_runs_progress(mlp, tmp_path):
    w = mlp
    w.live.feed(Started("cpu", "CPU", 10, 100, 1000, 100, 10, ["fc1", "fc2", "fc3"],
                        "supervised", 10))
    for s in range(10, 400, 10):
        w.live.feed(Step(s, 1, 0.5, 0.01, 9000.0))
    w.training.show_progress(w.live)
    w.training.show_error("Training failed: something")
    w.plots.refresh()
    assert "step 390" in w.training.status.text() and w.training.progress.value() > 0
    other = tmp_path / "cnn.json"
    load(TEMPLATES / "cnn.json").save(other)
    w.open_path(other, ask=False)
    assert w.training.status.text() == "Ready."
    assert w.training.progress.value() == 0 and not w.training.error.isVisible()
    assert "left" not in w.training.status.text()
    assert "fc1" not in w.plots.titles()["grad"]
    assert w.plots.loss_plot.viewRange()[0][1] < 100
    w.a_new.trigger()
    assert w.training.status.text() == "Ready."


def test_progress_says_paused_and_the_eta_is_a_duration(mlp):
    panel, data = mlp.training, LiveData()
    data.feed(Started("cpu", "CPU", 10, 100, 1000, 100, 10, ["fc1"], "supervised", 10))
    data.feed(Step(100, 1, 0.5, 0.01, 9000.0))
    data.steps_per_s = 10.0
    panel.set_state("running")
    panel.show_progress(data)
    assert "about 1 min 30 s left" in panel.status.text()
    panel.set_state("paused")
    assert panel.status.text().startswith("Paused at step 100 of 1,000")
    panel.show_progress(data)  # the plots' timer keeps refreshing: it stays in words
    assert panel.status.text().startswith("Paused")
    assert "left" not in panel.status.text()


def _choose_dataset(panel, name):
    ds = panel.dataset
    ds.setCurrentIndex(ds.findData(name))


def test_choosing_a_dataset_binds_its_fields_when_they_match_one_to_one(win, tmp_path):
    p = load(TEMPLATES / "mlp.json")
    p.data.dataset, p.data.bind = "", {}
    path = tmp_path / "unbound.json"
    p.save(path)
    win.open_path(path, ask=False)
    assert win.doc.project.data.bind == {}
    _choose_dataset(win.training, "xor")
    assert win.doc.project.data.bind == {"x": "x", "label": "y"}
    assert win.training.findChild(QComboBox, "bind_label").currentData() == "y"
    assert win.a_undo.text() == "&Undo Use the dataset 'XOR'"
    win.a_undo.trigger()
    assert win.doc.project.data.bind == {} and win.doc.project.data.dataset == ""


def test_npz_fields_named_like_the_nodes_bind_themselves(win, tmp_path):
    import numpy as np
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 2), np.float32), label=np.zeros(20, np.int64))
    p = load(TEMPLATES / "mlp.json")
    p.data.bind = {}
    path = tmp_path / "p.json"
    p.save(path)
    win.open_path(path, ask=False)
    _choose_dataset(win.training, "npz")
    edit = win.training.findChild(QWidget_, "option_path")
    edit.setText("d.npz")
    edit.editingFinished.emit()
    assert win.doc.project.data.bind == {"x": "x", "label": "label"}


from PySide6.QtWidgets import QLineEdit as QWidget_  # noqa: E402


def test_csv_label_and_features_are_chosen_from_the_columns(win, tmp_path, qtbot):
    (tmp_path / "pts.csv").write_text("a,b,c,cls\n" + "\n".join(
        f"{i % 7},{i % 5},{i % 3},{'yes' if i % 2 else 'no'}" for i in range(40)))
    path = tmp_path / "p.json"
    load(TEMPLATES / "mlp.json").save(path)
    win.open_path(path, ask=False)
    panel = win.training
    _choose_dataset(panel, "csv")
    edit = panel.findChild(QWidget_, "option_path")
    edit.setText("pts.csv")
    edit.editingFinished.emit()
    label = panel.findChild(QComboBox, "option_label")
    assert [label.itemText(i) for i in range(1, label.count())] == ["a", "b", "c", "cls"]
    label.setCurrentIndex(label.findData("cls"))
    label.activated.emit(label.currentIndex())
    assert win.doc.project.data.options["label"] == "cls"
    feats = panel.findChild(QListWidget, "option_features")
    items = {feats.item(i).text(): feats.item(i) for i in range(feats.count())}
    assert not items["cls"].flags() & Qt.ItemIsEnabled  # the label is not a feature
    assert all(items[c].checkState() == Qt.Checked for c in "abc")
    assert "features" not in win.doc.project.data.options  # all: none named
    items["b"].setCheckState(Qt.Unchecked)
    assert win.doc.project.data.options["features"] == ["a", "c"]
    assert win.a_undo.text().startswith("&Undo Set the data option features")
    items["a"].setCheckState(Qt.Unchecked)
    items["c"].setCheckState(Qt.Unchecked)  # none left: refused, with the reason
    assert win.doc.project.data.options["features"] == ["c"]
    assert "at least one feature" in panel.error.text()


def test_a_csv_with_a_duplicated_column_name_is_refused_in_the_preview(win, tmp_path):
    (tmp_path / "dup.csv").write_text("a,a,label\n1,2,0\n3,4,1\n")
    path = tmp_path / "p.json"
    load(TEMPLATES / "mlp.json").save(path)
    win.open_path(path, ask=False)
    _choose_dataset(win.training, "csv")
    edit = win.training.findChild(QWidget_, "option_path")
    edit.setText("dup.csv")
    edit.editingFinished.emit()
    assert "'a' (columns 1, 2)" in win.training.preview_note.text()
    assert win.training.preview.isHidden()


def test_standardise_features_is_a_checkbox_in_the_data_section(mlp, qtbot):
    box = mlp.training.standardize
    assert not box.isChecked() and not mlp.doc.project.data.standardize
    qtbot.mouseClick(box, Qt.LeftButton)
    assert mlp.doc.project.data.standardize is True
    assert mlp.a_undo.text() == "&Undo Standardise the features"
    mlp.a_undo.trigger()
    assert not box.isChecked() and not mlp.doc.project.data.standardize


def test_an_image_folder_is_sized_from_the_input_and_previewed(win, tmp_path, qtbot):
    from PIL import Image
    for cls, colour in (("cats", (200, 40, 40)), ("dogs", (40, 40, 200))):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (20 + i, 16), colour).save(tmp_path / "pics" / cls / f"{i}.png")
    path = tmp_path / "cnn.json"
    load(TEMPLATES / "cnn.json").save(path)  # Input 'image': 1 × 8 × 8
    win.open_path(path, ask=False)
    panel = win.training
    _choose_dataset(panel, "images")
    assert win.doc.project.data.options == {"channels": 1, "height": 8, "width": 8}
    assert panel.findChild(QComboBox, "option_channels").currentData() == 1
    edit = panel.findChild(QWidget_, "option_path")
    edit.setText("pics")
    edit.editingFinished.emit()
    note = panel.preview_note.text()
    assert "2 classes, 6 images: cats 3, dogs 3" in note and "1 × 8 × 8" in note
    assert win.doc.project.data.bind == {"image": "x", "label": "y"}
    edit = panel.findChild(QWidget_, "option_path")
    edit.setText("nowhere")
    edit.editingFinished.emit()
    assert "nowhere" in panel.preview_note.text() and "c62828" in panel.preview_note.text()


def test_run_controls_and_progress_stay_in_view_when_the_form_is_scrolled(mlp, qtbot):
    panel = mlp.training
    panel.resize(panel.width(), 300)
    bar = panel.findChild(QScrollArea).verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    bar.setValue(bar.maximum())  # down at the runs list
    QApplication.processEvents()
    for w in (panel.run_btn, panel.stop_btn, panel.progress, panel.status):
        assert not w.visibleRegion().isEmpty(), w


def test_a_csv_time_series_is_previewed_and_its_columns_chosen(win, tmp_path):
    import math
    (tmp_path / "series.csv").write_text("day,temp,rain\n" + "".join(
        f"{i},{math.sin(i / 5):.4f},{i % 3}\n" for i in range(60)))
    path = tmp_path / "lstm.json"
    load(TEMPLATES / "lstm.json").save(path)
    win.open_path(path, ask=False)
    panel = win.training
    _choose_dataset(panel, "csv_series")
    edit = panel.findChild(QWidget_, "option_path")
    edit.setText("series.csv")
    edit.editingFinished.emit()
    assert not panel.preview.isHidden() and panel.preview.columnCount() == 3
    target = panel.findChild(QComboBox, "option_target")
    assert [target.itemText(i) for i in range(1, target.count())] == ["day", "temp", "rain"]
    target.setCurrentIndex(target.findData("temp"))
    target.activated.emit(target.currentIndex())
    assert win.doc.project.data.options["target"] == "temp"
    feats = panel.findChild(QListWidget, "option_features")
    feats.item(0).setCheckState(Qt.Unchecked)  # not the day number
    assert win.doc.project.data.options["features"] == ["temp", "rain"]


def test_best_metric_is_chosen_among_the_runs_metrics_and_refused_otherwise(mlp, qtbot):
    """Issue 23, item 4: a best_metric that names no metric is refused with the names that
    exist; a name without 'val_' whose validation twin exists means that twin."""
    panel = mlp.training
    box = panel.fields["best_metric"]
    box.showPopup()  # the list a user opens
    names = [box.itemText(i) for i in range(box.count())]
    assert names == ["loss", "accuracy", "val_loss", "val_accuracy"]
    box.hidePopup()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "map50")
    qtbot.keyClick(box.lineEdit(), Qt.Key_Return)
    assert mlp.doc.project.training.best_metric == ""
    assert panel.error.isVisible()
    assert ("this run reports no metric 'map50'; its metrics are loss, accuracy, val_loss, "
            "val_accuracy") in panel.error.text()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "accuracy")
    qtbot.keyClick(box.lineEdit(), Qt.Key_Return)
    assert mlp.doc.project.training.best_metric == "accuracy"
    assert not panel.error.isVisible()
    mlp.doc.undo.undo()
    assert mlp.doc.project.training.best_metric == "" and box.currentText() == ""


def test_the_training_form_fits_its_panel_and_the_runs_list_shows_six_runs(win, qtbot):
    """Issue 23, item 16: in the default layout the form needed both scroll bars, cut its
    labels and showed only the dataset row; the runs list was two lines tall."""
    win.resize(1500, 920)
    win.open_template(TEMPLATES / "cnn.json")
    win.docks["training"].show()
    win.docks["training"].raise_()
    qtbot.waitUntil(lambda: win.training.isVisible())
    QApplication.processEvents()
    panel = win.training
    scroll = panel.findChild(QScrollArea)
    assert scroll.horizontalScrollBar().maximum() == 0  # nothing sideways to scroll to
    assert scroll.widget().width() <= scroll.viewport().width()
    # more than the dataset row is in view: the bindings below it
    bind = panel.findChild(QComboBox, "bind_image")
    top = bind.mapTo(scroll.viewport(), QPoint(0, 0)).y()
    assert 0 <= top and top + bind.height() <= scroll.viewport().height()
    assert panel.standardize.sizeHint().width() <= scroll.viewport().width()
    assert panel.runs.minimumHeight() >= 6 * panel.runs.fontMetrics().height()


def test_selecting_a_node_with_many_parameters_leaves_the_canvas_where_it_is(win, qtbot):
    """Issue 23, item 16: a node with many parameters made the inspector dock taller and
    moved the canvas."""
    win.resize(1500, 920)
    win.open_template(TEMPLATES / "mask_rcnn.json")
    QApplication.processEvents()
    before = win.view.geometry()
    for node in ("rpn", "anchor_match", "image", "rpn"):  # the RPN block: its NMS settings
        win._select([node])
        QApplication.processEvents()
        assert win.view.geometry() == before, node
    assert len(win.inspector._fields) > 8  # many fields, in a scrolling form
    qtbot.waitUntil(lambda: win.inspector.scroll.verticalScrollBar().maximum() > 0)
