"""The training panel: the dataset and its binding to the Input and Target nodes, the
hyper-parameters (a form generated from the TrainingSettings model), Run / Pause / Stop with
progress, and the project's earlier runs (resume one, or overlay its curves)."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal, get_args, get_origin

import annotated_types as at
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QFormLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QScrollArea,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from graph.settings import OPTIMIZERS, RECIPES, DataSettings, TrainingSettings, auto_bind

from .document import Document, EditRefused, Editor
from .records_editor import RecordsEditor
from .widgets import guard_wheel

# Dataset options and fields without importing the runtime (torch): mirrored by a test.
from runtime.data import (DATASETS, FITS, DataError, csv_header_problem,  # noqa: E402
                          image_folder_summary, images_options_for_shape)  # (numpy only)

RECORD_REPLACES = ("optimizer", "lr", "momentum", "weight_decay")
LABELS = {"lr": "learning rate", "clip_norm": "gradient clipping", "val_split": "validation share",
          "weight_decay": "L2 weight decay", "batch_size": "batch size"}


def _bounds(field) -> tuple:
    lo = hi = None
    for m in field.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            lo = getattr(m, "ge", None) if isinstance(m, at.Ge) else m.gt
        if isinstance(m, (at.Le, at.Lt)):
            hi = getattr(m, "le", None) if isinstance(m, at.Le) else m.lt
    return lo, hi


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if (0 < abs(v) < 1e-3) else f"{v:g}"
    return str(v)


CSV_KINDS = ("csv", "csv_series")  # datasets read from a CSV file: columns to choose from


def preview_rows(dataset: str, options: dict, base_dir: Path | None, rows: int = 8):
    """(header, rows) of the user's file, or (None, message) when it cannot be read."""
    path = options.get("path")
    if not path:
        return None, "Choose a file."
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if not p.is_file():
        return None, f"{p}: no such file"
    if dataset in CSV_KINDS:
        try:
            with open(p, newline="", encoding="utf-8-sig") as f:
                r = csv.reader(f)
                out = [row for _, row in zip(range(rows + 1), r)]
        except (OSError, UnicodeDecodeError) as e:
            return None, f"{p}: cannot be read ({e})"
        if not out:
            return None, f"{p}: empty file"
        header = [h.strip() for h in out[0]]
        problem = csv_header_problem(header)  # the same rule as training's
        return (None, f"{p}: {problem}") if problem else (header, out[1:])
    try:
        import numpy as np
        with np.load(p, allow_pickle=False) as z:
            return ["array", "shape", "dtype", "first values"], [
                [k, " × ".join(map(str, z[k].shape)), str(z[k].dtype),
                 ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                           for v in z[k].reshape(-1)[:4].tolist())] for k in z.files]
    except Exception as e:  # a broken file: say so, keep the panel alive
        return None, f"{p}: not a readable .npz file ({e})"


def _html(text: str) -> str:
    from html import escape
    return escape(text)


def eta_words(seconds: float) -> str:
    """A duration in words: 'about 1 min 05 s left'."""
    s = int(round(seconds))
    if s < 60:
        return f"about {s} s left"
    if s < 3600:
        return f"about {s // 60} min {s % 60:02d} s left"
    return f"about {s // 3600} h {s % 3600 // 60:02d} min left"


