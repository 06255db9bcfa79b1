"""The training panel's data form (ARCHITECTURE.md, "Recipes for adding things": a dataset
kind): the dataset, its options (a form built from the dataset spec's `Option`s: a CSV's
columns as lists to choose from, an image folder's channels and fit), a preview of the user's
file or what a generated set holds, "standardise features", the augmentation of training
images (augment_form.py: its settings and a preview grid), and the binding of its fields to
the Input and Target nodes. Every change is an undo step (Editor.set_setting)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPushButton, QTableWidget, QTableWidgetItem, QWidget)

from graph.settings import DataSettings, auto_bind
from graph.spec import NodeRole, ParamRole

from .augment_form import AugmentBox
from .data_preview import CSV_KINDS, dataset_fields, image_summary, preview_rows
from .document import Document, Editor
from .widgets import Refusals, fit_forms, fmt_value, guard_wheel, narrow_combo

# Dataset options without importing the runtime (torch): mirrored by a test.
from runtime.data import DATASETS, FITS, images_options_for_shape  # noqa: E402  (numpy only)


class DataForm(QGroupBox):
    """The "Data" box of the training panel. `refusals` is the panel's (its red line, the
    status bar, the whole panel reloaded); `say` puts a note on the status bar."""

    def __init__(self, refusals: Refusals, say, parent=None):
        super().__init__("Data", parent)
        self.refusals, self.say = refusals, say
        self.doc: Document | None = None
        self.editor: Editor | None = None
        self._updating = False
        self._options_for = None  # the dataset whose option widgets are built
        self._binding_key = None  # what the binding's combo boxes were built for
        self.form = QFormLayout(self)
        self.dataset = narrow_combo()
        for name, spec in DATASETS.items():
            self.dataset.addItem(spec.title, name)
        self.dataset.currentIndexChanged.connect(self._dataset_chosen)
        self.form.addRow("dataset", self.dataset)
        self.options_host = QWidget()
        self.options_form = QFormLayout(self.options_host)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow(self.options_host)
        self.preview = QTableWidget(0, 0)
        self.preview.setMaximumHeight(150)
        self.preview.setEditTriggers(QTableWidget.NoEditTriggers)
        self.preview_note = QLabel()
        self.preview_note.setWordWrap(True)
        self.form.addRow(self.preview_note)
        self.form.addRow(self.preview)
        self.standardize = QCheckBox("standardise features (z-score)")
        self.standardize.setObjectName("standardize")
        self.standardize.setToolTip(DataSettings.model_fields["standardize"].description)
        self.standardize.toggled.connect(
            lambda on: None if self._updating else self._commit("standardize", on))
        self.form.addRow(self.standardize)
        self.augment = AugmentBox(
            self.refusals.commit, lambda: self.doc and self.doc.project.data.augment,
            lambda a: self.editor.set_setting("data", "augment", a),
            lambda: (self.doc.project, self.base_dir))
        self.bind_host = QWidget()
        self.bind_form = QFormLayout(self.bind_host)
        self.bind_form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow(self.bind_host)
        self.form.addRow(self.augment)  # below the binding: that stays in view

    def set_document(self, doc: Document, editor: Editor) -> None:
        if self.doc is not None:
            try:
                self.doc.analysed.disconnect(self._graph_changed)
            except (RuntimeError, TypeError):
                pass
        self.doc, self.editor = doc, editor
        doc.analysed.connect(self._graph_changed)
        self._options_for = None  # another document: build its option widgets afresh

    @property
    def base_dir(self) -> Path | None:
        return self.doc.path.parent if self.doc and self.doc.path else None

    def load(self) -> None:
        """Show the document's data settings (after opening, undo, redo)."""
        self._updating = True
        try:
            data = self.doc.project.data
            i = self.dataset.findData(data.dataset)
            self.dataset.setCurrentIndex(i if i >= 0 else -1)
            if self._options_for != data.dataset:
                self._build_options()  # another dataset: other options
            else:
                self._load_options()  # same fields: keep the widgets (and the focus)
            self._build_binding()
            self._refresh_preview()
            self.standardize.setChecked(data.standardize)
            self.augment.load(data.augment)
        finally:
            self._updating = False

    def forms(self) -> tuple[QFormLayout, ...]:
        return (self.form, self.options_form, self.bind_form, self.augment.form)

    def fit_width(self) -> None:
        """Never wider than the panel (widgets.fit_forms)."""
        fit_forms(self.forms(), self)

    def set_running(self, running: bool) -> None:
        """While a run trains, its data stays as it started."""
        for w in (self.dataset, self.options_host, self.bind_host, self.standardize):
            w.setEnabled(not running)
        self.augment.set_running(running)

    def _graph_changed(self, _analysis) -> None:
        if not self._updating:
            self._build_binding()

    def _commit(self, key: str, value) -> None:
        self.refusals.commit(lambda: self.editor.set_setting("data", key, value))

    def _dataset_chosen(self, _i) -> None:
        if self._updating or self.doc is None:
            return
        name = self.dataset.currentData()
        if name == self.doc.project.data.dataset:
            return
        # (the spec has no rule for options taken from the graph: the image folder's is here)
        options = self._image_options() if name == "images" else {}
        changes = [("dataset", name), ("options", options)]
        bind = self._auto_bind(name, options)
        if bind != self.doc.project.data.bind:
            changes.append(("bind", bind))
        self._commit_many(changes, f"Use the dataset '{self.dataset.currentText()}'")

    def _image_input(self) -> str | None:
        """The Input an image folder feeds: the one bound to field x, else the only one."""
        g = self.doc.graph
        inputs = [n for n in g.nodes() if g.spec(n).role == NodeRole.INPUT]
        bound = [n for n in inputs if self.doc.project.data.bind.get(n) == "x"]
        return (bound or inputs)[0] if len(bound or inputs) == 1 else None

    def _image_options(self) -> dict:
        """Channels and size to resize the images to, from the Input's shape (C × H × W)."""
        n = self._image_input()
        shape = (self.doc.graph.spec(n).role_value(self.doc.graph.params(n),
                                                   ParamRole.SAMPLE_SHAPE) if n else None)
        opts = images_options_for_shape(shape) if n else None
        if n and opts is None:
            self.say(f"Input '{n}' takes {shape}, not an "
                     "image (C × H × W with C 1 or 3): set its shape, or the images' "
                     "channels, height and width")
        return opts or {}

    def _match_input(self) -> None:
        opts = self._image_options()
        if opts:
            self._commit("options", {**self.doc.project.data.options, **opts})
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
                self._commit(key, value)
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
                        else fmt_value(options.get(key, opt.default)))
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
        # An Option carries no list of choices: the image folder's are named here
        choices = {"channels": [("1 (grey)", 1), ("3 (colour, RGB)", 3)],
                   "fit": [(f, f) for f in FITS]} if spec.name == "images" else {}
        for key, opt in spec.options.items():
            if key in choices:
                row = narrow_combo()
                for text, value in choices[key]:
                    row.addItem(text, value)
                row.activated.connect(lambda _i, k=key, w=row: self._option_value(k, w.currentData()))
            elif csv_columns is not None and key in ("label", "label_kind", "target"):
                row = narrow_combo()
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
                row = QLineEdit(fmt_value(self.doc.project.data.options.get(key, opt.default))
                                if key != "features" else
                                ", ".join(self.doc.project.data.options.get(key) or []))
                row.setPlaceholderText(fmt_value(opt.default) if opt.default not in (None, "") else "")
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
            return self.refusals.refuse("features: choose at least one feature column")
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
                return self.refusals.refuse(f"{key}: must be a whole number")
        elif isinstance(opt.default, float):
            try:
                value = float(text)
            except ValueError:
                return self.refusals.refuse(f"{key}: must be a number")
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
                return self.refusals.refuse(f"{key}: must be {opt.rule}")
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
            self._commit("options", options)
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
        if kind == "images":  # the spec does not say which kind of file: named here
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
        if data.dataset in CSV_KINDS or (spec is not None and not spec.fields):  # csv, npz
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
        elif data.dataset == "images":  # the spec does not say it reads a folder
            self.preview.hide()
            self.preview_note.setText(image_summary(data.options, self.base_dir))
        else:
            self.preview.hide()
            if spec is not None:
                fields = "; ".join(f"{k}: {v}" for k, v in spec.fields.items())
                self.preview_note.setText(f"{(spec.description or '').strip()} Fields: {fields}.")
            else:
                self.preview_note.setText("Choose a dataset.")

    def _build_binding(self) -> None:
        if self.doc is None:
            return
        g = self.doc.graph
        data = self.doc.project.data
        fields = dataset_fields(data.dataset, data.options, self.base_dir)
        nodes = [n for n in g.nodes() if g.spec(n).role in ("input", "target")]
        key = (tuple(nodes), tuple(fields), tuple(sorted(data.bind.items())))
        if key == self._binding_key:
            return  # nothing changed: keep the combo boxes
        self._binding_key = key
        while self.bind_form.rowCount():  # (the old combos may be inside their own signal:
            row = self.bind_form.takeRow(0)  # deleted later, never under it)
            for w in (row.labelItem.widget(), row.fieldItem.widget()):
                w.hide()
                w.setObjectName("")
                w.deleteLater()
        for n in nodes:
            combo = narrow_combo()
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
        self.fit_width()

    def _bind(self, node: str, field: str) -> None:
        if self._updating:
            return
        bind = dict(self.doc.project.data.bind)
        if field:
            bind[node] = field
        else:
            bind.pop(node, None)
        self._commit("bind", bind)
