"""Train > Sweep… (issue 29 items 2 and 4): a window that runs a sweep of the project
(runtime/sweep.py, in its own process: app/sweep_job.py) and shows its trials as they finish.

Above: the trials, metric, direction, sampler, pruner (and the metric against the parameter
count, epochs and steps per trial), Start, Resume (the project's newest sweep journal) and
Stop. Below: the trials table (sortable: number, state, values, duration, each searched
value) beside the plots (app/sweep_plots.py: parallel coordinates, history, importance,
Pareto, the selected trial's curves). Selecting a trial draws its run's curves
(runtime/runs.read_csv) and offers "Apply to project": its values set in the project as one
undo step (app/search_toggle.apply_values_edit, through graph.search.apply_values).
The search space is the project's `search` list (the "search" toggles beside the fields).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFormLayout,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from .search_toggle import apply_values_edit
from .sweep_plots import SweepPlots
from .widgets import Refusals

DIRECTIONS = (("from the metric's name", ""), ("maximise", "maximize"), ("minimise", "minimize"))


class _Cell(QTableWidgetItem):
    """A cell that sorts by its value: numbers as numbers, an empty cell after them."""

    def __init__(self, key):
        super().__init__()
        self.key = key

    def __lt__(self, other):
        a, b = self.key, getattr(other, "key", None)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        if a is None or b is None:
            return b is None and a is not None
        return str(a) < str(b)


def _item(value, tip: str | None = None) -> QTableWidgetItem:
    """A cell showing `value` (a float to 4 significant digits), `tip` its tooltip."""
    it = _Cell(value)
    it.setText("" if value is None else f"{value:.4g}" if isinstance(value, float)
               else str(value))
    if tip:
        it.setToolTip(tip)
    it.setFlags(it.flags() & ~Qt.ItemIsEditable)
    return it


class SweepView(QWidget):
    """See the module's docstring. `say` shows a line on the window's status bar."""

    def __init__(self, doc, say=None, parent=None):
        super().__init__(parent, Qt.Window)
        self.doc, self.say = doc, say or (lambda _m: None)
        self.setWindowTitle(f"Sweep: {doc.title}")
        self.job = None
        self.snap: dict | None = None
        outer = QVBoxLayout(self)

        form_host = QWidget()
        form = QFormLayout(form_host)
        form.setContentsMargins(0, 0, 0, 0)
        self.trials = QSpinBox()
        self.trials.setRange(1, 100_000)
        self.trials.setValue(8)
        self.trials.setToolTip("The sweep's total: a resumed sweep runs only the missing ones")
        self.metric_box = QLineEdit()
        self.metric_box.setPlaceholderText(doc.project.training.best_metric or "val_loss")
        self.direction = QComboBox()
        for text, v in DIRECTIONS:
            self.direction.addItem(text, v)
        self.sampler, self.pruner = QComboBox(), QComboBox()
        self.sampler.addItems(["tpe", "random", "grid"])
        self.pruner.addItems(["median", "hyperband", "none"])
        self.against = QCheckBox("against the parameter count (Pareto front; no pruning)")
        self.epochs, self.max_steps = QSpinBox(), QSpinBox()
        self.epochs.setRange(0, 100_000)
        self.epochs.setSpecialValueText("the project's")
        self.max_steps.setRange(0, 10_000_000)
        self.max_steps.setSpecialValueText("no limit")
        row1, row2 = QHBoxLayout(), QHBoxLayout()
        for label, w, row in (("trials", self.trials, row1), ("metric", self.metric_box, row1),
                              ("direction", self.direction, row1),
                              ("sampler", self.sampler, row2), ("pruner", self.pruner, row2),
                              ("epochs", self.epochs, row2), ("max steps", self.max_steps, row2)):
            row.addWidget(QLabel(label))
            row.addWidget(w)
            w.setObjectName(label.replace(" ", "_"))
        row1.addWidget(self.against)
        row1.addStretch(1)
        row2.addStretch(1)
        form.addRow(row1)
        form.addRow(row2)
        outer.addWidget(form_host)

        buttons = QHBoxLayout()
        self.start_btn, self.resume_btn = QPushButton("Start"), QPushButton("Resume")
        self.stop_btn = QPushButton("Stop")
        self.start_btn.clicked.connect(lambda: self.start(resume=False))
        self.resume_btn.clicked.connect(lambda: self.start(resume=True))
        self.stop_btn.clicked.connect(self.stop)
        self.status = QLabel()
        self.status.setWordWrap(True)
        for b in (self.start_btn, self.resume_btn, self.stop_btn):
            buttons.addWidget(b)
        buttons.addWidget(self.status, 1)
        outer.addLayout(buttons)
        self.space = QLabel()
        self.space.setWordWrap(True)
        self.space.setStyleSheet("color: #555;")
        outer.addWidget(self.space)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error.hide()
        outer.addWidget(self.error)
        self.refusals = Refusals(self.error, self.say, reload=lambda: None)

        split = QSplitter(Qt.Horizontal)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("trials")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selected)
        lv.addWidget(self.table, 1)
        self.trial_note = QLabel("Select a trial to see its curves.")
        self.trial_note.setWordWrap(True)
        lv.addWidget(self.trial_note)
        self.apply_btn = QPushButton("Apply to project")
        self.apply_btn.setToolTip("Set the selected trial's values in the project (one undo "
                                  "step: Edit > Undo takes them back)")
        self.apply_btn.setEnabled(False)
        self.apply_btn.clicked.connect(self.apply_selected)
        lv.addWidget(self.apply_btn)
        split.addWidget(left)
        self.plots = SweepPlots()
        split.addWidget(self.plots)
        split.setSizes([480, 620])
        outer.addWidget(split, 1)

        self._timer = QTimer(self, interval=200)
        self._timer.timeout.connect(self.poll)
        self.doc.undo.indexChanged.connect(self._project_changed)
        self._project_changed()
        self._set_running(False)

    # The space and the buttons -------------------------------------------------------------------
    def _project_changed(self, *_args) -> None:
        search = self.doc.project.search
        self.space.setText("Searching: " + "; ".join(e.describe() for e in search) if search
                           else "Nothing to search yet: turn on 'search' beside a setting in "
                                "the training panel or a parameter in the inspector.")

    def _journals(self) -> list[Path]:
        from runtime.runs import runs_root
        from runtime.sweep import journals
        return journals(runs_root(self.doc.path.resolve())) if self.doc.path else []

    def _set_running(self, running: bool) -> None:
        self.start_btn.setEnabled(not running)
        self.resume_btn.setEnabled(not running and bool(self._journals()))
        self.stop_btn.setEnabled(running)
        for w in (self.trials, self.metric_box, self.direction, self.sampler, self.pruner,
                  self.against, self.epochs, self.max_steps):
            w.setEnabled(not running)
        if not running and self._journals():
            self.resume_btn.setToolTip(f"Continue {self._journals()[-1].name}")

    def config(self):
        from runtime.sweep import SweepConfig
        return SweepConfig(trials=self.trials.value(), metric=self.metric_box.text().strip(),
                           direction=self.direction.currentData(),
                           sampler=self.sampler.currentText(),
                           pruner=self.pruner.currentText(),
                           epochs=self.epochs.value() or None,
                           max_steps=self.max_steps.value() or None,
                           against_parameters=self.against.isChecked())

    def start(self, resume: bool = False) -> bool:
        """Start (or resume) the sweep in its process; False with the reason shown if not."""
        from .sweep_job import SweepJob
        if self.job is not None and self.job.busy:
            return False
        why = None
        if self.doc.path is None:
            why = "save the project first: a sweep keeps its journal and runs beside the file"
        elif not resume and not self.doc.project.search:
            why = ("nothing to search: turn on 'search' beside a training setting or a node "
                   "parameter first")
        elif not resume:
            analysis = self.doc.reanalyse()
            if not analysis.ok:
                why = f"the graph has problems; fix them first: {analysis.errors[0]}"
        if why:
            self.refusals.refuse(why)
            return False
        self.error.hide()
        self.job = SweepJob(self.doc.project.to_json(), self.doc.path, self.config(), resume)
        self.job.start()
        self.status.setText("Resuming the sweep…" if resume else "Starting the sweep…")
        self._set_running(True)
        self._timer.start()
        return True

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()
            self.status.setText("Stopping: the trial under way ends, no other starts…")

    def wait(self, timeout: float = 600) -> bool:
        """Tests and scripts: until the sweep's process ends, then its last events shown."""
        ended = self.job is None or self.job.join(timeout)
        self.poll()
        return ended

    # Events from the sweep's process -----------------------------------------------------------
    def poll(self) -> None:
        if self.job is None:
            return
        for kind, payload in self.job.drain():
            if kind == "snapshot":
                self.show_snapshot(payload)
            elif kind == "started":
                ev = payload
                vals = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                                 for k, v in ev.params.items())
                self.status.setText(f"Trial {ev.index}/{ev.total} running: {vals}")
                self._trial_line = self.status.text()
            elif kind == "progress":
                self.status.setText(f"{getattr(self, '_trial_line', '')} · {payload}")
            elif kind == "ended":
                msg = f" ({payload.message})" if payload.message else ""
                self.say(f"Sweep trial {payload.index}/{payload.total}: {payload.state}{msg}")
            elif kind == "done":
                s = payload
                best = ""
                if s.best:
                    best = f"; best: trial {s.best['number']}, {self.snap['metric']} " \
                           f"{s.best['values'][0]:.4g}" if self.snap else ""
                self.status.setText(f"Done: {s.complete} complete, {s.pruned} pruned, "
                                    f"{s.failed} failed{best}.")
            elif kind == "error":
                self.refusals.refuse(payload)
                self.status.setText("The sweep did not run." if self.snap is None else
                                    "The sweep stopped.")
        if not self.job.busy and self.job.queue.empty():
            self._timer.stop()
            self._set_running(False)

    def show_snapshot(self, snap: dict) -> None:
        self.snap = snap
        self._fill_table(snap)
        self.plots.show_snapshot(snap)

    # The table -----------------------------------------------------------------------------------
    def _fill_table(self, snap: dict) -> None:
        chosen = self.selected_trial()
        targets = [e["target"] for e in snap["search"]]
        metric = snap["metric"]
        heads = ["#", "state", metric] + (["parameters"] if snap["multi"] else []) + \
            ["seconds"] + targets
        t = self.table
        t.setSortingEnabled(False)
        t.blockSignals(True)
        t.clearContents()
        t.setColumnCount(len(heads))
        t.setHorizontalHeaderLabels(heads)
        rows = snap["trials"]
        t.setRowCount(len(rows))
        for i, r in enumerate(rows):
            vals = r["values"] or []
            cells = [_item(r["number"]), _item(r["state"], r["message"] or r["state"])]
            cells.append(_item(vals[0] if vals else None, r["message"] or None))
            if snap["multi"]:
                cells.append(_item(int(vals[1]) if len(vals) > 1 else None))
            secs = r["seconds"]
            cells.append(_item(round(secs, 1) if secs is not None else None))
            for tg in targets:
                v = r["params"].get(tg)
                cells.append(_item(v, repr(v) if isinstance(v, float) else None))
            for j, c in enumerate(cells):
                t.setItem(i, j, c)
        t.setSortingEnabled(True)
        t.blockSignals(False)
        if chosen is not None:
            self.select_trial(chosen)

    def selected_trial(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).key

    def select_trial(self, number: int) -> None:
        for i in range(self.table.rowCount()):
            if self.table.item(i, 0).key == number:
                self.table.selectRow(i)
                return

    def _row(self, number: int | None) -> dict | None:
        if number is None or self.snap is None:
            return None
        return next((r for r in self.snap["trials"] if r["number"] == number), None)

    def _selected(self) -> None:
        r = self._row(self.selected_trial())
        self.apply_btn.setEnabled(bool(r and r["params"]))
        if r is None:
            return
        note = f"Trial {r['number']}: {r['state']}"
        if r["message"]:
            note += f" ({r['message']})"
        if r["run"]:
            from runtime.runs import read_csv
            folder = Path(self.snap["root"]) / r["run"]
            self.plots.show_curves(str(r["number"]), read_csv(folder / "steps.csv"),
                                   read_csv(folder / "epochs.csv"), self.snap["metric"])
            note += f"; its run {r['run']} (curves: the Curves tab)"
        self.trial_note.setText(note)

    def apply_selected(self) -> bool:
        """Apply to project: the selected trial's values, one undo step."""
        r = self._row(self.selected_trial())
        if not r or not r["params"]:
            return False
        ok = self.refusals.commit(lambda: apply_values_edit(
            self.doc, r["params"], f"Apply sweep trial {r['number']}'s values"))
        if ok:
            self.say(f"Applied trial {r['number']}'s values (Edit > Undo takes them back)")
        return ok

    def closeEvent(self, event) -> None:
        if self.job is not None and self.job.busy:
            self.job.stop()
            self.job.join(10)
        try:
            self.doc.undo.indexChanged.disconnect(self._project_changed)
        except (RuntimeError, TypeError):
            pass
        super().closeEvent(event)
