"""File > Export, driven as a user drives it: the weights chosen with File…, the path typed,
the real Save button clicked; the replace prompt answered through ask_replace."""
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QPushButton

from app.export_dialog import ExportDialog
from tests.graphs import small_saved_project


@pytest.fixture
def small(tmp_path):
    """A small project saved in tmp_path, and weights for it."""
    return small_saved_project(tmp_path)


@pytest.fixture
def asked(monkeypatch):
    """What the dialogs asked to replace; answers[0] is the answer (yes/no)."""
    record = {"paths": [], "answer": False}

    def ask_replace(self, path):
        record["paths"].append(Path(path))
        return record["answer"]
    monkeypatch.setattr(ExportDialog, "ask_replace", ask_replace)
    return record


def choose_weights(qtbot, dlg, monkeypatch, w: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(w), "safetensors (*.safetensors)")))
    [button] = [b for b in dlg.findChildren(QPushButton) if b.text() == "File…"]
    qtbot.mouseClick(button, Qt.LeftButton)
    assert dlg.weights.currentData() == str(w)


def save(qtbot, dlg, fmt: str, out: Path) -> None:
    dlg.format.setCurrentIndex(dlg.format.findData(fmt))
    dlg.out.clear()
    qtbot.keyClicks(dlg.out, str(out))
    button = dlg.buttons.button(QDialogButtonBox.Save)
    qtbot.mouseClick(button, Qt.LeftButton)
    qtbot.waitUntil(lambda: button.isEnabled() and dlg._thread is None, timeout=120_000)
    qtbot.wait(50)  # the layout settles


def open_dialog(qtbot, monkeypatch, small, tmp_path) -> ExportDialog:
    p, pj, w = small
    dlg = ExportDialog(p, tmp_path / "runs", tmp_path, project_path=pj)
    qtbot.addWidget(dlg)
    with qtbot.waitExposed(dlg):
        dlg.show()
    choose_weights(qtbot, dlg, monkeypatch, w)
    return dlg


def test_written_note_shows_every_path_in_full(qtbot, monkeypatch, small, tmp_path, asked):
    dlg = open_dialog(qtbot, monkeypatch, small, tmp_path)
    folder = tmp_path / "a_rather_long_folder_name_for_exports" / "and_another_level_below_it"
    folder.mkdir(parents=True)
    save(qtbot, dlg, "python", folder / "exported_model_with_a_long_name.py")
    py, st = folder / "exported_model_with_a_long_name.py", folder / \
        "exported_model_with_a_long_name.safetensors"
    assert py.is_file() and st.is_file() and asked["paths"] == []
    note = dlg.note
    assert note.text() == f"Written:\n{py}\n{st}"  # one file a line
    assert note.textInteractionFlags() & Qt.TextSelectableByMouse
    assert note.isVisible() and note.wordWrap()
    # all of it is shown: as tall as its text needs at its width, within the dialog
    assert note.height() >= note.heightForWidth(note.width())
    assert note.geometry().bottom() <= dlg.buttons.mapTo(dlg, QPoint(0, 0)).y()
    widest = max(note.fontMetrics().horizontalAdvance(line) for line in note.text().splitlines())
    screen = dlg.screen().availableGeometry()
    assert note.width() >= min(widest, screen.width() - 200)  # wide enough to read
    assert dlg.width() <= screen.width()


def test_asks_before_replacing(qtbot, monkeypatch, small, tmp_path, asked):
    dlg = open_dialog(qtbot, monkeypatch, small, tmp_path)
    out = tmp_path / "m.pt"
    out.write_bytes(b"mine")
    save(qtbot, dlg, "torchscript", out)
    assert asked["paths"] == [out] and out.read_bytes() == b"mine"
    assert dlg.note.text().startswith(f"Not exported: {out} already exists")
    asked["answer"] = True
    save(qtbot, dlg, "torchscript", out)
    assert asked["paths"] == [out, out] and dlg.error is None
    assert dlg.note.text() == f"Written:\n{out}"
    assert torch.jit.load(str(out))(torch.rand(4, 3)).shape == (4, 2)
    # a python export replaces two files: each is asked about
    (tmp_path / "n.py").write_text("mine")
    (tmp_path / "n.safetensors").write_text("mine")
    asked["paths"].clear()
    save(qtbot, dlg, "python", tmp_path / "n.py")
    assert asked["paths"] == [tmp_path / "n.py", tmp_path / "n.safetensors"]
    assert "PROJECT = 'Small'" in (tmp_path / "n.py").read_text()


