"""File > Export, driven as a user drives it: the weights chosen with File…, the path typed,
the real Save button clicked; the replace prompt answered through ask_replace."""
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
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
    assert note.geometry().bottom() <= dlg.buttons.geometry().top()
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
