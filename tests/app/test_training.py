"""Training from the app: the run happens in the training process; the window plots it."""
import json
import shutil
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLineEdit

from app.document import EditRefused
from app.mainwindow import MainWindow
from graph.project import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def twin(qapp, tmp_path_factory):
    """One window (and training process) for the module's tests."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAYERLOOM_HOME", str(home))
    mp.setattr(MainWindow, "ask_save_changes", lambda self: "discard")
    mp.setattr(MainWindow, "show_error", lambda self, t, m: None)
    w = MainWindow()
    w.resize(1400, 900)
    w.show()
    w.trainer.ensure_worker()
    deadline = time.time() + 90
    while not w.trainer.devices and time.time() < deadline:
        qapp.processEvents()
        time.sleep(0.01)
    assert w.trainer.devices, "the training process did not start"
    yield w
    w.doc.undo.setClean()
    w.close()
    mp.undo()


@pytest.fixture(autouse=True)
def answers():  # the module-scoped window has its own prompt answers
    return None


def project_copy(tmp_path, name: str, **training) -> Path:
    p = load(ROOT / "templates" / f"{name}.json")
    for k, v in training.items():
        setattr(p.training, k, v)
    path = tmp_path / f"{name}.json"
    p.save(path)
    return path


def wait_until(qapp, cond, timeout=60.0, gaps=None):
    """Run the event loop until cond() holds; record event-loop gaps if asked."""
    deadline = time.time() + timeout
    last = time.perf_counter()
    while not cond():
        if time.time() > deadline:
            raise AssertionError("timed out")
        qapp.processEvents()
        now = time.perf_counter()
        if gaps is not None:
            gaps.append(now - last)
        last = now
        time.sleep(0.005)


def run_to_end(qapp, w, timeout=120):
    events = []
    w.trainer.event.connect(events.append)
    try:
        assert w.start_training()
        wait_until(qapp, lambda: w.trainer.state == "idle" and events, timeout)
    except AssertionError:
        # A run that overran must not leave the shared window busy for the tests after it.
        w.trainer.stop()
        wait_until(qapp, lambda: w.trainer.state == "idle", 60)
        raise
    finally:
        w.trainer.event.disconnect(events.append)
    return events


def test_start_see_points_stop_within_a_second_resume(qapp, twin, tmp_path):
    w = twin
    w.open_path(project_copy(tmp_path, "cnn", epochs=400), ask=False)
    events = []
    w.trainer.event.connect(events.append)
    gaps = []
    assert w.start_training()
    wait_until(qapp, lambda: len(w.live.loss) >= 5 and len(w.live.heat.image()[0]) >= 2,
               60, gaps)
    # Points arrive in the plots.
    wait_until(qapp, lambda: w.plots.c_loss.getData()[0] is not None
               and len(w.plots.c_loss.getData()[0]) >= 5, 10, gaps)
    assert set(w.plots.grad_curves) == {"conv1", "conv2", "dense"}
    assert any(it.heat is not None for it in w.scene.nodes.values())  # node colours
    # Editing is blocked while the run is on; moving a node is fine.
    with pytest.raises(EditRefused, match="Training is running"):
        w.editor.set_param("conv1", "out_channels", 8)
    w.editor.move({"conv1": (w.doc.graph.pos("conv1"), (10.0, 10.0))})
    assert w.doc.graph.pos("conv1") == (10.0, 10.0)
    assert not w.training.fields["lr"].isEnabled()
    # Stop: within a second.
    step_at_stop = w.live.step
    t = time.perf_counter()
    w.training.stop_btn.click()
    wait_until(qapp, lambda: w.trainer.state == "idle", 10, gaps)
    assert time.perf_counter() - t < 1.0
    assert events[-1].kind == "stopped" and events[-1].step >= step_at_stop
    # Work done on the GUI thread (a compile, a file read) stalls it for seconds; the live
    # plots' first paints take 100-130 ms on this 2-core machine (sampled: pyqtgraph's axes),
    # which is not what this catches
    assert max(gaps) < 0.25, f"the event loop stalled {max(gaps) * 1e3:.0f} ms"
    stopped = events[-1].step
    # The run is listed, resumable, and resumes where it stopped.
    item = w.training.runs.item(0)
    run = item.data(0x0100)
    assert run.status == "stopped" and run.resumable
    w.training.runs.setCurrentItem(item)
    events.clear()
    w.training.resume_run_btn.click()
    wait_until(qapp, lambda: any(e.kind == "step" for e in events), 60)
    assert min(e.step for e in events if e.kind == "step") > stopped
    w.stop_training()
    wait_until(qapp, lambda: w.trainer.state == "idle", 10)
    w.trainer.event.disconnect(events.append)
    w.editor.set_param("conv1", "out_channels", 8)  # editing works again


def test_pause_and_resume_buttons(qapp, twin, tmp_path):
    w = twin
    w.open_path(project_copy(tmp_path, "mlp", epochs=2000), ask=False)
    assert w.start_training()
    wait_until(qapp, lambda: w.trainer.state == "running" and w.live.step > 0, 60)
    w.training.pause_btn.click()
    wait_until(qapp, lambda: w.trainer.state == "paused", 5)
    assert w.training.pause_btn.text() == "Resume"
    step = w.live.step
    t_end = time.time() + 0.4
    wait_until(qapp, lambda: time.time() > t_end, 2)
    assert w.live.step == step
    w.training.pause_btn.click()
    wait_until(qapp, lambda: w.live.step > step, 10)
    w.stop_training()
    wait_until(qapp, lambda: w.trainer.state == "idle", 10)


def test_non_finite_run_stops_with_its_message_and_the_window_stays_usable(qapp, twin, tmp_path):
    w = twin
    p = load(ROOT / "templates" / "mlp.json")
    g = p.graph
    g.remove_node("softmax")
    g.remove_node("loss")
    g.set_param("fc3", "out_features", 1)
    g.add_node("MSELoss", "mse")
    g.connect("fc3", "y", "probs", "x")
    g.connect("fc3", "y", "mse", "pred")
    g.connect("label", "out", "mse", "target")
    g.set_param("label", "dtype", "float32")
    p.training.optimizer, p.training.lr = "minibatch", 10.0
    path = tmp_path / "diverges.json"
    p.save(path)
    w.open_path(path, ask=False)
    events = run_to_end(qapp, w)
    assert events[-1].kind == "failed"
    assert w.training.error.isVisible()
    assert "the loss became" in w.training.error.text()
    assert "Training failed" in w.status.text()
    assert w.scene.selected_nodes() == [events[-1].node]  # the layer at fault is selected
    w.editor.set_param("fc1", "out_features", 16)  # usable
    assert w.trainer.state == "idle" and w.training.run_btn.isEnabled()


# (template, metric, target): accuracies at least, losses at most (issue 10's targets for
# the recurrent ones: val MSE <= 0.05 on the adding problem, <= 1.6 nats per character).
TARGETS = [("perceptron", "accuracy", 1.0), ("mlp", "val_accuracy", 0.97),
           ("cnn", "val_accuracy", 0.95), ("rnn", "val_accuracy", 0.90),
           # stages of basic blocks (issue 25) on noisy 32 x 32 shapes
           ("resnet", "val_accuracy", 0.97),
           ("lstm", "val_loss", 0.05), ("gru", "val_loss", 0.05),
           # the same cells wired from their gates (issue 25), the same targets
           ("lstm_from_gates", "val_loss", 0.05), ("gru_from_gates", "val_loss", 0.05),
           ("char_lstm", "val_loss", 1.6),
           # exact match of the greedy-decoded dates (the inference graph), held-out dates
           ("encoder_decoder", "val_exact_match", 0.60),
           ("attention_seq2seq", "val_exact_match", 0.90),
           ("transformer", "val_exact_match", 0.95),
           # the share of generated points within 3σ of a mode of the ring (8/8 checked too)
           ("gan", "quality", 0.90),
           # a quick classifier's mean confidence in the generated digits, all 10 read too
           # (the measure, the cnn template's classifier, is bench_gan.py's)
           ("gan_digits", "confidence", 0.75),
           # COCO mAP@0.5 (pycocotools) of the detections on held-out generated shapes
           ("rcnn", "val_map50", 0.50), ("fast_rcnn", "val_map50", 0.60),
           ("faster_rcnn", "val_map50", 0.70),
           # and COCO's mask mAP@0.5 ("segm") of the instance masks; box mAP@0.5 checked too
           ("mask_rcnn", "val_mask_map50", 0.60)]


def test_every_template_has_a_target_here():
    from templates import list_templates
    assert {t.key for t in list_templates()} == {name for name, _, _ in TARGETS}


def _reached(metric: str, value: float, target: float) -> bool:
    return value <= target if metric.endswith("loss") else value >= target


EVERYDAY = {"perceptron", "mlp", "cnn"}  # to target in `make test`; the rest in test-all
DETECTORS = {"rcnn", "fast_rcnn", "faster_rcnn", "mask_rcnn"}


@pytest.mark.parametrize("name, metric, target", [
    pytest.param(*t, marks=() if t[0] in EVERYDAY else pytest.mark.slow) for t in TARGETS])
def test_every_template_trains_from_the_app_to_its_target(qapp, twin, tmp_path, name, metric,
                                                           target):
    w = twin
    w.open_path(project_copy(tmp_path, name), ask=False)
    # a guard against a hang, not a speed test: CI's machine ran faster_rcnn's training in
    # about 520 s where a quiet one here takes 280 s
    events = run_to_end(qapp, w, timeout=1200 if name in DETECTORS else 480)
    fin = events[-1]
    assert fin.kind == "finished", fin
    assert _reached(metric, fin.metrics[metric], target), fin.metrics
    if name == "gan":
        assert fin.metrics["modes"] == 8, fin.metrics
    if name == "gan_digits":
        assert fin.metrics["digits"] == 10, fin.metrics
    if name == "mask_rcnn":
        assert fin.metrics["val_map50"] >= 0.70, fin.metrics
    run = w.training.runs.item(0).data(0x0100)
    info = json.loads((run.folder / "run.json").read_text())
    assert info["status"] == "finished" and _reached(metric, info["final"][metric], target)


def test_settings_form_edits_are_undoable_and_refused_with_reasons(qapp, twin, tmp_path):
    w = twin
    w.open_path(project_copy(tmp_path, "mlp"), ask=False)
    lr = w.training.fields["lr"]
    lr.setText("0.05")
    lr.editingFinished.emit()
    assert w.doc.project.training.lr == 0.05 and w.isWindowModified()
    lr.setText("-1")
    lr.editingFinished.emit()
    assert "greater than 0" in w.training.error.text() and w.doc.project.training.lr == 0.05
    w.a_undo.trigger()
    assert w.doc.project.training.lr == 0.01 and lr.text() == "0.01"
    opt = w.training.fields["optimizer"]
    opt.setCurrentIndex(opt.findData("sgd"))
    assert w.doc.project.training.optimizer == "sgd"


def test_csv_data_with_a_preview_and_clear_errors(qapp, twin, tmp_path):
    w = twin
    (tmp_path / "pts.csv").write_text("a,b,cls\n" + "\n".join(
        f"{i % 7 / 7:.3f},{i % 5 / 5:.3f},{'yes' if i % 2 else 'no'}" for i in range(60)))
    w.open_path(project_copy(tmp_path, "mlp"), ask=False)
    ds = w.training.dataset
    ds.setCurrentIndex(ds.findData("csv"))
    assert w.doc.project.data.dataset == "csv"
    path = w.training.findChild(QLineEdit, "option_path")
    path.setText("pts.csv")
    path.editingFinished.emit()
    assert w.training.preview.rowCount() == 8 and w.training.preview.columnCount() == 3
    # A label column the file does not have (a project edited by hand, a renamed column):
    # shown as such in the column choice, and the run fails naming it.
    w.editor.set_setting("data", "options", {**w.doc.project.data.options, "label": "klass"})
    from PySide6.QtWidgets import QComboBox
    label = w.training.findChild(QComboBox, "option_label")
    assert label.currentText() == "klass (not in the file)"
    events = run_to_end(qapp, w)
    assert events[-1].kind == "failed"
    assert "no column 'klass' for the label (columns: a, b, cls)" in w.training.error.text()
    label = w.training.findChild(QComboBox, "option_label")
    label.setCurrentIndex(label.findData("cls"))
    label.activated.emit(label.currentIndex())
    assert w.doc.project.data.options["label"] == "cls"
    events = run_to_end(qapp, w)
    assert events[-1].kind == "finished"


def test_export_dialog_after_a_run(qapp, twin, tmp_path):
    from app.export_dialog import ExportDialog
    w = twin
    w.open_path(project_copy(tmp_path, "cnn", epochs=2), ask=False)
    assert run_to_end(qapp, w)[-1].kind == "finished"
    dlg = ExportDialog(w.doc.project, w.runs_root(), tmp_path, w)
    assert dlg.weights.count() >= 1 and "best" in dlg.weights.itemText(0)
    dlg.format.setCurrentIndex(dlg.format.findData("python"))
    dlg.out.setText(str(tmp_path / "exported.py"))
    dlg.start()
    dlg.wait()
    assert dlg.error is None, dlg.error
    assert (tmp_path / "exported.py").is_file() and (tmp_path / "exported.safetensors").is_file()
    dlg.close()


def test_compare_runs_overlays_curves(qapp, twin, tmp_path):
    w = twin
    w.open_path(project_copy(tmp_path, "mlp", epochs=3), ask=False)
    run_to_end(qapp, w)
    w.editor.set_setting("training", "lr", 0.001)
    run_to_end(qapp, w)
    assert w.training.runs.count() == 2
    for i in range(2):
        w.training.runs.item(i).setSelected(True)
    w.training.compare_btn.click()
    assert len(w.plots.overlays) >= 2


# Every action that starts, pauses, resumes, stops or exports a run, as a user reaches it:
# the menu item, the shortcut, the toolbar button (Qt's triggered(bool) once reached
# start_training as resume=False: Train > Run, F5 and the toolbar's Run did nothing).

def _menu_click(qtbot, w, title: str, action) -> None:
    """Open the menu bar's menu `title` and click `action` in it."""
    from PySide6.QtCore import Qt
    menu = next(a.menu() for a in w.menuBar().actions() if a.text().replace("&", "") == title)
    menu.popup(w.mapToGlobal(w.rect().center()))
    qtbot.waitUntil(menu.isVisible, timeout=2000)
    qtbot.mouseClick(menu, Qt.LeftButton, pos=menu.actionGeometry(action).center())
    menu.hide()


