"""Sweeps in the app (issue 29 items 1 and 4): the search toggles of the inspector and the
training panel, and Train > Sweep… (app/sweep_view.py): a small sweep run from the view fills
the trials table and the parallel coordinates, importance after two complete trials, and a
trial's values applied to the project in one undo step."""
from __future__ import annotations

import os
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
    """Ctrl+Z in the main window (a shortcut fires only in the active window)."""
    with qtbot.waitActive(win):
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


# Train > Sweep… ---------------------------------------------------------------------------------

LR = {"target": "training.lr", "kind": "float", "low": 1e-3, "high": 0.1, "log": True}
WIDTH = {"target": "fc1.out_features", "kind": "int", "low": 8, "high": 64}


@pytest.fixture
def swept(win, tmp_path):
    """The mlp template with lr and fc1's width searchable, open in the window."""
    from graph.search import SearchEntry
    p = load(TEMPLATES / "mlp.json")
    p.search = [SearchEntry.model_validate(LR), SearchEntry.model_validate(WIDTH)]
    path = tmp_path / "mlp.json"
    p.save(path)
    win.open_path(path, ask=False)
    return win


def open_view(win):
    win.a_sweep.trigger()
    return win.sweep_window


def snapshot(n_complete=3, multi=False):
    """A sweep's snapshot as runtime/sweep_results.snapshot gives it."""
    trials = []
    for k in range(4):
        done = k < n_complete
        trials.append({"number": k, "state": "complete" if done else "failed",
                       "values": ([0.5 - 0.1 * k] + ([1000.0 * (k + 1)] if multi else []))
                       if done else None,
                       "params": {"training.lr": 0.001 * 3 ** k, "fc1.out_features": 8 + 8 * k},
                       "run": "", "seconds": 1.5 + k,
                       "message": "" if done else "the value 0: out features must be >= 1"})
    return {"journal": "j", "root": "r", "metric": "val_loss", "direction": "minimize",
            "multi": multi, "search": [LR, WIDTH], "total": 4, "counted": 4, "trials": trials,
            "importance": {"training.lr": 0.8, "fc1.out_features": 0.2} if n_complete >= 2
            else None, "pareto": [0, 1] if multi else []}


def line_data(line):
    xs, ys = line.getData()
    return list(xs), list(ys)


def test_view_draws_a_snapshot_table_lines_and_importance(swept, qtbot):
    view = open_view(swept)
    qtbot.addWidget(view)
    view.show_snapshot(snapshot(n_complete=1))
    assert view.table.rowCount() == 4
    assert view.plots.importance_values == {}  # fewer than 2 complete trials
    view.show_snapshot(snapshot(n_complete=3))
    t = view.table
    heads = [t.horizontalHeaderItem(j).text() for j in range(t.columnCount())]
    assert heads == ["#", "state", "val_loss", "seconds", "training.lr", "fc1.out_features"]
    assert [t.item(i, 1).text() for i in range(4)] == ["complete"] * 3 + ["failed"]
    assert "out features must be >= 1" in t.item(3, 1).toolTip()
    # sorting by the metric: the best (lowest) first
    t.sortItems(2, Qt.AscendingOrder)
    assert [t.item(i, 0).text() for i in range(4)] == ["2", "1", "0", "3"]  # failed last
    # parallel coordinates: one line per trial over lr, width and the metric
    lines = view.plots.parallel_lines
    assert len(lines) == 4
    xs, ys = line_data(lines[0])
    assert xs == [0, 1, 2] and ys[0] == pytest.approx(0.0) and ys[1] == pytest.approx(0.0)
    assert ys[2] == pytest.approx(1.0)  # the worst metric at the top of its axis
    xs, ys = line_data(lines[3])  # a failed trial: no metric
    assert xs == [0, 1]
    ticks = view.plots.parallel.getAxis("bottom")._tickLevels[0]
    assert [name for _x, name in ticks] == ["training.lr", "fc1.out_features", "val_loss"]
    assert view.plots.importance_values == {"training.lr": 0.8, "fc1.out_features": 0.2}
    assert not view.plots.isTabEnabled(3)  # Pareto only for multi-objective sweeps
    view.show_snapshot(snapshot(n_complete=3, multi=True))
    assert view.plots.isTabEnabled(3)
    assert "parameters" in [t.horizontalHeaderItem(j).text() for j in range(t.columnCount())]


