"""Sweeps in the app (issue 29 items 1 and 4): the search toggles of the inspector and the
training panel, and Train > Sweep… (app/sweep_view.py): a small sweep run from the view fills
the trials table and the parallel coordinates, importance after two complete trials, and a
trial's values applied to the project in one undo step."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from graph.project import load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"


@pytest.fixture
def mlp(win, tmp_path):
    path = tmp_path / "mlp.json"
    load(TEMPLATES / "mlp.json").save(path)
    win.open_path(path, ask=False)
    return win


def toggle_of(field) -> QToolButton:
    return field.parent().findChild(QToolButton, "search_toggle")


def undo(win, qtbot):
    win.activateWindow()
    qtbot.keyClick(win.view, Qt.Key_Z, Qt.ControlModifier)


def test_training_panel_toggle_adds_an_entry_and_ctrl_z_removes_it(mlp, qtbot):
    panel = mlp.training
    doc = mlp.doc
    toggle = toggle_of(panel.fields["lr"])
    assert not toggle.isChecked() and doc.project.search == []
    toggle.click()
    [e] = doc.project.search
    assert (e.target, e.kind, e.log) == ("training.lr", "float", True)
    assert e.low == pytest.approx(0.001) and e.high == pytest.approx(0.1)
    assert toggle.isChecked()
    field = toggle.parent()
    assert field.editor.isVisible() and field.low.text() == "0.001"
    # the range edited: one more step; a refused one said in words, nothing changes
    field.high.setText("0.5")
    field.high.editingFinished.emit()
    assert doc.project.search[0].high == 0.5
    field.high.setText("0.0001")
    field.high.editingFinished.emit()
    assert doc.project.search[0].high == 0.5
    assert "Refused: search training.lr" in panel.error.text()
    assert "below high" in panel.error.text()
    assert field.high.text() == "0.5"
    undo(mlp, qtbot)
    assert doc.project.search[0].high == pytest.approx(0.1)
    undo(mlp, qtbot)
    assert doc.project.search == [] and not toggle.isChecked()
    assert not field.editor.isVisible()


def test_inspector_toggle_on_a_node_parameter(mlp, qtbot):
    insp = mlp.inspector
    node = next(n for n in mlp.doc.graph.nodes() if n == "fc1")
    insp.show_node(node)
    w = insp._fields["out_features"]
    toggle = toggle_of(w)
    toggle.click()
    [e] = mlp.doc.project.search
    assert e.target == "fc1.out_features" and e.kind == "int" and e.low < e.high
    field = toggle.parent()
    assert not field.int.isEnabled() and field.int.isChecked()
    field.low.setText("0")
    field.low.editingFinished.emit()
    assert "out features must be >= 1" in insp.error.text()
    assert mlp.doc.project.search == [e]
    # a choice parameter: its choices
    params = mlp.doc.graph.spec(node).params
    choice = next(p for p in params if p.kind == "choice")
    toggle_of(insp._fields[choice.name]).click()
    assert mlp.doc.project.search[1].choices == list(choice.choices)
    undo(mlp, qtbot)
    undo(mlp, qtbot)
    assert mlp.doc.project.search == []