def _toolbar_click(qtbot, w, action) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QToolBar
    bar = w.findChild(QToolBar, "toolbar_main")
    button = bar.widgetForAction(action)
    assert button is not None and button.isVisible()
    qtbot.mouseClick(button, Qt.LeftButton)


def _key(qtbot, w, key, modifier=None) -> None:
    from PySide6.QtCore import Qt
    if QApplication.activeWindow() is not w:  # e.g. a menu popup was the last one active
        w.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=2000)
    qtbot.keyClick(w, key, modifier or Qt.NoModifier)


def _started(qapp, w) -> None:
    wait_until(qapp, lambda: w.trainer.state == "running" and w.live.step > 0, 60)


def _stopped(qapp, w) -> None:
    wait_until(qapp, lambda: w.trainer.state == "idle", 15)


@pytest.mark.parametrize("how", ["menu", "shortcut", "toolbar"])
def test_run_and_stop_through_menu_shortcut_and_toolbar(qapp, qtbot, twin, tmp_path, how):
    from PySide6.QtCore import Qt
    w = twin
    w.open_path(project_copy(tmp_path, "mlp", epochs=2000), ask=False)
    runs_before = w.training.runs.count()
    if how == "menu":
        _menu_click(qtbot, w, "Train", w.a_run)
    elif how == "shortcut":
        _key(qtbot, w, Qt.Key_F5)
    else:
        _toolbar_click(qtbot, w, w.a_run)
    _started(qapp, w)
    assert not w.a_run.isEnabled() and w.a_stop.isEnabled()
    if how == "menu":
        _menu_click(qtbot, w, "Train", w.a_stop)
    elif how == "shortcut":
        _key(qtbot, w, Qt.Key_F5, Qt.ShiftModifier)
    else:
        _toolbar_click(qtbot, w, w.a_stop)
    _stopped(qapp, w)
    assert w.trainer.last_event.kind == "stopped"
    assert w.training.runs.count() == runs_before + 1 and w.a_run.isEnabled()


