"""training.compile in the app: a check box in the training panel (one undo step), and the
run's start line says a fallback to eager."""
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox

from runtime.events import Started


def test_the_check_box_sets_compile_as_one_undo_step(win, qtbot):
    box = win.training.fields["compile"]
    assert isinstance(box, QCheckBox) and not box.isChecked()
    # the click on the box's indicator (a box without text is wider than what it hits)
    qtbot.mouseClick(box, Qt.LeftButton, pos=QPoint(6, box.height() // 2))
    assert win.doc.project.training.compile is True
    win.doc.undo.undo()
    assert win.doc.project.training.compile is False and not box.isChecked()


def test_a_fallback_to_eager_is_said_when_the_run_starts(win):
    note = "torch.compile failed, training eagerly instead: RuntimeError: no compiler"
    win._training_event(Started("cpu", "CPU", 1, 10, 10, 100, 20, 50, [], "supervised",
                                notes=[note]))
    assert win.status.text() == f"Training on CPU: 10 steps. {note}"


def test_a_run_in_several_processes_says_so_when_it_starts(win, monkeypatch):
    monkeypatch.setattr(win.trainer, "processes", 2)
    win._training_event(Started("cpu", "CPU", 1, 10, 10, 100, 20, 50, [], "supervised"))
    assert win.status.text() == "Training on 2 processes, process 0 on CPU: 10 steps"
