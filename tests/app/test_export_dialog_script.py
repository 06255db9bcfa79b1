"""The export dialog's training script format needs no trained weights (as the CLI's
--weights is optional for it): it starts from the project's initial weights."""
from app.export_dialog import ExportDialog
from graph.project import load
from templates import list_templates


def test_the_script_format_exports_without_trained_weights(qtbot, tmp_path):
    p = load(next(t for t in list_templates() if t.key == "mlp").path)
    dlg = ExportDialog(p, tmp_path / "runs", tmp_path)
    qtbot.addWidget(dlg)
    assert dlg.weights.count() == 0
    dlg.format.setCurrentIndex(dlg.format.findData("script"))
    assert "initial weights" in dlg.note.text()
    dlg.out.setText(str(tmp_path / "script"))
    dlg.start()
    dlg.wait()
    assert dlg.error is None, dlg.error
    assert dlg.result_files and (tmp_path / "script" / "train.py").is_file()
    assert dlg.note.text().startswith("Written:")
    dlg.format.setCurrentIndex(dlg.format.findData("bundle"))  # the others still need them
    assert "train the model first" in dlg.note.text()
    dlg.start()
    assert "Choose the weights to export" in dlg.note.text()
