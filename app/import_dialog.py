"""File > Import PyTorch Model… and Import ONNX… (issue 26, item 2): a model as a project.

The dialog says first that importing runs the file. "Read the file" runs it on a background
thread and lists the nn.Module classes and functions it defines; the user picks one, gives
its keyword arguments (JSON, optional) and one example input per forward argument
(NAME=SHAPE[:DTYPE[:HIGH]], batch first), and where the project goes. "Import" traces,
builds, verifies and writes PROJECT.json and PROJECT.safetensors (runtime/importer), also on
the background thread; the report is shown in the dialog, and the window opens the project.
A refusal is shown in the dialog, in words; nothing is written then.
"""
from __future__ import annotations

import inspect
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

from .background import Background

WARNING = ("Importing a .py file runs it: its top level, and the constructor of the model you "
           "pick. Import only code you trust.")


ONNX_NOTE = ("An ONNX file is read, not run; its external data is read only from its own "
             "folder. The graph is checked against onnxruntime.")


class ImportDialog(QDialog):
    """onnx=True: File > Import ONNX… (a .onnx file: no model to pick; its inputs are read
    from the file)."""

    def __init__(self, parent=None, path: str | None = None, onnx: bool = False):
        super().__init__(parent)
        self.onnx = onnx
        self.setWindowTitle("Import ONNX Model" if onnx else "Import PyTorch Model")
        self.resize(640, 480)
        self.job = Background(self)
        self.module = None  # the file, run
        self.result = None  # runtime.importer.Imported, once done
        self.saved: Path | None = None
        warn = QLabel(ONNX_NOTE if onnx else WARNING)
        warn.setWordWrap(True)
        warn.setStyleSheet("color: #a04000; font-weight: bold")
        self.file = QLineEdit(path or "")
        self.file.setPlaceholderText("path/to/model.onnx" if onnx else "path/to/model.py")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.read = QPushButton("Read the file")
        self.read.clicked.connect(self.read_file)
        row = QHBoxLayout()
        for w in (self.file, browse, self.read):
            row.addWidget(w)
        file_row = QWidget()
        file_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        self.name = QComboBox()
        self.name.currentTextChanged.connect(self._name_changed)
        self.init = QLineEdit()
        self.init.setPlaceholderText('keyword arguments as JSON, e.g. {"num_classes": 10}')
        self.inputs = QLineEdit()
        self.inputs.setPlaceholderText("x=1,3,32,32   (one per forward argument, batch first; "
                                       "ids=2,16:int64:1000)")
        self.out = QLineEdit()
        form = QFormLayout()
        form.addRow("File", file_row)
        if not onnx:
            form.addRow("Model", self.name)
            form.addRow("Arguments", self.init)
        else:
            self.name.hide()
            self.init.hide()
        form.addRow("Inputs", self.inputs)
        form.addRow("Save as", self.out)
        self.report = QPlainTextEdit(readOnly=True)
        self.report.setPlaceholderText("The import report appears here.")
        self.buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.go = self.buttons.addButton("Import", QDialogButtonBox.AcceptRole)
        self.go.clicked.connect(self.start_import)
        self.go.setEnabled(False)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(warn)
        lay.addLayout(form)
        lay.addWidget(self.report, 1)
        lay.addWidget(self.buttons)
        if path:
            self.out.setText(str(Path(path).with_suffix(".json")))

    # The file ---------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "An ONNX model" if self.onnx else "A PyTorch model", "",
            "ONNX (*.onnx)" if self.onnx else "Python (*.py)")
        if path:
            self.file.setText(path)
            self.read_file()

    def read_file(self) -> bool:
        """Run the file (background) and list what it defines; False if busy."""
        from runtime.importer.source import candidates, run_file
        file = self.file.text().strip()
        if not file:
            self.say("Give a .py file first.")
            return False
        if not self.out.text().strip():
            self.out.setText(str(Path(file).with_suffix(".json")))
        self.read.setEnabled(False)
        if self.onnx:
            from runtime.importer.onnx_import import input_hints
            self.say(f"Reading {file}…")
            return self.job.start(lambda: input_hints(file), self._onnx_read)
        self.say(f"Running {file}…")

        def work():
            module = run_file(file)
            return module, candidates(module)
        return self.job.start(work, self._read_done)

    def _onnx_read(self, outcome) -> None:
        from runtime.importer import ImportProblem
        self.read.setEnabled(True)
        try:
            hints = outcome.get()
        except ImportProblem as e:
            self.say(f"Cannot read it: {e}")
            return
        self.inputs.setText("  ".join(hints))
        self.go.setEnabled(True)
        self.say("Its inputs are filled in from the file (an unknown size as 1, the batch "
                 "first): check them, then Import.")

    def _read_done(self, outcome) -> None:
        from runtime.importer import ImportProblem
        self.read.setEnabled(True)
        try:
            self.module, names = outcome.get()
        except ImportProblem as e:
            self.module = None
            self.say(f"Cannot read it: {e}")
            return
        self.name.clear()
        self.name.addItems(names)
        self.go.setEnabled(bool(names))
        self.say(f"It defines {', '.join(names)}: pick the model, give its inputs, Import."
                 if names else "It defines no nn.Module class and no function.")

    def _name_changed(self, name: str) -> None:
        """Suggest one input per forward argument of the chosen class."""
        target = getattr(self.module, name, None) if self.module else None
        fwd = getattr(target, "forward", None) if inspect.isclass(target) else None
        if fwd is None or self.inputs.text().strip():
            return
        try:
            args = [a for a in inspect.signature(fwd).parameters if a != "self"]
        except (TypeError, ValueError):
            return
        self.inputs.setText("  ".join(f"{a}=" for a in args))

    # The import -------------------------------------------------------------------------
    def start_import(self) -> bool:
        from runtime.importer import ImportProblem, import_source, parse_input
        file, name = self.file.text().strip(), self.name.currentText()
        out = Path(self.out.text().strip() or Path(file).with_suffix(".json"))
        if out.suffix != ".json":
            out = out.with_suffix(".json")
        try:
            inputs = [parse_input(t) for t in self.inputs.text().split()]
        except ImportProblem as e:
            self.say(str(e).replace("--input", "Inputs:"))
            return False
        if not inputs:
            self.say("Give one example input per forward argument, e.g. x=1,3,32,32.")
            return False
        init, module = self.init.text().strip() or None, self.module
        self.go.setEnabled(False)
        self.say(f"Importing {name}…")

        source = file if self.onnx else f"{file}:{name}"

        def work():
            r = import_source(source, inputs, init, module)
            r.save(out)
            return r
        self._out = out
        return self.job.start(work, self._import_done)

    def _import_done(self, outcome) -> None:
        from runtime.importer import ImportProblem
        self.go.setEnabled(True)
        try:
            self.result = outcome.get()
        except ImportProblem as e:
            self.say(f"Not imported: {e}")
            return
        except OSError as e:
            self.say(f"Not imported: {e.filename or self._out}: {e.strerror or e}")
            return
        self.saved = self._out
        self.say(f"{self.result.report()}\n\nWrote {self._out} and "
                 f"{self._out.with_suffix('.safetensors')} (the module's weights).")
        self.go.setText("Open")
        self.go.clicked.disconnect()
        self.go.clicked.connect(self.accept)

    def say(self, text: str) -> None:
        self.report.setPlainText(text)

    def wait(self, timeout: float = 60.0) -> bool:
        """Tests: let the running job end and its outcome show."""
        return self.job.wait(timeout)


def open_import(window, onnx: bool = False) -> None:
    """File > Import PyTorch Model… (or Import ONNX…): the dialog; on Open, the project."""
    if not window.maybe_save():
        return
    dlg = ImportDialog(window, onnx=onnx)
    window.importer = dlg  # tests and the screenshot script reach it here
    dlg.setAttribute(Qt.WA_DeleteOnClose, False)
    if dlg.exec() == QDialog.Accepted and dlg.saved:
        window.open_path(dlg.saved, ask=False)
        window.show_message(f"Imported {dlg.result.name}: its weights are in "
                            f"{dlg.saved.with_suffix('.safetensors').name}")