def dataset_fields(dataset: str, options: dict, base_dir: Path | None) -> list[str]:
    if dataset == "npz":
        header, rows = preview_rows(dataset, options, base_dir)
        return [r[0] for r in rows] if header else []
    spec = DATASETS.get(dataset)
    return list(spec.fields) if spec and spec.fields else ["x", "y"]


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
        top.addWidget(self.error)
        top.addWidget(self.legend)
        # Pinned above the scrolling form: the run's controls and progress stay in view
        # however far down the form (epochs, device, the runs) the user has scrolled.
        outer.addLayout(top)
        outer.addWidget(scroll, 1)

        # Data.
        data_box = QGroupBox("Data")
        self.data_form = QFormLayout(data_box)
        self.dataset = QComboBox()
        for name, spec in DATASETS.items():
            self.dataset.addItem(spec.title, name)
        self.dataset.currentIndexChanged.connect(self._dataset_chosen)
        self.data_form.addRow("dataset", self.dataset)
        self.options_host = QWidget()
        self.options_form = QFormLayout(self.options_host)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        self.data_form.addRow(self.options_host)
        self.preview = QTableWidget(0, 0)
        self.preview.setMaximumHeight(150)
        self.preview.setEditTriggers(QTableWidget.NoEditTriggers)
        self.preview_note = QLabel()
        self.preview_note.setWordWrap(True)
        self.data_form.addRow(self.preview_note)
        self.data_form.addRow(self.preview)
        self.standardize = QCheckBox("standardise features (z-score, fitted on the training "
                                     "split)")
        self.standardize.setObjectName("standardize")
        self.standardize.setToolTip(DataSettings.model_fields["standardize"].description)
        self.standardize.toggled.connect(
            lambda on: None if self._updating else self._commit("data", "standardize", on))
        self.data_form.addRow(self.standardize)
        self.bind_host = QWidget()
        self.bind_form = QFormLayout(self.bind_host)
        self.bind_form.setContentsMargins(0, 0, 0, 0)
        self.data_form.addRow(self.bind_host)
        self.body.addWidget(data_box)

        # Hyper-parameters, generated from the settings model.
        hp_box = QGroupBox("Training")
        self.hp_form = QFormLayout(hp_box)
        self.fields: dict[str, QWidget] = {}
        for name, field in TrainingSettings.model_fields.items():
            if name == "optimizers":  # a table of its own, below
                continue
            w = self._setting_widget(name, field)
            label = QLabel(LABELS.get(name, name.replace("_", " ")))
            tip = field.description or ""
            label.setToolTip(tip)
            w.setToolTip(tip)
            w.setObjectName(name)
            self.hp_form.addRow(label, w)
            self.fields[name] = w
        self.body.addWidget(hp_box)
        self.records = RecordsEditor()
        self.records.changed.connect(lambda recs: self._commit("training", "optimizers", recs))
        self.records.refused.connect(self._refuse)
        self.body.addWidget(self.records)

        # Runs.
        runs_box = QGroupBox("Runs")
        rl = QVBoxLayout(runs_box)
        self.runs = QListWidget()
        self.runs.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.runs.setMaximumHeight(140)
        rl.addWidget(self.runs)
        rb = QHBoxLayout()
        self.resume_run_btn = QPushButton("Resume")
        self.compare_btn = QPushButton("Compare")
        rb.addWidget(self.resume_run_btn)
        rb.addWidget(self.compare_btn)
        rl.addLayout(rb)
        self.resume_run_btn.clicked.connect(self._resume_run)
        self.compare_btn.clicked.connect(
            lambda: self.compareRequested.emit([i.data(Qt.UserRole) for i in self.runs.selectedItems()]))
        self.runs.itemSelectionChanged.connect(self._runs_selected)
        self.body.addWidget(runs_box)
        self.body.addStretch(1)
        self.state = "idle"
        self.set_state("idle")
        guard_wheel(self)

    # Document binding ---------------------------------------------------------------------------
    def set_document(self, doc: Document) -> None:
        if self.doc is not None:
            try:
                self.doc.settingsChanged.disconnect(self.load)
                self.doc.analysed.disconnect(self._graph_changed)
            except (RuntimeError, TypeError):
                pass
        self.doc, self.editor = doc, Editor(doc)
        doc.settingsChanged.connect(self.load)
        doc.analysed.connect(self._graph_changed)
        self._options_for = None  # another document: build its option widgets afresh
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

    @property
    def base_dir(self) -> Path | None:
        return self.doc.path.parent if self.doc and self.doc.path else None

    def load(self) -> None:
        """Show the document's settings (after opening, undo, redo)."""
        if self.doc is None:
            return
        self._updating = True
        try:
            data = self.doc.project.data
            i = self.dataset.findData(data.dataset)
            self.dataset.setCurrentIndex(i if i >= 0 else -1)
            if getattr(self, "_options_for", None) != data.dataset:
                self._build_options()  # another dataset: other options
            else:
                self._load_options()  # same fields: keep the widgets (and the focus)
            self._build_binding()
            self._refresh_preview()
            self.standardize.setChecked(data.standardize)
            t = self.doc.project.training
            for name, w in self.fields.items():
                v = getattr(t, name)
                if isinstance(w, QComboBox):
                    j = w.findData(v)
                    w.setCurrentIndex(j if j >= 0 else 0)
                elif isinstance(w, QSpinBox):
                    w.setValue(v)
                else:
                    w.setText(_fmt(v))
            # Optimizer records replace the one optimizer of these fields
            for name in RECORD_REPLACES:
                self.fields[name].setEnabled(not t.optimizers and self.state == "idle")
            g = self.doc.graph
            self.records.set_records(
                t.optimizers, [n for n in g.nodes() if g.spec(n).role == "loss"],
                sorted(g.subnets))
        finally:
            self._updating = False

    def _graph_changed(self, _analysis) -> None:
        if not self._updating:
            self._build_binding()

    # Data ---------------------------------------------------------------------------------------
    def _dataset_chosen(self, _i) -> None:
        if self._updating or self.doc is None:
            return
        name = self.dataset.currentData()
        if name == self.doc.project.data.dataset:
            return
        options = self._image_options() if name == "images" else {}
        changes = [("dataset", name), ("options", options)]
        bind = self._auto_bind(name, options)
        if bind != self.doc.project.data.bind:
            changes.append(("bind", bind))
        self._commit_many(changes, f"Use the dataset '{self.dataset.currentText()}'")

    def _image_input(self) -> str | None:
        """The Input an image folder feeds: the one bound to field x, else the only one."""
        g = self.doc.graph
        inputs = [n for n in g.nodes() if g.spec(n).role == "input"]
        bound = [n for n in inputs if self.doc.project.data.bind.get(n) == "x"]
        return (bound or inputs)[0] if len(bound or inputs) == 1 else None

    def _image_options(self) -> dict:
        """Channels and size to resize the images to, from the Input's shape (C × H × W)."""
        n = self._image_input()
        opts = images_options_for_shape(self.doc.graph.params(n).get("shape")) if n else None
        if n and opts is None:
            self.message.emit(f"Input '{n}' takes {self.doc.graph.params(n).get('shape')}, not an "
                              "image (C × H × W with C 1 or 3): set its shape, or the images' "
                              "channels, height and width")
        return opts or {}

    def _match_input(self) -> None:
        opts = self._image_options()
        if opts:
            self._commit("data", "options", {**self.doc.project.data.options, **opts})
            self.load()

    def _auto_bind(self, dataset: str, options: dict) -> dict:
        """The binding filled in where the dataset's fields match the Input and Target nodes
        one to one (x -> the one Input, y -> the one Target, or fields named like nodes)."""
        g = self.doc.graph
        nodes = [n for n in g.nodes() if g.spec(n).role in ("input", "target")]
        fields = dataset_fields(dataset, options, self.base_dir)
        return auto_bind([n for n in nodes if g.spec(n).role == "input"],
                         [n for n in nodes if g.spec(n).role == "target"], fields,
                         self.doc.project.data.bind)

    def _commit_many(self, changes, text: str) -> None:
        """Several data values as one undo step."""
        self.doc.undo.beginMacro(text)
        try:
            for key, value in changes:
                self._commit("data", key, value)
        finally:
            self.doc.undo.endMacro()

    def _columns(self) -> list[str]:
        """The CSV's header, as the preview shows it ([] until a readable file is chosen)."""
        data = self.doc.project.data
        header, _ = preview_rows("csv", data.options, self.base_dir, rows=0)
        return header or []

    def _load_options(self) -> None:
        spec = DATASETS.get(self.doc.project.data.dataset)
        if spec is None:
            return
        options = self.doc.project.data.options
        for key, opt in spec.options.items():
            w = self.findChild(QWidget, f"option_{key}")
            if isinstance(w, QComboBox):
                value = options.get(key, opt.default) or ""
                i = w.findData(value)
                if i < 0:
                    w.addItem(f"{value} (not in the file)", value)
                    i = w.count() - 1
                w.setCurrentIndex(i)
            elif isinstance(w, QListWidget):
                self._load_features(w)
            elif isinstance(w, QLineEdit):
                text = (", ".join(options.get(key) or []) if key == "features"
                        else _fmt(options.get(key, opt.default)))
                if w.text() != text:
                    w.setText(text)

    def _load_features(self, w: QListWidget) -> None:
        """Check the feature columns in use (all but the label when none are named)."""
        options = self.doc.project.data.options
        chosen, label = options.get("features"), options.get("label", "")
        w.blockSignals(True)
        try:
            for i in range(w.count()):
                it = w.item(i)
                name = it.data(Qt.UserRole)
                is_label = name == label
                it.setFlags((it.flags() | Qt.ItemIsUserCheckable | Qt.ItemIsEnabled)
                            if not is_label else Qt.NoItemFlags)
                on = not is_label and (chosen is None or name in chosen)
                it.setCheckState(Qt.Checked if on else Qt.Unchecked)
                it.setToolTip("the label column" if is_label else "")
        finally:
            w.blockSignals(False)

    def _build_options(self) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self._options_for = self.doc.project.data.dataset
        spec = DATASETS.get(self.doc.project.data.dataset)
        if spec is None:
            return
        csv_columns = self._columns() if spec.name in CSV_KINDS else None
        choices = {"channels": [("1 (grey)", 1), ("3 (colour, RGB)", 3)],
                   "fit": [(f, f) for f in FITS]} if spec.name == "images" else {}
        for key, opt in spec.options.items():
            if key in choices:
                row = QComboBox()
                for text, value in choices[key]:
                    row.addItem(text, value)
                row.activated.connect(lambda _i, k=key, w=row: self._option_value(k, w.currentData()))
            elif csv_columns is not None and key in ("label", "label_kind", "target"):
                row = QComboBox()
                if key in ("label", "target"):  # the columns the preview shows, not typed
                    row.addItem("— choose the label column —" if key == "label" else
                                "— the first feature column —", "")
                    for c in csv_columns:
                        row.addItem(c, c)
                    row.setEnabled(bool(csv_columns))
                else:
                    row.addItem("class (categories)", "class")
                    row.addItem("value (numbers: regression)", "value")
                row.activated.connect(lambda _i, k=key, w=row: self._option_value(k, w.currentData()))
            elif csv_columns is not None and key == "features":
                row = QListWidget()
                row.setMaximumHeight(120)
                for c in csv_columns:
                    it = QListWidgetItem(c)
                    it.setData(Qt.UserRole, c)
                    row.addItem(it)
                row.itemChanged.connect(lambda _it, w=row: self._features_checked(w))
            else:
                row = QLineEdit(_fmt(self.doc.project.data.options.get(key, opt.default))
                                if key != "features" else
                                ", ".join(self.doc.project.data.options.get(key) or []))
                row.setPlaceholderText(_fmt(opt.default) if opt.default not in (None, "") else "")
                row.editingFinished.connect(lambda k=key, e=row: self._option_edited(k, e.text()))
            row.setObjectName(f"option_{key}")
            row.setToolTip(opt.help)
            if key == "path":
                edit, row = row, QWidget()
                h = QHBoxLayout(row)
                h.setContentsMargins(0, 0, 0, 0)
                h.addWidget(edit)
                browse = QPushButton("Browse…")
                browse.clicked.connect(lambda _=False, k=key, e=edit: self._browse(k, e))
                h.addWidget(browse)
            self.options_form.addRow(key.replace("_", " "), row)
        if spec.name == "images":
            match = QPushButton("Match the Input's shape")
            match.setObjectName("match_input")
            match.setToolTip("Set channels, height and width from the Input node's shape")
            match.clicked.connect(self._match_input)
            self.options_form.addRow(match)
        self._load_options()
        guard_wheel(self.options_host)

    def _features_checked(self, w: QListWidget) -> None:
        if self._updating:
            return
        items = [w.item(i) for i in range(w.count()) if w.item(i).flags() & Qt.ItemIsEnabled]
        on = [it.data(Qt.UserRole) for it in items if it.checkState() == Qt.Checked]
        if not on:
            self._load_features(w)
            return self._refuse("features: choose at least one feature column")
        self._option_value("features", None if len(on) == len(items) else on)

    def _option_edited(self, key: str, text: str) -> None:
        if self._updating:
            return
        spec = DATASETS[self.doc.project.data.dataset]
        opt = spec.options[key]
        text = text.strip()
        if text == "":
            return self._option_value(key, None)
        if key == "features":
            value = [c.strip() for c in text.split(",") if c.strip()]
        elif isinstance(opt.default, bool):
            value = text.lower() in ("1", "true", "yes")
        elif isinstance(opt.default, int):
            try:
                value = int(text)
            except ValueError:
                return self._refuse(f"{key}: must be a whole number")
        elif isinstance(opt.default, float):
            try:
                value = float(text)
            except ValueError:
                return self._refuse(f"{key}: must be a number")
        else:
            value = text
        self._option_value(key, value)

    def _option_value(self, key: str, value) -> None:
        """Set one data option (None or "": back to its default); a new file also refreshes
        the columns, the preview and the automatic binding, in the same undo step."""
        if self._updating:
            return
        data = self.doc.project.data
        opt = DATASETS[data.dataset].options[key]
        options = dict(data.options)
        if value is None or value == "":
            options.pop(key, None)
        else:
            if not opt.check(value):
                return self._refuse(f"{key}: must be {opt.rule}")
            options[key] = value
        if options == data.options:
            return
        if key == "label" and options.get("features") and value in options["features"]:
            options["features"] = [f for f in options["features"] if f != value] or None
            if options["features"] is None:
                options.pop("features")
        changes = [("options", options)]
        if key == "path":
            bind = self._auto_bind(data.dataset, options)
            if bind != data.bind:
                changes.append(("bind", bind))
        from .commands import SetSetting
        text = SetSetting._describe("data", "options", data.options, options)
        self._commit_many(changes, text) if len(changes) > 1 else \
            self._commit("data", "options", options)
        if key == "path" and data.dataset in CSV_KINDS:
            self._build_options()  # the new file's columns
        elif key == "label":
            w = self.findChild(QListWidget, "option_features")
            if w is not None:
                self._load_features(w)
        self._refresh_preview()
        self._build_binding()

    def _browse(self, key: str, edit: QLineEdit) -> None:
        kind = self.doc.project.data.dataset
        start = str(self.base_dir or Path.cwd())
        if kind == "images":
            path = QFileDialog.getExistingDirectory(
                self, "Choose the folder (one subfolder of images per class)", start)
        else:
            filt = "CSV files (*.csv)" if kind in CSV_KINDS else "NumPy arrays (*.npz)"
            path, _ = QFileDialog.getOpenFileName(self, "Choose a data file", start, filt)
        if path:
            if self.base_dir and Path(path).is_relative_to(self.base_dir):
                path = str(Path(path).relative_to(self.base_dir))
            edit.setText(path)
            self._option_edited(key, path)

    def _refresh_preview(self) -> None:
        data = self.doc.project.data
        spec = DATASETS.get(data.dataset)
        self.preview.clear()
        if data.dataset in (*CSV_KINDS, "npz"):
            header, rows = preview_rows(data.dataset, data.options, self.base_dir)
            if header is None:
                self.preview_note.setText(f"<span style='color:#c62828'>{rows}</span>")
                self.preview.setRowCount(0)
                self.preview.setColumnCount(0)
                self.preview.hide()
                return
            self.preview_note.setText("First rows of the file:" if data.dataset in CSV_KINDS
                                      else "Arrays in the file:")
            self.preview.setColumnCount(len(header))
            self.preview.setHorizontalHeaderLabels(header)
            self.preview.setRowCount(len(rows))
            for r, row in enumerate(rows):
                for c, v in enumerate(row[:len(header)]):
                    self.preview.setItem(r, c, QTableWidgetItem(v))
            self.preview.show()
        elif data.dataset == "images":
            self.preview.hide()
            self.preview_note.setText(self._image_summary(data.options))
        else:
            self.preview.hide()
            if spec is not None:
                fields = "; ".join(f"{k}: {v}" for k, v in spec.fields.items())
                self.preview_note.setText(f"{(spec.description or '').strip()} Fields: {fields}.")
            else:
                self.preview_note.setText("Choose a dataset.")

    def _image_summary(self, options: dict) -> str:
        if not options.get("path"):
            return "Choose a folder holding one subfolder of images per class."
        try:
            counts = image_folder_summary(options["path"], self.base_dir)
        except DataError as e:
            return f"<span style='color:#c62828'>{_html(str(e))}</span>"
        shown = ", ".join(f"{_html(c)} {n:,}" for c, n in list(counts.items())[:12])
        more = f", … ({len(counts) - 12} more)" if len(counts) > 12 else ""
        return (f"{len(counts)} classes, {sum(counts.values()):,} images: {shown}{more}. "
                f"Each image becomes {options.get('channels', 3)} × {options.get('height', 32)}"
                f" × {options.get('width', 32)} (field x), its class index field y.")

    def _build_binding(self) -> None:
        if self.doc is None:
            return
        g = self.doc.graph
        data = self.doc.project.data
        fields = dataset_fields(data.dataset, data.options, self.base_dir)
        nodes = [n for n in g.nodes() if g.spec(n).role in ("input", "target")]
        key = (tuple(nodes), tuple(fields), tuple(sorted(data.bind.items())))
        if key == getattr(self, "_binding_key", None):
            return  # nothing changed: keep the combo boxes
        self._binding_key = key
        while self.bind_form.rowCount():
            self.bind_form.removeRow(0)
        for n in nodes:
            combo = QComboBox()
            combo.setObjectName(f"bind_{n}")
            combo.addItem("—", "")
            for f in fields:
                combo.addItem(f, f)
            current = data.bind.get(n, "")
            i = combo.findData(current)
            combo.setCurrentIndex(i if i >= 0 else 0)
            combo.currentIndexChanged.connect(
                lambda _i, n=n, c=combo: self._bind(n, c.currentData()))
            role = "input" if g.spec(n).role == "input" else "target"
            self.bind_form.addRow(f"{n} ({role}) ←", combo)
        guard_wheel(self.bind_host)

    def _bind(self, node: str, field: str) -> None:
        if self._updating:
            return
        bind = dict(self.doc.project.data.bind)
        if field:
            bind[node] = field
        else:
            bind.pop(node, None)
        self._commit("data", "bind", bind)

    # Hyper-parameters ---------------------------------------------------------------------------
    def _setting_widget(self, name: str, field) -> QWidget:
        ann = field.annotation
        if get_origin(ann) is Literal:
            w = QComboBox()
            docs = OPTIMIZERS if name == "optimizer" else RECIPES if name == "recipe" else {}
            for v in get_args(ann):
                w.addItem(f"{v}", v)
                if v in docs:
                    w.setItemData(w.count() - 1, docs[v], Qt.ToolTipRole)
            w.currentIndexChanged.connect(lambda _i, n=name, w=w: self._setting(n, w.currentData()))
            return w
        if ann is str:  # free text (the metric the best checkpoint is chosen by)
            w = QLineEdit()
            w.setPlaceholderText("val_loss")
            w.editingFinished.connect(lambda n=name, w=w: self._setting(n, w.text().strip()))
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
            return self._refuse(f"{LABELS.get(name, name)}: must be a number")
        if not math.isfinite(v):
            return self._refuse(f"{LABELS.get(name, name)}: must be a finite number")
        self._setting(name, v)

    def _setting(self, name: str, value) -> None:
        if self._updating or self.doc is None:
            return
        self._commit("training", name, value)

    def _commit(self, section: str, key: str, value) -> None:
        try:
            self.editor.set_setting(section, key, value)
            self.error.hide()
        except EditRefused as e:
            self._refuse(str(e))

    def _refuse(self, why: str) -> None:
        self.error.setText(f"Refused: {why}")
        self.error.show()
        self.message.emit(f"Refused: {why}")
        self.load()

    # Run state ----------------------------------------------------------------------------------
    def _pause_clicked(self) -> None:
        (self.resumeRequested if self.pause_btn.text() == "Resume" else self.pauseRequested).emit()

    def set_state(self, state: str) -> None:
        self.state = state
        running = state in ("starting", "running", "paused", "stopping")
        self.run_btn.setEnabled(not running)
        self.pause_btn.setEnabled(state in ("running", "paused"))
        self.pause_btn.setText("Resume" if state == "paused" else "Pause")
        self.stop_btn.setEnabled(state in ("starting", "running", "paused"))
        for w in self.fields.values():
            w.setEnabled(not running)
        for w in (self.dataset, self.options_host, self.bind_host, self.resume_run_btn,
                  self.standardize, self.records):
            w.setEnabled(not running)
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

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    # Runs -----------------------------------------------------------------------------------------
    def set_runs(self, runs) -> None:
        self.runs.clear()
        for r in reversed(runs):
            final = r.info.get("final") or r.info.get("last_metrics") or {}
            metric = next(((k, v) for k, v in final.items() if k == "val_accuracy"), None) or \
                next(((k, v) for k, v in final.items() if "accuracy" in k), None) or \
                next(((k, v) for k, v in final.items() if k.endswith("loss")), None)
            text = f"{r.name} · {r.status} · {r.steps:,} steps"
            if metric:
                text += f" · {metric[0]} {metric[1]:.4g}"
            it = QListWidgetItem(text)
            it.setData(Qt.UserRole, r)
            it.setToolTip(str(r.folder))
            self.runs.addItem(it)
        self._runs_selected()

    def _runs_selected(self) -> None:
        items = self.runs.selectedItems()
        self.resume_run_btn.setEnabled(len(items) == 1 and items[0].data(Qt.UserRole).resumable
                                       and self.run_btn.isEnabled())
        self.compare_btn.setEnabled(bool(items))

    def _resume_run(self) -> None:
        items = self.runs.selectedItems()
        if len(items) == 1:
            self.resumeRunRequested.emit(items[0].data(Qt.UserRole))
