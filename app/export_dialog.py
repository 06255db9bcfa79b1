"""File > Export: the trained model as a bundle, TorchScript, ONNX, a torch.export
ExportedProgram (.pt2) or a standalone Python file.
The export runs in a thread (ONNX takes seconds); the dialog stays responsive and shows it is
busy. A format that always fails for the model (ONNX for a detector) is not offered.
See ARCHITECTURE.md ("Recipes for adding things": an export format)."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QProgressBar,
                               QPushButton, QWidget)

from runtime.runs import checkpoints, list_runs

from .background import Background, Outcome

FORMATS = {  # mirrors runtime.export.FORMATS without importing torch here
    "python": ("Python file (.py)", ".py"),
    "onnx": ("ONNX (.onnx)", ".onnx"),
    "torchscript": ("TorchScript (.pt)", ".pt"),
    "pt2": ("ExportedProgram, torch.export (.pt2)", ".pt2"),
    "bundle": ("Bundle folder (safetensors + project JSON)", ""),
    "script": ("Training script folder (train.py for torchrun, model.py, SLURM example)", ""),
}
WRAP = 80  # a sentence wraps at about this many characters; a path is never broken


def _with_button(field: QWidget, text: str, slot) -> QWidget:
    """A field with a button on its right, as one form row."""
    row = QWidget()
    h = QHBoxLayout(row)
    h.setContentsMargins(0, 0, 0, 0)
    h.addWidget(field, 1)
    button = QPushButton(text)
    button.clicked.connect(slot)
    h.addWidget(button)
    return row


class ExportDialog(QDialog):
    """`project_path`: the project's file, which an export must never replace (by default the
    parent window's document path, when it has one)."""

    def __init__(self, project, runs_root: Path, default_dir: Path, parent=None,
                 project_path: Path | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export the trained model")
        self.project = project
        if project_path is None:
            project_path = getattr(getattr(parent, "doc", None), "path", None)
        self.project_path = Path(project_path) if project_path else None
        self.result_files: list[Path] | None = None
        self.error: str | None = None
        self._exists: list[Path] = []
        form = QFormLayout(self)
        self.format = QComboBox()
        for key, (title, _) in FORMATS.items():
            self.format.addItem(title, key)
        form.addRow("format", self.format)
        from runtime.export import FORMAT_TITLES, refused_formats  # torch: only once opened
        self.titles = FORMAT_TITLES
        self.refused = refused_formats(project)  # formats that always fail for this model
        items = self.format.model()
        for fmt, why in self.refused.items():
            i = self.format.findData(fmt)
            items.item(i).setEnabled(False)  # shown, not offered
            self.format.setItemData(i, why, Qt.ToolTipRole)
        if self.refused:
            self.format.setCurrentIndex(next(i for i in range(self.format.count())
                                             if self.format.itemData(i) not in self.refused))
            self.refused_note = QLabel("\n".join(f"{FORMAT_TITLES[f]} is not offered: {why}"
                                                 for f, why in self.refused.items()))
            self.refused_note.setWordWrap(True)
            self.refused_note.setTextFormat(Qt.PlainText)
            self.refused_note.setStyleSheet("color: palette(placeholder-text)")
            form.addRow(self.refused_note)
        self.weights = QComboBox()
        for r in reversed(list_runs(runs_root)):
            for which, ck in checkpoints(r):  # both: a user may want the last epoch's
                self.weights.addItem(f"{r.name} · {which} ({r.status})", str(ck))
        runs_listed = self.weights.count()
        from runtime.start_weights import project_start
        base = self.project_path.parent if self.project_path else default_dir
        start = project_start(project, base)  # the project's starting weights: the default
        if start is not None:  # only while no run exists (listed after the runs)
            self.weights.addItem(f"starting weights · {project.training.initial_weights}",
                                 str(start))
        form.addRow("weights", _with_button(self.weights, "File…", self._choose_weights))
        stem = "".join(c if c.isalnum() else "_" for c in project.name.lower()).strip("_") or "model"
        self.out = QLineEdit(str(default_dir / f"{stem}"))
        form.addRow("save as", _with_button(self.out, "Browse…", self._choose_out))
        self.note = QLabel()
        self.note.setWordWrap(True)  # a path longer than the line breaks anywhere
        self.note.setTextFormat(Qt.PlainText)  # paths may hold '<' or '&'
        self.note.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        self.note.setMinimumWidth(self.note.fontMetrics().averageCharWidth() * 60)
        form.addRow(self.note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Close)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        self.busy = QProgressBar()  # while an export runs: busy, no known end
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumWidth(self.fontMetrics().averageCharWidth() * 20)
        self.busy.hide()
        bottom = QWidget()
        h = QHBoxLayout(bottom)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.busy)
        h.addWidget(self.buttons, 1)
        form.addRow(bottom)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()
        if self.weights.count() == 0:
            self._say_no_weights()
        elif not runs_listed:
            self._say("No run yet: the project's starting weights "
                      f"({project.training.initial_weights}) are exported, as they are.")
        self._job = Background(self, tick_ms=100)  # the export runs on its thread
        self._started = 0.0

    @property
    def _thread(self):
        """The export's thread until its outcome is shown (None then: tests wait for it)."""
        return self._job.thread

    def _format_changed(self) -> None:
        ext = FORMATS[self.format.currentData()][1]
        p = Path(self.out.text())
        suffixes = {suffix for _, suffix in FORMATS.values() if suffix}
        base = p.with_suffix("") if p.suffix in suffixes else p
        self.out.setText(str(base.with_suffix(ext) if ext else base))
        if hasattr(self, "_job") and self.weights.count() == 0:  # (after __init__'s own note)
            self._say_no_weights()

    def _say_no_weights(self) -> None:
        if self.format.currentData() == "script":
            self._say("No trained weights: the training script starts from the project's "
                      "initial weights (it needs none).")
        else:
            self._say("No trained weights yet: train the model first (or choose a "
                      ".safetensors file).")

    def _choose_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights", "", "safetensors (*.safetensors)")
        if path:
            self.weights.addItem(path, path)
            self.weights.setCurrentIndex(self.weights.count() - 1)

    def _choose_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.out.text())
        if path:
            self.out.setText(path)

    def ask_replace(self, path: Path) -> bool:
        """Whether to replace the existing file or folder `path` (replaced in tests)."""
        kind = "folder" if Path(path).is_dir() else "file"
        return QMessageBox.question(
            self, "Replace?", f"The {kind} {path} already exists. Replace it?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No) == QMessageBox.Yes

    def _say(self, text: str, error: bool = False) -> None:
        """Show `text` in full, the dialog grown to its height: sentences wrap at about WRAP
        characters; a path (a word without spaces) is never broken while the screen has room
        for it, so the note widens to the longest, and breaks only where the screen is
        narrower."""
        self.note.setStyleSheet("color: #c62828" if error else "")
        self.note.setText(text)
        fm = self.note.fontMetrics()
        chars = fm.averageCharWidth()
        widest_line = max(fm.horizontalAdvance(line) for line in text.splitlines() or [""])
        widest_word = max((fm.horizontalAdvance(w) for w in text.split()), default=0)
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        room = max(200, screen.width() - 120)  # the dialog's margins and the form's
        want = max(chars * 60, min(widest_line + 8, chars * WRAP), widest_word + 8)
        self.note.setMinimumWidth(min(want, room))
        layout = self.layout()
        layout.invalidate()
        layout.activate()
        # (before it is shown, a widget is 640 × 480 whatever it needs: its size hint then)
        now = self.size() if self.isVisible() else self.sizeHint()
        width = max(now.width(), self.minimumSizeHint().width())
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() \
            else self.sizeHint().height()
        self.resize(width, max(now.height(), height))

    def start(self, force: bool = False) -> None:
        weights = self.weights.currentData() or None
        fmt, out = self.format.currentData(), Path(self.out.text())
        if weights is None and fmt != "script":  # the script starts from initial weights
            self._say("Choose the weights to export (train the model first).")
            return
        if fmt in self.refused:
            self._say(f"{self.titles[fmt]} is not offered: {self.refused[fmt]}", error=True)
            return
        self.buttons.setEnabled(False)
        self._started = time.monotonic()
        self._say(f"Exporting as {self.titles[fmt]}…")
        self.busy.show()
        self.result_files, self.error, self._exists = None, None, []
        project_path = self.project_path

        def work():
            from runtime.export import export
            return export(self.project, weights, fmt, out, force=force,
                          project_path=project_path)
        self._job.start(work, self._finished, tick=self._count_seconds)

    def _count_seconds(self) -> None:
        """While it exports: the seconds so far, counted here (the window lives)."""
        seconds = int(time.monotonic() - self._started)
        text = self.note.text().split("…")[0] + f"… {seconds} s"
        if seconds and text != self.note.text():
            self.note.setText(text)

    def _finished(self, outcome: Outcome) -> None:
        self.busy.hide()
        self.buttons.setEnabled(True)
        from runtime.export import ExistsError, ExportError
        try:
            self.result_files = outcome.get()
        except ExistsError as e:  # asked here, then exported again
            self._exists = e.paths
        except (ExportError, OSError) as e:
            self.error = str(e)
        except Exception as e:  # torch's own failures (tracing, reading weights) have no
            self.error = f"{type(e).__name__}: {e}"  # one class: said, the window lives
        if self._exists:
            existing, self._exists = self._exists, []
            if all(self.ask_replace(p) for p in existing):
                self.start(force=True)
            else:
                self._say("Not exported: " + ", ".join(str(p) for p in existing) +
                          (" already exists" if len(existing) == 1 else " already exist") +
                          "; choose another name, or replace it.")
        elif self.error:
            self._say(f"Export failed: {self.error}", error=True)
        elif self.result_files is not None:
            self._say("Written:\n" + "\n".join(str(f) for f in self.result_files))

    def wait(self, timeout: float = 120) -> None:
        """For tests and scripts: block until the export (and any export it restarts once
        replacing was allowed) ends."""
        while self._job.busy:
            if not self._job.wait(timeout):
                return