@pytest.mark.parametrize("how", ["menu", "shortcut"])
def test_pause_and_resume_through_menu_and_shortcut(qapp, qtbot, twin, tmp_path, how):
    from PySide6.QtCore import Qt
    w = twin
    w.open_path(project_copy(tmp_path, "mlp", epochs=2000), ask=False)
    _key(qtbot, w, Qt.Key_F5)
    _started(qapp, w)

    def toggle():
        _menu_click(qtbot, w, "Train", w.a_pause) if how == "menu" else _key(qtbot, w, Qt.Key_F6)
    toggle()
    wait_until(qapp, lambda: w.trainer.state == "paused", 5)
    step = w.live.step
    t_end = time.time() + 0.3
    wait_until(qapp, lambda: time.time() > t_end, 2)
    assert w.live.step == step
    toggle()
    wait_until(qapp, lambda: w.trainer.state == "running" and w.live.step > step, 10)
    _key(qtbot, w, Qt.Key_F5, Qt.ShiftModifier)
    _stopped(qapp, w)


@pytest.mark.parametrize("how", ["menu", "shortcut", "toolbar"])
def test_export_opens_through_menu_shortcut_and_toolbar(qapp, qtbot, twin, tmp_path, how):
    from PySide6.QtCore import Qt
    from app.export_dialog import ExportDialog
    w = twin
    w.open_path(project_copy(tmp_path, "mlp", epochs=1), ask=False)
    w.export_window = None
    if how == "menu":
        _menu_click(qtbot, w, "File", w.a_export)
    elif how == "shortcut":
        _key(qtbot, w, Qt.Key_E, Qt.ControlModifier)
    else:
        _toolbar_click(qtbot, w, w.a_export)
    qtbot.waitUntil(lambda: isinstance(w.export_window, ExportDialog)
                    and w.export_window.isVisible(), timeout=3000)
    w.export_window.close()


