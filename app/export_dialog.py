"""File > Export: the trained model as a bundle, TorchScript, ONNX or a standalone Python file.
The export runs in a thread (ONNX takes seconds); the dialog stays responsive."""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QWidget)

from runtime.runs import list_runs

FORMATS = {  # mirrors runtime.export.FORMATS without importing torch here
    "python": ("Python file (.py)", ".py"),
    "onnx": ("ONNX (.onnx)", ".onnx"),
    "torchscript": ("TorchScript (.pt)", ".pt"),
    "bundle": ("Bundle folder (safetensors + project JSON)", ""),
}


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
        self.weights = QComboBox()
        for r in reversed(list_runs(runs_root)):
            for which in ("best", "last"):
                ck = r.folder / "checkpoints" / which
                if (ck / "model.safetensors").is_file():
                    self.weights.addItem(f"{r.name} · {which} ({r.status})", str(ck))
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
        form.addRow(self.buttons)
        self.format.currentIndexChanged.connect(self._format_changed)
        self._format_changed()
        if self.weights.count() == 0:
            self._say("No trained weights yet: train the model first (or choose a "
                      ".safetensors file).")
        self._thread: threading.Thread | None = None
        self._timer = QTimer(self, interval=100)
        self._timer.timeout.connect(self._check)

    def _format_changed(self) -> None:
        ext = FORMATS[self.format.currentData()][1]
        p = Path(self.out.text())
        base = p.with_suffix("") if p.suffix in (".py", ".onnx", ".pt") else p
        self.out.setText(str(base.with_suffix(ext) if ext else base))

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
        """Show `text` in full: one path a line, wrapped where a line is wider than the dialog
        can be, the dialog grown to the text's height."""
        self.note.setStyleSheet("color: #c62828" if error else "")
        self.note.setText(text)
        fm = self.note.fontMetrics()
        widest = max(fm.horizontalAdvance(line) for line in text.splitlines() or [""])
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        room = max(200, screen.width() - 120)  # the dialog's margins and the form's
        self.note.setMinimumWidth(max(fm.averageCharWidth() * 60, min(widest + 8, room)))
        layout = self.layout()
        layout.invalidate()
        layout.activate()
        width = max(self.width(), self.minimumSizeHint().width())
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() \
            else self.sizeHint().height()
        self.resize(width, max(self.height(), height))

    def start(self, force: bool = False) -> None:
        weights = self.weights.currentData()
        if not weights:
            self._say("Choose the weights to export (train the model first).")
            return
        fmt, out = self.format.currentData(), Path(self.out.text())
        self.buttons.setEnabled(False)
        self._say(f"Exporting as {fmt}…")
        self.result_files, self.error, self._exists = None, None, []
        project_path = self.project_path

        def work():
            from runtime.export import ExistsError, ExportError, export
            try:
                self.result_files = export(self.project, weights, fmt, out, force=force,
                                           project_path=project_path)
            except ExistsError as e:  # the GUI thread asks, then exports again
                self._exists = e.paths
            except (ExportError, OSError) as e:
                self.error = str(e)
            except Exception as e:  # keep the window alive, say what happened
                self.error = f"{type(e).__name__}: {e}"
        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()
        self._timer.start()

    def _check(self) -> None:
        if self._thread is None or self._thread.is_alive():
            return
        self._timer.stop()
        self._thread = None
        self.buttons.setEnabled(True)
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
        while self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return
            self._check()
