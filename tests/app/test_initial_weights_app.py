"""The starting weights in the app: the training panel's 'Starts from' line (cleared, chosen,
undone), the Try panel trying an imported model before any run (the original's outputs), and
the export dialog offering them when no run exists."""
from pathlib import Path

import torch
from PySide6.QtCore import Qt

from app import try_sample
from app.export_dialog import ExportDialog
from graph.project import load
from tests.runtime.test_initial_weights import imported_project


def opened(win, tmp_path):
    module, path = imported_project(tmp_path)
    win.open_path(path, ask=False)
    return module, path


def test_the_training_panel_shows_clears_and_chooses_them(win, qtbot, tmp_path):
    opened(win, tmp_path)
    panel, doc = win.training, win.doc
    assert panel.start_label.text() == "Starts from: P.safetensors"
    qtbot.mouseClick(panel.start_clear, Qt.LeftButton)
    assert doc.project.training.initial_weights == ""
    assert panel.start_label.text() == "Starts from: a fresh initialisation"
    assert not panel.start_clear.isEnabled()
    doc.undo.undo()  # an edit like the others
    assert doc.project.training.initial_weights == "P.safetensors"
    assert panel.start_label.text() == "Starts from: P.safetensors"
    (tmp_path / "w").mkdir()
    other = tmp_path / "w" / "other.safetensors"
    other.write_bytes((tmp_path / "P.safetensors").read_bytes())
    panel.ask_weights_file = lambda: str(other)
    qtbot.mouseClick(panel.start_choose, Qt.LeftButton)
    assert doc.project.training.initial_weights == "w/other.safetensors"  # beside the project
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere.safetensors"
    panel.ask_weights_file = lambda: str(elsewhere)
    qtbot.mouseClick(panel.start_choose, Qt.LeftButton)
    assert doc.project.training.initial_weights == str(elsewhere)  # absolute
    panel.ask_weights_file = lambda: str(tmp_path / "d.csv")  # not weights: refused, said
    qtbot.mouseClick(panel.start_choose, Qt.LeftButton)
    assert doc.project.training.initial_weights == str(elsewhere)
    assert "safetensors" in panel.error.text()


def test_the_try_panel_tries_the_imported_weights_before_any_run(win, qtbot, tmp_path):
    module, _path = opened(win, tmp_path)
    win.try_model()  # Train > Try the Model
    panel = win.trypanel
    assert panel.weights.count() == 1
    assert panel.weights.currentText() == "starting weights · P.safetensors"
    panel.wait()
    assert panel.tryout is not None, panel.status.text()
    assert panel.status.text().startswith("The starting weights (P.safetensors), before any "
                                          "training")
    for i in (0, 3):
        panel.index.setValue(i)
        x = panel.tryout.val["x"][i]
        with torch.no_grad():
            want = module(x.unsqueeze(0))[0]
        assert f"prediction 'output': {try_sample.top(want, panel._class)}" in \
            panel.text.toPlainText()
        with torch.no_grad():
            assert torch.equal(panel.tryout.sample(i).outputs["output"], want)


def test_a_run_comes_before_the_starting_weights(win, qtbot, tmp_path):
    opened(win, tmp_path)
    project = win.doc.project
    run = type("Run", (), {"name": "r1", "status": "finished", "folder": tmp_path / "r1"})()
    ck = tmp_path / "r1" / "checkpoints" / "best"
    ck.mkdir(parents=True)
    (ck / "model.safetensors").write_bytes((tmp_path / "P.safetensors").read_bytes())
    win.trypanel.set_source(project, tmp_path, [run])
    texts = [win.trypanel.weights.itemText(i) for i in range(win.trypanel.weights.count())]
    assert texts[-1] == "starting weights · P.safetensors" and len(texts) == 2


def test_the_export_dialog_offers_them_when_no_run_exists(qtbot, tmp_path):
    _module, path = imported_project(tmp_path)
    dlg = ExportDialog(load(path), tmp_path / "runs", tmp_path, project_path=path)
    qtbot.addWidget(dlg)
    assert dlg.weights.count() == 1
    assert dlg.weights.currentData() == str(tmp_path / "P.safetensors")
    assert "starting weights" in dlg.note.text()
    p = load(path)
    p.training.initial_weights = ""
    dlg2 = ExportDialog(p, tmp_path / "runs", tmp_path, project_path=path)
    qtbot.addWidget(dlg2)
    assert dlg2.weights.count() == 0


def test_the_export_of_the_starting_weights_gives_the_originals_outputs(qtbot, tmp_path,
                                                                         monkeypatch):
    from PySide6.QtWidgets import QDialogButtonBox
    module, path = imported_project(tmp_path)
    dlg = ExportDialog(load(path), tmp_path / "runs", tmp_path, project_path=path)
    qtbot.addWidget(dlg)
    with qtbot.waitExposed(dlg):
        dlg.show()
    dlg.format.setCurrentIndex(dlg.format.findData("torchscript"))
    dlg.out.setText(str(tmp_path / "m.pt"))
    button = dlg.buttons.button(QDialogButtonBox.Save)
    qtbot.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: button.isEnabled() and dlg._thread is None, timeout=60_000)
    assert dlg.error is None, dlg.error
    ts = torch.jit.load(str(Path(tmp_path / "m.pt")))
    x = torch.randn(4, 4)
    with torch.no_grad():
        assert torch.allclose(ts(x), module(x), atol=1e-6)