def test_a_run_of_an_unsaved_project_follows_it_to_its_first_save(qapp, twin, tmp_path,
                                                                   monkeypatch):
    w = twin
    w.open_template(ROOT / "templates" / "mlp.json")  # an untitled copy: no file yet
    assert w.doc.path is None
    assert w.start_training(max_steps=20)
    wait_until(qapp, lambda: w.trainer.state == "idle" and w.trainer.last_event is not None
               and w.trainer.last_event.kind in ("finished", "stopped"), 120)
    assert w.training.runs.count() == 1
    unsaved = w.runs_root()
    monkeypatch.setattr(MainWindow, "ask_save_path", lambda self: str(tmp_path / "spiral_net"))
    w.a_save_as.trigger()
    assert w.doc.path == tmp_path / "spiral_net.json"
    assert w.doc.project.name == "spiral_net"
    runs = list((tmp_path / "runs" / "spiral_net").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoints" / "last").is_dir()
    assert w.training.runs.count() == 1 and not unsaved.exists()


def _tried(qapp, qtbot, w):
    """Train > Try the Model by its shortcut; until the panel shows a sample."""
    from PySide6.QtCore import Qt
    _key(qtbot, w, Qt.Key_T, Qt.ControlModifier)
    wait_until(qapp, lambda: not w.trypanel.job.busy and w.trypanel.tryout is not None, 60)
    return w.trypanel


def test_try_the_model_shows_a_validation_image_its_class_and_the_prediction(qapp, qtbot, twin,
                                                                             tmp_path):
    w = twin
    w.open_path(project_copy(tmp_path, "cnn", epochs=2), ask=False)
    assert run_to_end(qapp, w)[-1].kind == "finished"
    panel = _tried(qapp, qtbot, w)
    assert w.docks["try"].isVisible()
    text = panel.text.toPlainText()
    assert "input 'image': image 1 × 8 × 8" in text and "target 'label': " in text
    assert "prediction 'probs': " in text and "%" in text
    assert not panel.image.isHidden() and not panel.image.pixmap().isNull()
    panel.index.setValue(7)  # another sample, as a user picks it
    assert panel.text.toPlainText() != text
    assert panel.gen_box.isHidden()  # not a text model


@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
def test_try_the_character_model_generates_text_from_a_prompt(qapp, qtbot, twin, tmp_path):
    from PySide6.QtCore import Qt
    w = twin
    w.open_path(project_copy(tmp_path, "char_lstm"), ask=False)
    events = []
    w.trainer.event.connect(events.append)
    try:
        assert w.start_training(max_steps=40)
        wait_until(qapp, lambda: w.trainer.state == "idle" and events, 180)
    finally:
        w.trainer.event.disconnect(events.append)
    panel = _tried(qapp, qtbot, w)
    assert not panel.gen_box.isHidden()
    assert "the likeliest next character at each step" in panel.text.toPlainText()
    panel.prompt.setText("def ")
    panel.length.setValue(60)
    qtbot.mouseClick(panel.generate_btn, Qt.LeftButton)
    panel.wait()
    out = panel.generated.toPlainText()
    assert out.startswith("def ") and len(out) == 64
    assert "Generated 60 characters" in panel.status.text()


def test_try_the_model_before_any_run_says_what_to_do(qapp, qtbot, twin, tmp_path):
    from PySide6.QtCore import Qt
    w = twin
    w.open_path(project_copy(tmp_path, "mlp"), ask=False)
    _key(qtbot, w, Qt.Key_T, Qt.ControlModifier)
    qapp.processEvents()
    assert "No trained weights yet" in w.trypanel.status.text()
    assert w.trypanel.tryout is None


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_try_a_seq2seq_model_translates_typed_text_with_its_attention_heatmap(qapp, qtbot, twin,
                                                                              tmp_path):
    from PySide6.QtCore import Qt
    w = twin
    w.open_path(project_copy(tmp_path, "transformer"), ask=False)
    events = []
    w.trainer.event.connect(events.append)
    try:
        assert w.start_training(max_steps=30)
        wait_until(qapp, lambda: w.trainer.state == "idle" and events, 180)
    finally:
        w.trainer.event.disconnect(events.append)
    panel = _tried(qapp, qtbot, w)
    panel.wait()
    assert not panel.trans_box.isHidden() and panel.gen_box.isHidden()
    first = panel.translation.text()
    assert "greedy decoding" in first and panel.source.text()  # a validation date, translated
    assert [panel.attn_node.itemText(i) for i in range(panel.attn_node.count())] == \
        ["decoder.cross_attention", "decoder.self_attention"]  # output × input first
    # (inside the Decoder layer block 'decoder': flat ids are dotted)
    assert [panel.attn_head.itemText(i) for i in range(panel.attn_head.count())] == \
        ["mean", "1", "2", "3", "4"]
    panel.source.clear()
    qtbot.keyClicks(panel.source, "Aug 29, 1958")
    qtbot.mouseClick(panel.translate_btn, Qt.LeftButton)
    panel.wait()
    tr = panel.trans_box.result
    assert tr.source == "Aug 29, 1958" and "“Aug 29, 1958”" in panel.translation.text()
    img = panel.trans_box.heat.image  # output positions × input positions, rows summing to 1
    assert img.shape == (len(tr.output_tokens), 12)
    assert abs(img.sum(1) - 1).max() < 1e-4
    panel.attn_head.setCurrentIndex(2)  # head 2, as a user picks it
    assert abs(panel.trans_box.heat.image - tr.attention["decoder.cross_attention"][1]).max() < 1e-6
    assert "decoder.cross_attention: α_tj, head 2" in panel.heatmap.plotItem.titleLabel.text
    panel.source.clear()
    qtbot.mouseClick(panel.translate_btn, Qt.LeftButton)
    panel.wait()
    assert "type something" in panel.status.text()  # said in the panel, nothing raised


def test_the_try_tab_beside_a_finished_run_says_its_weights_are_ready(qapp, qtbot, twin,
                                                                      tmp_path):
    """Issue 23, item 13: it said "No trained weights yet" beside a finished run."""
    w = twin
    w.open_path(project_copy(tmp_path, "mlp", epochs=1), ask=False)
    w.docks["summary"].raise_()  # the Try tab behind another: not tried at the run's end
    assert "No trained weights yet" in w.trypanel.status.text()
    assert run_to_end(qapp, w)[-1].kind == "finished"
    w.docks["try"].raise_()
    qapp.processEvents()
    assert "No trained weights" not in w.trypanel.status.text()
    assert "ready: press Load" in w.trypanel.status.text()
    assert w.trypanel.load_btn.isEnabled()
