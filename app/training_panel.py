"""The training panel: Run / Pause / Stop with progress, the data form (app/data_form.py:
the dataset and its binding to the Input and Target nodes), the hyper-parameters (a form
generated from the TrainingSettings model), and the project's earlier runs (app/runs_list.py:
resume one, or overlay its curves). See ARCHITECTURE.md ("How a value flows", step 3)."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal, get_args, get_origin

import annotated_types as at
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QLineEdit, QProgressBar, QPushButton, QScrollArea, QSpinBox,
                               QVBoxLayout, QWidget)

from graph.settings import OPTIMIZERS, RECIPES, TrainingSettings

from .data_form import DataForm
from .document import Document, Editor
from .records_editor import RecordsEditor
from .runs_list import RunsList
from .search_toggle import SearchToggles
from .widgets import MetricBox, Refusals, fit_forms, fmt_value, guard_wheel, narrow_combo

RECORD_REPLACES = ("optimizer", "lr", "momentum", "weight_decay")
LABELS = {"lr": "learning rate", "clip_norm": "gradient clipping", "val_split": "validation share",
          "weight_decay": "L2 weight decay", "batch_size": "batch size",
          "compile": "torch.compile"}
PAUSE_MULTI = ("Pause is not offered for a run in several processes (they agree on stops "
               "only): Stop keeps its checkpoint, and Resume under Runs goes on from it.")


def _bounds(field) -> tuple:
    lo = hi = None
    for m in field.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            lo = getattr(m, "ge", None) if isinstance(m, at.Ge) else m.gt
        if isinstance(m, (at.Le, at.Lt)):
            hi = getattr(m, "le", None) if isinstance(m, at.Le) else m.lt
    return lo, hi


def eta_words(seconds: float) -> str:
    """A duration in words: 'about 1 min 05 s left'."""
    s = int(round(seconds))
    if s < 60:
        return f"about {s} s left"
    if s < 3600:
        return f"about {s // 60} min {s % 60:02d} s left"
    return f"about {s // 3600} h {s % 3600 // 60:02d} min left"


class TrainingPanel(QWidget):
    runRequested = Signal()
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    resumeRunRequested = Signal(object)  # a RunInfo
    compareRequested = Signal(list)  # RunInfos
    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.doc: Document | None = None
        self.editor: Editor | None = None
        self._updating = False
        self._devices = [{"id": "auto", "name": "Automatic (the best available)"},
                         {"id": "cpu", "name": "CPU"}]
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # The form fits the panel's width (long labels wrap, rows fold under their labels):
        # never a sideways scroll bar
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.NoFrame)
        host = QWidget()
        self.body = QVBoxLayout(host)
        scroll.setWidget(host)

        # Controls and progress: what one looks at while training.
        buttons = QHBoxLayout()
        self.run_btn = QPushButton("Run")
        self.pause_btn = QPushButton("Pause")
        self.stop_btn = QPushButton("Stop")
        for b in (self.run_btn, self.pause_btn, self.stop_btn):
            buttons.addWidget(b)
        self.run_btn.clicked.connect(self.runRequested)
        self.pause_btn.clicked.connect(self._pause_clicked)
        self.stop_btn.clicked.connect(self.stopRequested)
        self.progress = QProgressBar()
        self.progress.setFormat("%p%")
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        # The finished run's metrics, every one (the status bar has room for a few)
        self.result = QLabel()
        self.result.setObjectName("run_result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.result.hide()
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error.hide()
        self.legend = QLabel("Node colours while training (gradient norm): "
                             "<span style='color:#3b6fd4'>■</span> vanishing ≤ 1e-4 · "
                             "<span style='color:#a0a0a0'>■</span> healthy 0.1–10 · "
                             "<span style='color:#d4493b'>■</span> exploding ≥ 300")
        self.legend.setWordWrap(True)
        top = QVBoxLayout()
        top.addLayout(buttons)
        top.addWidget(self.progress)
        top.addWidget(self.status)
        top.addWidget(self.result)
        top.addWidget(self.error)
        top.addWidget(self.legend)
        # Pinned above the scrolling form: the run's controls and progress stay in view
        # however far down the form (epochs, device, the runs) the user has scrolled.
        outer.addLayout(top)
        outer.addWidget(scroll, 1)

        # A refused edit: said in red above the form and on the status bar; the form then
        # shows the model's values again
        self.refusals = Refusals(self.error, self.message.emit, self.load)
        self.search = SearchToggles(self.refusals)  # the "search" toggles (a sweep's space)

        # Data (app/data_form.py).
        self.data_box = DataForm(self.refusals, self.message.emit)
        self.dataset, self.standardize = self.data_box.dataset, self.data_box.standardize
        self.preview, self.preview_note = self.data_box.preview, self.data_box.preview_note
        self.body.addWidget(self.data_box)

        # Hyper-parameters, generated from the settings model.
        hp_box = QGroupBox("Training")
        self.hp_form = QFormLayout(hp_box)
        self.fields: dict[str, QWidget] = {}
        for name, field in TrainingSettings.model_fields.items():
            if name in ("optimizers", "initial_weights"):  # rows of their own
                continue
            w = self._setting_widget(name, field)
            label = QLabel(LABELS.get(name, name.replace("_", " ")))
            tip = field.description or ""
            label.setToolTip(tip)
            w.setToolTip(tip)
            w.setObjectName(name)
            self.hp_form.addRow(label, self.search.wrap(w, f"training.{name}"))
            self.fields[name] = w
        self._start_row(TrainingSettings.model_fields["initial_weights"].description or "")
        self.body.addWidget(hp_box)
        self.records = RecordsEditor()
        self.records.changed.connect(lambda recs: self._commit("training", "optimizers", recs))
        self.records.refused.connect(self.refusals.refuse)
        self.body.addWidget(self.records)

        # Runs (app/runs_list.py): Resume is offered while a run may start.
        self.runs_box = RunsList(self.run_btn.isEnabled)
        self.runs, self.resume_run_btn, self.compare_btn = \
            self.runs_box.runs, self.runs_box.resume_run_btn, self.runs_box.compare_btn
        self.runs_box.resumeRunRequested.connect(self.resumeRunRequested)
        self.runs_box.compareRequested.connect(self.compareRequested)
        self.body.addWidget(self.runs_box)
        self.body.addStretch(1)
        self.state = "idle"
        self.set_state("idle")
        guard_wheel(self)

    # Document binding ---------------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            try:
                self.doc.settingsChanged.disconnect(self.load)
                self.doc.undo.indexChanged.disconnect(self._clear_error)
            except (RuntimeError, TypeError):
                pass
        self.doc, self.editor = doc, Editor(doc)
        doc.settingsChanged.connect(self.load)
        self.data_box.set_document(doc, self.editor)  # (it follows the graph's analyses)
        self.search.set_document(doc)
        # an error speaks of the project as it was: an edit, or its undo, makes it stale
        doc.undo.indexChanged.connect(self._clear_error)
        self.reset_run_view()
        self.load()

    def reset_run_view(self) -> None:
        """Forget the last run's progress, rate, ETA and error (another project was opened)."""
        self.progress.setMaximum(100)
        self.progress.setValue(0)
        self.status.setText("Ready.")
        self._last_progress = None
        self.error.hide()
        self.error.setText("")
        self.result.hide()
        self.result.setText("")

    def load(self) -> None:
        """Show the document's settings (after opening, undo, redo)."""
        if self.doc is None:
            return
        self._updating = True
        try:
            self.data_box.load()
            t = self.doc.project.training
            for name, w in self.fields.items():
                v = getattr(t, name)
                if isinstance(w, MetricBox):
                    w.setCurrentText(v)
                elif isinstance(w, QComboBox):
                    j = w.findData(v)
                    w.setCurrentIndex(j if j >= 0 else 0)
                elif isinstance(w, QSpinBox):
                    w.setValue(v)
                elif isinstance(w, QCheckBox):
                    w.setChecked(bool(v))
                else:
                    w.setText(fmt_value(v))
            # Optimizer records replace the one optimizer of these fields
            for name in RECORD_REPLACES:
                self.fields[name].setEnabled(not t.optimizers and self.state == "idle")
            g = self.doc.graph
            self.records.set_records(
                t.optimizers, [n for n in g.nodes() if g.spec(n).role == "loss"],
                sorted(g.subnets))
            self._show_start()
            self._fit_width()
        finally:
            self._updating = False

    def _fit_width(self) -> None:
        """The form is never wider than the panel (widgets.fit_forms)."""
        fit_forms((*self.data_box.forms(), self.hp_form), self)

    # Hyper-parameters ---------------------------------------------------------------------------
    def _setting_widget(self, name: str, field) -> QWidget:
        ann = field.annotation
        if get_origin(ann) is Literal:
            w = narrow_combo()
            docs = OPTIMIZERS if name == "optimizer" else RECIPES if name == "recipe" else {}
            for v in get_args(ann):
                w.addItem(f"{v}", v)
                if v in docs:
                    w.setItemData(w.count() - 1, docs[v], Qt.ToolTipRole)
            w.currentIndexChanged.connect(lambda _i, n=name, w=w: self._setting(n, w.currentData()))
            return w
        if ann is str:  # the metric the best checkpoint is chosen by, among the run's
            w = MetricBox(self._metric_names)
            w.lineEdit().setPlaceholderText("val_loss")
            w.lineEdit().editingFinished.connect(lambda n=name, w=w: self._best_metric(w))
            w.activated.connect(lambda _i, w=w: self._best_metric(w))
            return w
        if ann is bool:
            w = QCheckBox()
            w.toggled.connect(lambda on, n=name: self._setting(n, on))
            return w
        if ann is int:
            w = QSpinBox()
            lo, hi = _bounds(field)
            w.setRange(int(lo if lo is not None else 0), int(min(hi if hi is not None else 2**31 - 1, 2**31 - 1)))
            w.editingFinished.connect(lambda n=name, w=w: self._setting(n, w.value()))
            return w
        w = QLineEdit()
        optional = type(None) in get_args(ann)
        w.setPlaceholderText("off" if optional else "")
        w.editingFinished.connect(lambda n=name, w=w, o=optional: self._setting_text(n, w.text(), o))
        return w

    # Starting weights ------------------------------------------------------------------------------
    def _start_row(self, tip: str) -> None:
        """'Starts from: P.safetensors' (training.initial_weights), with Choose… and Clear."""
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        self.start_label = QLabel()
        self.start_label.setObjectName("start_weights")
        self.start_label.setWordWrap(True)
        self.start_label.setToolTip(tip)
        self.start_choose = QPushButton("Choose…")
        self.start_choose.setToolTip("Start training from the weights in a .safetensors file")
        self.start_choose.clicked.connect(self._choose_start)
        self.start_clear = QPushButton("Clear")
        self.start_clear.setToolTip("Start from a fresh initialisation")
        self.start_clear.clicked.connect(lambda: self._setting("initial_weights", ""))
        h.addWidget(self.start_label, 1)
        h.addWidget(self.start_choose)
        h.addWidget(self.start_clear)
        self.hp_form.addRow(row)

    def _show_start(self) -> None:
        v = self.doc.project.training.initial_weights if self.doc else ""
        self.start_label.setText(f"Starts from: {v}" if v else
                                 "Starts from: a fresh initialisation")
        self.start_clear.setEnabled(bool(v) and self.state == "idle")

    def ask_weights_file(self) -> str:
        """The .safetensors file to start from, or '' (replaced in tests)."""
        folder = str(self.doc.path.parent) if self.doc and self.doc.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Start from the weights in", folder,
                                              "safetensors (*.safetensors)")
        return path

    def _choose_start(self) -> None:
        path = self.ask_weights_file()
        if not path or self.doc is None:
            return
        if self.doc.path is not None:  # inside the project's folder: relative, so the
            folder = self.doc.path.parent.resolve()  # folder may move with its weights
            try:
                path = Path(path).resolve().relative_to(folder).as_posix()
            except ValueError:
                path = os.path.abspath(path)
        self._setting("initial_weights", path)

    def set_devices(self, devices: list[dict]) -> None:
        """Only what this machine has, with the GPU's name and memory."""
        self._devices = devices
        w: QComboBox = self.fields["device"]
        self._updating = True
        try:
            w.clear()
            for d in devices:
                w.addItem(d["name"] if d["id"] != "auto" else d["name"], d["id"])
            current = self.doc.project.training.device if self.doc else "auto"
            i = w.findData(current)
            if i < 0:
                w.addItem(f"{current} (not on this machine)", current)
                i = w.count() - 1
            w.setCurrentIndex(i)
        finally:
            self._updating = False

    def _setting_text(self, name: str, text: str, optional: bool) -> None:
        if self._updating:
            return
        text = text.strip()
        if text == "" and optional:
            return self._setting(name, None)
        try:
            v = float(text)
        except ValueError:
            return self.refusals.refuse(f"{LABELS.get(name, name)}: must be a number")
        if not math.isfinite(v):
            return self.refusals.refuse(f"{LABELS.get(name, name)}: must be a finite number")
        self._setting(name, v)

    def _setting(self, name: str, value) -> None:
        if self._updating or self.doc is None:
            return
        self._commit("training", name, value)

    def _metric_names(self) -> list[str]:
        """The epoch metrics this project's run would report (runtime.epoch_metrics)."""
        from runtime.epoch_metrics import project_metric_names
        return project_metric_names(self.doc.project) or [] if self.doc else []

    def _best_metric(self, box) -> None:
        """training.best_metric from its box: a metric the run reports (or its 'val_' twin),
        else refused with the names that exist."""
        text = box.currentText().strip()
        if self._updating or self.doc is None or text == self.doc.project.training.best_metric:
            return
        names = self._metric_names()
        if text and names:
            from runtime.epoch_metrics import resolve_best
            try:
                text = resolve_best(text, names)  # 'map50' is stored as 'val_map50'
            except ValueError as e:
                self.refusals.refuse(str(e))
                return
        self._setting("best_metric", text)

    def _commit(self, section: str, key: str, value) -> None:
        self.refusals.commit(lambda: self.editor.set_setting(section, key, value))

    # Run state ----------------------------------------------------------------------------------
    def _pause_clicked(self) -> None:
        (self.resumeRequested if self.pause_btn.text() == "Resume" else self.pauseRequested).emit()

    def processes(self) -> int:
        """The project's training processes (training.processes)."""
        return self.doc.project.training.processes if self.doc else 1

    def set_state(self, state: str) -> None:
        self.state = state
        running = state in ("starting", "running", "paused", "stopping")
        self.run_btn.setEnabled(not running)
        multi = self.processes() > 1  # the processes agree on stops only: no pause
        self.pause_btn.setEnabled(state in ("running", "paused") and not multi)
        self.pause_btn.setToolTip(PAUSE_MULTI if multi else "")
        self.pause_btn.setText("Resume" if state == "paused" else "Pause")
        self.stop_btn.setEnabled(state in ("starting", "running", "paused"))
        self.legend.setVisible(running)  # the node colours mean something while it trains
        for w in self.fields.values():
            w.setEnabled(not running)
        self.data_box.set_running(running)
        for w in (self.resume_run_btn, self.records, self.start_choose):
            w.setEnabled(not running)
        self._show_start()
        records = bool(self.doc and self.doc.project.training.optimizers)
        for name in RECORD_REPLACES:
            self.fields[name].setEnabled(not running and not records)
        if state == "starting":
            self.status.setText("Starting… (loading the data, compiling the model)")
            self.error.hide()
        elif state == "paused":
            self.status.setText(self._progress_text(self._last_progress) if
                                getattr(self, "_last_progress", None) else "Paused.")

    def show_progress(self, data) -> None:
        total = max(data.total_steps, 1)
        value = min(data.step, total)
        if self.progress.maximum() != total:
            self.progress.setMaximum(total)
        if value * 200 // total != self.progress.value() * 200 // total:  # 0.5% steps
            self.progress.setValue(value)
        self._last_progress = data
        self.status.setText(self._progress_text(data))

    def _progress_text(self, data) -> str:
        total = max(data.total_steps, 1)
        where = f"step {data.step:,} of {total:,}"
        if self.state == "paused":
            return f"Paused at {where}. Press Resume (F6) to go on."
        if self.state == "stopping":
            return f"Stopping at {where}…"
        if self.state == "idle":
            return f"Last run: {where} · {data.samples_per_s:,.0f} samples/s"
        eta = data.eta_seconds()
        eta_text = "" if eta is None else f" · {eta_words(eta)}"
        return f"Training: {where} · {data.samples_per_s:,.0f} samples/s{eta_text}"

    def show_result(self, metrics: dict) -> None:
        """A finished run's final metrics, all of them, in a few wrapped lines."""
        shown = " · ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                           if isinstance(v, (int, float)))
        self.result.setText(f"Final metrics: {shown}" if shown else "")
        self.result.setVisible(bool(shown))

    def _clear_error(self, *_) -> None:
        self.error.hide()
        self.error.setText("")

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    # Runs -----------------------------------------------------------------------------------------
    def set_runs(self, runs) -> None:
        self.runs_box.set_runs(runs)