def test_refuses_the_project_and_its_weights(qtbot, monkeypatch, small, tmp_path, asked):
    p, pj, w = small
    before = {f: f.read_bytes() for f in (pj, w)}
    dlg = open_dialog(qtbot, monkeypatch, small, tmp_path)
    asked["answer"] = True
    for fmt, out, named, what in [("torchscript", pj, pj, "the project file"),
                                  ("bundle", pj, pj, "the project file"),
                                  ("onnx", w, w, "the weights file"),
                                  ("python", tmp_path / "small.py", w, "the weights file")]:
        save(qtbot, dlg, fmt, out)
        assert dlg.note.text() == f"Export failed: {named}: is {what} being exported; " \
                                  "choose another name"
    save(qtbot, dlg, "bundle", tmp_path)
    assert dlg.note.text().startswith(f"Export failed: {tmp_path}: holds the project file")
    assert asked["paths"] == [] and {f: f.read_bytes() for f in (pj, w)} == before


def test_from_the_window_the_documents_file_is_protected(qtbot, monkeypatch, small, win,
                                                         tmp_path, asked):
    """File > Export in the window: the dialog knows the document's file without being told."""
    p, pj, w = small
    before = pj.read_bytes()
    win.open_path(pj, ask=False)
    win.a_export.trigger()
    dlg = win.export_window
    with qtbot.waitExposed(dlg):
        pass
    choose_weights(qtbot, dlg, monkeypatch, w)
    save(qtbot, dlg, "torchscript", pj)
    assert dlg.note.text().startswith(f"Export failed: {pj}: is the project file")
    assert pj.read_bytes() == before and asked["paths"] == []
    dlg.close()


SCREEN = 1600  # the widest screen a user may have: the dialog fits it


def test_a_format_that_always_fails_is_not_offered(qtbot, tmp_path):
    """A detector cannot be written as ONNX (its NMS loop) nor captured by torch.export (pt2):
    the formats are shown disabled, each reason in a tooltip and a label that wraps, and the
    dialog stays narrower than a screen (issue 23, item 17: the refusal, shown after a failed
    export, widened it past the screen)."""
    from PySide6.QtWidgets import QLabel
    from graph.project import load
    from templates import find
    dlg = ExportDialog(load(find("fast_rcnn").path), tmp_path / "runs", tmp_path)
    qtbot.addWidget(dlg)
    with qtbot.waitExposed(dlg):
        dlg.show()
    items = dlg.format.model()
    onnx, pt2 = dlg.format.findData("onnx"), dlg.format.findData("pt2")
    assert not items.item(onnx).isEnabled() and not items.item(pt2).isEnabled()
    assert "non-maximum suppression" in dlg.format.itemData(onnx, Qt.ToolTipRole)
    assert "torch.export cannot capture" in dlg.format.itemData(pt2, Qt.ToolTipRole)
    assert all(items.item(i).isEnabled() for i in range(dlg.format.count())
               if i not in (onnx, pt2))
    assert dlg.format.currentData() not in ("onnx", "pt2")
    [why] = [w for w in dlg.findChildren(QLabel) if "non-maximum suppression" in w.text()]
    assert why.isVisible() and why.wordWrap() and why.text().startswith("ONNX")
    assert "\nExportedProgram is not offered: " in why.text()
    assert why.height() >= why.heightForWidth(why.width())  # all of it shown
    assert dlg.sizeHint().width() <= SCREEN and dlg.width() <= SCREEN
    assert why.width() <= why.fontMetrics().averageCharWidth() * 100  # lines one can read


def test_every_format_is_offered_where_none_always_fails(qtbot, monkeypatch, small, tmp_path):
    from PySide6.QtWidgets import QLabel
    from runtime.export import FORMATS
    dlg = open_dialog(qtbot, monkeypatch, small, tmp_path)
    items = dlg.format.model()
    assert {dlg.format.itemData(i) for i in range(dlg.format.count())} == set(FORMATS)
    assert all(items.item(i).isEnabled() for i in range(dlg.format.count()))
    assert not [w for w in dlg.findChildren(QLabel) if w.isVisible() and "ONNX" in w.text()]