def test_apply_to_project_is_one_undo_step(swept, qtbot):
    view = open_view(swept)
    qtbot.addWidget(view)
    doc = swept.doc
    before = doc.project.to_json()
    view.show_snapshot(snapshot())
    assert not view.apply_btn.isEnabled()
    view.select_trial(2)
    assert view.apply_btn.isEnabled()
    view.apply_btn.click()
    assert doc.project.training.lr == pytest.approx(0.009)
    assert doc.graph.params("fc1")["out_features"] == 24
    assert swept.training.fields["lr"].text() == "0.009"  # the panel follows
    with qtbot.waitActive(view):  # Ctrl+Z in the sweep window undoes it as well
        view.activateWindow()
    qtbot.keyClick(view.table, Qt.Key_Z, Qt.ControlModifier)
    assert doc.project.to_json() == before


def test_start_refused_in_words_without_a_search_space(mlp, qtbot):
    view = open_view(mlp)
    qtbot.addWidget(view)
    assert not view.start()
    assert "nothing to search" in view.error.text()
    assert view.start_btn.isEnabled() and not view.stop_btn.isEnabled()


@pytest.mark.slow
def test_a_small_sweep_run_from_the_view_fills_table_and_plots(swept, qtbot):
    view = open_view(swept)
    qtbot.addWidget(view)
    view.trials.setValue(3)
    view.max_steps.setValue(20)
    view.epochs.setValue(2)
    view.start_btn.click()
    assert view.stop_btn.isEnabled() and not view.start_btn.isEnabled()
    assert view.job.pid not in (None, os.getpid())  # trained in a process of its own
    qtbot.waitUntil(lambda: view.table.rowCount() >= 1, timeout=120_000)  # while it runs
    assert view.wait(300)
    assert "Done: 3 complete" in view.status.text(), view.status.text() + view.error.text()
    assert view.table.rowCount() == 3
    assert len(view.plots.parallel_lines) == 3
    for line in view.plots.parallel_lines:
        xs, ys = line_data(line)
        assert xs == [0, 1, 2] and all(0 <= y <= 1 for y in ys)
    assert set(view.plots.importance_values) == {"training.lr", "fc1.out_features"}
    # a trial selected: its curves, and its values applied in one undo step
    view.select_trial(1)
    assert view.plots.epoch_curves.getPlotItem().listDataItems()
    params = view._row(1)["params"]
    before = swept.doc.project.to_json()
    view.apply_btn.click()
    assert swept.doc.project.training.lr == pytest.approx(params["training.lr"])
    assert swept.doc.graph.params("fc1")["out_features"] == params["fc1.out_features"]
    assert swept.doc.undo.count() == 1
    # Resume is offered for the journal left in the runs folder
    assert view.resume_btn.isEnabled()
    view.close()
    undo(swept, qtbot)
    assert swept.doc.project.to_json() == before


@pytest.mark.slow
def test_stop_then_resume_from_the_view(swept, qtbot):
    view = open_view(swept)
    qtbot.addWidget(view)
    view.trials.setValue(2)
    view.epochs.setValue(8)  # long enough to be stopped during its first trial
    view.start_btn.click()
    qtbot.waitUntil(lambda: "running" in view.status.text(), timeout=120_000)
    view.stop_btn.click()
    assert view.wait(300)
    assert view.start_btn.isEnabled() and view.resume_btn.isEnabled()
    states = [view.table.item(i, 1).text() for i in range(view.table.rowCount())]
    assert states == ["interrupted"]
    view.trials.setValue(1)  # the sweep's total: the interrupted trial does not count
    view.resume_btn.click()
    assert view.wait(300)
    assert "Done: 1 complete" in view.status.text(), view.status.text() + view.error.text()
    states = [view.table.item(i, 1).text() for i in range(view.table.rowCount())]
    assert states == ["interrupted", "complete"]


# The sweep's process (app/sweep_job.py) ----------------------------------------------------------

def test_the_sweep_runs_in_a_spawned_process_and_its_refusal_comes_back(tmp_path):
    from app.sweep_job import SweepJob
    from runtime.sweep import SweepConfig
    path = tmp_path / "mlp.json"
    p = load(TEMPLATES / "mlp.json")  # no search space: the sweep refuses in the child
    p.save(path)
    job = SweepJob(p.to_json(), path, SweepConfig(trials=2))
    job.start()
    assert job.pid is not None and job.pid != os.getpid()
    assert job.join(120)
    events = job.drain()
    assert not job.busy and job.process.exitcode == 0
    [(kind, message)] = events
    assert kind == "error" and "search" in message, message


def test_a_sweep_process_that_dies_is_said_as_an_error(tmp_path):
    from app.sweep_job import SweepJob
    from runtime.sweep import SweepConfig
    job = SweepJob(load(TEMPLATES / "mlp.json").to_json(), tmp_path / "mlp.json",
                   SweepConfig(trials=2))
    job.start()
    job.process.kill()
    assert job.join(30)
    assert job.drain() == [("error", f"the sweep process ended unexpectedly "
                                     f"(exit {job.process.exitcode})")]
    assert job.process.exitcode != 0 and not job.busy