def test_a_long_message_wraps_instead_of_widening_the_dialog(qtbot, monkeypatch, small,
                                                            tmp_path):
    """A sentence wraps at a readable width; only a path too long for that widens the note."""
    dlg = open_dialog(qtbot, monkeypatch, small, tmp_path)
    from runtime.export import ExportError
    import runtime.export as ex
    long = ("the detector's post-processing ('detect': score threshold and non-maximum "
            "suppression) keeps a different number of boxes for each image, a loop torch's "
            "ONNX exporters cannot write yet; export TorchScript, the python file or the "
            "bundle instead")

    def fail(*a, **k):
        raise ExportError(f"ONNX: {long}")
    monkeypatch.setattr(ex, "export", fail)
    save(qtbot, dlg, "torchscript", tmp_path / "m.pt")
    note = dlg.note
    assert note.text() == f"Export failed: ONNX: {long}"
    assert note.width() <= note.fontMetrics().averageCharWidth() * 100
    assert note.height() >= note.heightForWidth(note.width())
    assert dlg.width() <= SCREEN


def test_the_export_shows_it_is_busy_and_the_window_stays_responsive(qtbot, monkeypatch, small,
                                                                    tmp_path):
    """An export that takes a while (ONNX of a large model) shows a busy bar and the seconds
    it has taken, counted by the GUI thread meanwhile; both go when it ends."""
    import threading
    import runtime.export as ex
    dlg = open_dialog(qtbot, monkeypatch, small, tmp_path)
    go = threading.Event()

    def slow(*a, **k):
        go.wait(30)
        return [tmp_path / "m.onnx"]
    monkeypatch.setattr(ex, "export", slow)
    assert not dlg.busy.isVisible()
    dlg.format.setCurrentIndex(dlg.format.findData("onnx"))
    qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.Save), Qt.LeftButton)
    assert dlg.busy.isVisible() and dlg.busy.maximum() == 0  # busy, no known end
    qtbot.waitUntil(lambda: "1 s" in dlg.note.text(), timeout=5000)
    assert dlg.note.text().startswith("Exporting as ONNX")
    go.set()
    qtbot.waitUntil(lambda: dlg._thread is None, timeout=5000)
    assert not dlg.busy.isVisible() and dlg.note.text().startswith("Written:")


def test_exports_an_exported_program(qtbot, monkeypatch, small, tmp_path, asked):
    """pt2 is listed, names its file .pt2 when chosen, and writes a torch.export program."""
    dlg = open_dialog(qtbot, monkeypatch, small, tmp_path)
    i = dlg.format.findData("pt2")
    assert dlg.format.itemText(i) == "ExportedProgram, torch.export (.pt2)"
    dlg.out.setText(str(tmp_path / "m.onnx"))
    dlg.format.setCurrentIndex(i)
    assert dlg.out.text() == str(tmp_path / "m.pt2")
    save(qtbot, dlg, "pt2", tmp_path / "m.pt2")
    assert dlg.error is None and dlg.note.text() == f"Written:\n{tmp_path / 'm.pt2'}"
    m = torch.export.load(str(tmp_path / "m.pt2")).module()
    assert m(torch.rand(5, 3)).shape == (5, 2)


def test_a_recurrent_loop_is_offered_in_the_formats_that_work(qtbot, tmp_path):
    """lstm_from_gates (a block run once per time step): the python file, TorchScript (its
    loop scripted) and the bundle are offered; ONNX and the ExportedProgram are shown
    disabled, each with its reason naming the formats that work."""
    from graph.project import load
    from templates import find
    dlg = ExportDialog(load(find("lstm_from_gates").path), tmp_path / "runs", tmp_path)
    qtbot.addWidget(dlg)
    items = dlg.format.model()
    offered = {dlg.format.itemData(i) for i in range(dlg.format.count())
               if items.item(i).isEnabled()}
    assert offered == {"python", "torchscript", "bundle", "script"}
    assert dlg.format.currentData() == "python"
    for fmt in ("onnx", "pt2"):
        why = dlg.format.itemData(dlg.format.findData(fmt), Qt.ToolTipRole)
        assert "recurrent loop" in why and "python file, TorchScript" in why
