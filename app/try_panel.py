"""Train > Try the Model: a validation sample's input, target and the model's prediction, for
any project (text for characters, the image and its class for images, a plot for sequences);
for a character model, text generated from a prompt at a chosen temperature; for a
sequence-to-sequence model, a typed input translated by greedy decoding, with the attention
weights as a heatmap (output position × input position, per head); for a classifier of 2-D
points, its decision boundary around the validation points.

The model is the chosen run's checkpoint (saved at least every 10 s while it trains, so this
works during a run too), or the project's starting weights (training.initial_weights: an
imported module's own weights), listed last and so chosen when no run exists yet; loading
it and generating run in a thread (runtime.tryout, app/background.py). Each mode is its
own module (ARCHITECTURE.md, "A Try-panel mode"): app/try_sample.py, app/detection_view.py,
app/try_text.py, app/try_translate.py, app/try_boundary.py."""
from __future__ import annotations

import random
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QPlainTextEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from . import try_sample
from .background import Background
from .try_boundary import BoundaryBox
from .try_inside import InsideBox
from .try_text import GenerateBox
from .try_translate import TranslateBox
from .widgets import guard_wheel

SHOWN_STEPS = 400  # characters of a sample shown at most
# What a model may fail with when it is tried (a wrong kind of model, a shape torch refuses,
# a file gone): said in the panel. Anything else is a bug, and goes to the bug handler.
TRY_ERRORS = (ValueError, RuntimeError, OSError)


class ImageLabel(QLabel):
    """The picture of a sample; a click says where, in the picture's own pixels."""
    clicked = Signal(QPointF)

    def mousePressEvent(self, e) -> None:
        pm = self.pixmap()
        if e.button() == Qt.LeftButton and pm is not None and not pm.isNull():
            # the picture is centred in the label
            dx = (self.width() - pm.width()) / 2
            dy = (self.height() - pm.height()) / 2
            p = e.position()
            x, y = p.x() - dx, p.y() - dy
            if 0 <= x < pm.width() and 0 <= y < pm.height():
                self.clicked.emit(QPointF(x, y))
                return
        super().mousePressEvent(e)


def _answers(probe) -> bool:
    """Whether the model is of the kind `probe` asks for (it raises TryError if not)."""
    from runtime.tryout import TryError
    try:
        probe()
    except TryError:
        return False
    return True


def weights_label(path) -> str:
    """What a weights file is called in the status line: 'best of run r1' for a run's
    checkpoint (<run>/checkpoints/<which>/model.safetensors), else the file and its folder."""
    p = Path(path)
    if p.parent.parent.name == "checkpoints" and len(p.parents) > 2:
        return f"{p.parent.name} of run {p.parents[2].name}"
    return f"{p.name} (in {p.parent})"


class TryPanel(QWidget):
    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tryout = None
        self.detections = None  # the Detections shown (a detector's sample)
        self.job = Background(self)  # loading, generating, translating: one at a time
        self._project = self._base_dir = None
        self._start_file: str | None = None  # the starting weights' file, when listed
        self._pending: int | None = None  # the sample to show once the weights are loaded
        self._loading: str | None = None  # the combo's weights the last Load asked for
        self.loaded_from: str | None = None  # and those of the loaded tryout

        outer = QHBoxLayout(self)
        left = QVBoxLayout()
        outer.addLayout(left, 3)
        top = QHBoxLayout()
        self.weights = QComboBox()
        self.weights.setObjectName("try_weights")
        self.weights.setToolTip("The run whose weights are tried (its best checkpoint, else "
                                "its last)")
        self.load_btn = QPushButton("Load")
        self.load_btn.setToolTip("Load the chosen run's weights (again, e.g. while it trains)")
        self.load_btn.clicked.connect(self.load)
        top.addWidget(QLabel("weights"))
        top.addWidget(self.weights, 1)
        top.addWidget(self.load_btn)
        left.addLayout(top)
        row = QHBoxLayout()
        self.index = QSpinBox()
        self.index.setObjectName("try_index")
        self.index.setToolTip("Which validation sample")
        self.index.valueChanged.connect(lambda _v: self.show_sample())
        self.random_btn = QPushButton("Random sample")
        self.random_btn.clicked.connect(self._random)
        row.addWidget(QLabel("validation sample"))
        row.addWidget(self.index)
        row.addWidget(self.random_btn)
        self.proposals = QCheckBox("show proposals")
        self.proposals.setObjectName("try_proposals")
        self.proposals.setToolTip("Draw the region proposals the detector scored (grey)")
        self.proposals.toggled.connect(lambda _on: self.show_sample())
        self.proposals.hide()
        row.addWidget(self.proposals)
        self.anchors = QCheckBox("show anchors")
        self.anchors.setObjectName("try_anchors")
        self.anchors.setToolTip("Draw the anchors of one feature-map cell (magenta); click "
                                "the image to pick the cell")
        self.anchors.toggled.connect(lambda _on: self.show_sample())
        self.anchors.hide()
        row.addWidget(self.anchors)
        self.cell: tuple[int, int] | None = None  # the cell whose anchors are shown
        row.addStretch(1)
        left.addLayout(row)
        self.status = QLabel("Train the model, then load its weights here.")
        self.status.setWordWrap(True)
        left.addWidget(self.status)
        self.text = QPlainTextEdit()
        self.text.setObjectName("try_text")
        self.text.setReadOnly(True)
        left.addWidget(self.text, 1)

        right = QVBoxLayout()
        outer.addLayout(right, 2)
        self.image = ImageLabel()
        self.image.setObjectName("try_image")
        self.image.setAlignment(Qt.AlignCenter)
        self.image.clicked.connect(self._picked)
        self.image.hide()
        right.addWidget(self.image)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(140)
        self.plot.hide()
        right.addWidget(self.plot, 1)

        self.gen_box = GenerateBox(self.generate)
        for name in ("prompt", "temperature", "length", "generate_btn", "generated"):
            setattr(self, name, getattr(self.gen_box, name))
        self.gen_box.hide()
        right.addWidget(self.gen_box, 2)

        # Sequence to sequence: translate a typed input, and the attention weights
        self.trans_box = TranslateBox(self.translate)
        for name in ("source", "translate_btn", "translation", "attn_node", "attn_head",
                     "heatmap"):
            setattr(self, name, getattr(self.trans_box, name))
        self.trans_box.hide()
        right.addWidget(self.trans_box, 3)

        # A classifier of 2-D points: its decision boundary (a click on a point picks it)
        self.bound_box = BoundaryBox(self.index.setValue)
        self.boundary = self.bound_box.view
        self.bound_box.hide()
        right.addWidget(self.bound_box, 3)
        self.inside = InsideBox()  # overlays, filters, statistics, wires' values (issue 28)
        self.inside.overlay.currentTextChanged.connect(lambda _t: self.show_sample())
        self.inside.hide()
        right.addWidget(self.inside, 3)
        guard_wheel(self)
        self._set_busy(False)

    # What to try --------------------------------------------------------------------------------
    def set_source(self, project, base_dir: Path | None, runs: list) -> None:
        """The document's project and its runs (newest first in the combo box)."""
        self._project, self._base_dir = project, base_dir
        current = self.weights.currentData()
        self.weights.clear()
        from runtime.tryout import run_weights
        for r in reversed(runs):
            chosen = run_weights(r)  # its best, else its last
            if chosen is not None:
                self.weights.addItem(f"{r.name} · {chosen[0]} ({r.status})", str(chosen[1]))
        runs_listed = self.weights.count()
        from runtime.start_weights import project_start
        start = project_start(project, base_dir) if project is not None else None
        self._start_file = str(start) if start is not None else None
        if start is not None:  # after the runs: the default only while there is none
            self.weights.addItem(f"starting weights · {project.training.initial_weights}",
                                 self._start_file)
        i = self.weights.findData(current)
        self.weights.setCurrentIndex(i if i >= 0 else 0)
        self.load_btn.setEnabled(self.weights.count() > 0 and not self.job.busy)
        if not self.weights.count():
            self.status.setText("No trained weights yet: train the model (F5), then try it "
                                "here.")
        elif not runs_listed and self.tryout is None and not self.job.busy:
            self.status.setText("No run yet: Load tries the model with its starting weights "
                                f"({project.training.initial_weights}).")
        elif self.tryout is None and not self.job.busy:
            self.status.setText("Trained weights are ready: press Load (Ctrl+T loads the "
                                "newest run's).")

    def reset(self) -> None:
        self.tryout = None
        self.detections = None
        self.proposals.hide()
        self.anchors.hide()
        self.cell = None
        self.text.clear()
        self.generated.clear()
        self.image.hide()
        self.plot.hide()
        self.gen_box.hide()
        self.trans_box.hide()
        self.trans_box.clear()
        self.bound_box.hide()
        self.bound_box.clear()
        self.inside.clear()
        self.inside.hide()
        self.index.setRange(0, 0)

    def open_sample(self, weights: str, index: int) -> None:
        """Validation sample `index` with `weights` (a checkpoint, as the combo lists it): loaded
        first unless they are the loaded ones (Train > Evaluate's images open here)."""
        i = self.weights.findData(str(weights))
        if i < 0:
            self.weights.addItem(weights_label(weights), str(weights))
            i = self.weights.count() - 1
        self.weights.setCurrentIndex(i)
        if self.tryout is not None and not self.job.busy and self.loaded_from == str(weights):
            if self.index.value() == index:
                self.show_sample()
            else:
                self.index.setValue(index)  # shows it
            return
        self._pending = index
        self.load()

    def load(self) -> None:
        if self.job.busy:  # one load at a time (the one running is shown)
            return
        weights = self.weights.currentData()
        if not weights or self._project is None:
            self.status.setText("Choose a run with weights first.")
            return
        project, base = self._project, self._base_dir
        self.status.setText("Loading the model and its validation data…")
        self._loading = str(weights)

        def work():
            from runtime.tryout import Tryout
            return Tryout(project, base, weights)
        self._start(work, self._loaded)

    def _loaded(self, tryout) -> None:
        self.tryout = tryout
        self.loaded_from = self._loading
        self.index.blockSignals(True)
        self.index.setRange(0, max(len(tryout) - 1, 0))
        if self._pending is not None:  # asked for by open_sample
            self.index.setValue(self._pending)
            self._pending = None
        self.index.blockSignals(False)
        self.gen_box.setVisible(_answers(tryout.text_model))
        self.proposals.setVisible(tryout.detector)
        self.anchors.setVisible(tryout.anchored)
        self.cell = None
        seq2seq = _answers(tryout.seq2seq_model)
        self.trans_box.setVisible(seq2seq)
        bounded = _answers(tryout.classifier_2d)
        self.bound_box.clear()
        self.bound_box.setVisible(bounded)
        self.inside.setVisible(self.inside.loaded(tryout))
        if self._start_file is not None and str(tryout.weights) == self._start_file:
            self.status.setText(f"The starting weights ({Path(tryout.weights).name}), before "
                                f"any training: {len(tryout):,} validation samples.")
        else:
            self.status.setText(f"{weights_label(tryout.weights)}: {len(tryout):,} validation "
                                "samples.")
        self.show_sample()
        if seq2seq:  # the first validation sample's input, translated with its attention
            s = tryout.sample(self.index.value())
            self.source.setText(self._decode(next(iter(s.inputs.values()))))
            self.translate()
        if bounded:  # the grid's classes in one batched forward pass, on the thread
            self._start(tryout.boundary, self._bounded)

    def _bounded(self, b) -> None:
        self.bound_box.show_boundary(b, self.index.value())
        self.show_sample()  # its line on the boundary

    # A sample ----------------------------------------------------------------------------------
    def _random(self) -> None:
        if self.tryout is not None and len(self.tryout):
            self.index.setValue(random.randrange(len(self.tryout)))

    def _failed(self, e: Exception) -> None:
        self._pending = None
        self.status.setText(f"<span style='color:#c62828'>{e}</span>")

    def show_sample(self) -> None:
        from runtime.tryout import TryError
        t = self.tryout
        if t is None:
            return
        if t.detector:
            self._show_detections()
            return
        try:
            s = t.sample(self.index.value())
        except (TryError, *TRY_ERRORS) as e:  # the panel says it; the window carries on
            self._failed(e)
            return
        lines, image, series, point = try_sample.describe(t, s, self._decode, self._class)
        if self.bound_box.result is not None:
            self.bound_box.mark(s.index)
            lines.append(self.bound_box.describe(s.index))
        self.text.setPlainText("\n\n".join(lines))
        if image is None:
            self.image.hide()
        else:
            self.image.setPixmap(try_sample.pixmap(image))
            self.image.show()
        self.inside.show_sample(s, self.image)
        if point is not None:
            try_sample.draw_points(self.plot, t, point)
        else:
            try_sample.draw_series(self.plot, series)

    def _show_detections(self) -> None:
        """A detector: its boxes over the validation image, the truth beside them."""
        from runtime.tryout import TryError

        from .detection_view import describe, describe_anchors, picture
        try:
            d = self.tryout.detections(self.index.value())
        except (TryError, *TRY_ERRORS) as e:  # the panel says it; the window carries on
            self._failed(e)
            return
        self.detections = d
        found = ("each detection its colour: mask, box, class and score" if d.masks is not None
                 else "orange: detections (class, score)")
        text = (describe(d) + f"\n\n{found}; dashed green: the true objects" +
                ("; grey: the proposals" if self.proposals.isChecked() else ""))
        cell = None
        if self.anchors.isChecked() and d.anchors is not None:
            if self.cell is None:  # at first the cell under the first true object's centre
                b = d.true_boxes[0] if len(d.true_boxes) else None
                self.cell = (d.anchors.cell_at(float(b[0] + b[2]) / 2, float(b[1] + b[3]) / 2)
                             if b is not None else tuple(s // 2 for s in d.anchors.shape[:2]))
            cell = self.cell
            text += ("; magenta: the anchors of one cell (solid: object, dashed: ignored, "
                     "dotted: background; click the image for another cell)\n\n" +
                     describe_anchors(d, cell))
        self.text.setPlainText(text)
        self.image.setPixmap(QPixmap.fromImage(picture(d, self.proposals.isChecked(),
                                                       cell=cell)))
        self.image.show()
        self.plot.hide()

    def _picked(self, p: QPointF) -> None:
        """A click on a detector's picture: show the anchors of the cell nearest to it."""
        from .detection_view import SCALE
        d = self.detections
        if d is None or d.anchors is None or self.tryout is None or not self.tryout.detector:
            return
        self.cell = d.anchors.cell_at(p.x() / SCALE, p.y() / SCALE)
        if self.anchors.isChecked():
            self.show_sample()
        else:
            self.anchors.setChecked(True)  # shows the sample

    def _decode(self, ids) -> str:
        from runtime.data import seq2seq
        from runtime.data.sequences import decode
        ids = [int(i) for i in ids.reshape(-1).tolist()[:SHOWN_STEPS]]
        vocab = self.tryout.vocab
        if vocab and tuple(vocab[:len(seq2seq.SPECIAL)]) == seq2seq.SPECIAL:
            return seq2seq.decode(ids, vocab)  # up to the end token, without padding
        try:
            return decode(ids, vocab)
        except ValueError as e:
            return f"({e})"

    def _class(self, i: int) -> str:
        names = self.tryout.classes
        return f"{i} ({names[i]})" if names and 0 <= i < len(names) else str(i)

    # Text ---------------------------------------------------------------------------------------
    def generate(self) -> None:
        t = self.tryout
        if t is None:
            return
        prompt, temp, n = self.prompt.text(), self.temperature.value(), self.length.value()
        self.generated.setPlainText(prompt)
        self.status.setText(f"Generating {n} characters at temperature {temp:g}…")

        def work():
            return t.generate(prompt, temperature=temp, length=n, seed=random.randrange(2**31))
        self._start(work, lambda text: (self.generated.setPlainText(prompt + text),
                                        self.status.setText(f"Generated {n} characters at "
                                                            f"temperature {temp:g}.")))

    # Sequence to sequence ------------------------------------------------------------------
    def translate(self) -> None:
        t = self.tryout
        if t is None or self.job.busy:
            return
        text = self.source.text()
        self.status.setText("Translating…")
        self._start(lambda: t.translate(text), self._translated)

    def _translated(self, tr) -> None:
        self.status.setText(self.trans_box.show_translation(tr, self.tryout.attention_nodes()))

    # Work in a thread ---------------------------------------------------------------------------
    def _start(self, work, done) -> None:
        if self.job.busy:
            return
        self._set_busy(True)

        def ended(outcome) -> None:
            from runtime.tryout import TryError
            self._set_busy(False)
            try:
                value = outcome.get()
            except (TryError, *TRY_ERRORS) as e:  # shown in the panel, never a traceback
                message = str(e) or type(e).__name__
                self._failed(message)
                self.message.emit(f"Try the model: {message}")
                return
            done(value)
        self.job.start(work, ended)

    def wait(self, timeout: float = 60) -> None:
        """For tests and scripts: until the thread's work is shown."""
        self.job.wait(timeout)

    def _set_busy(self, busy: bool) -> None:
        for w in (self.load_btn, self.generate_btn, self.random_btn, self.index,
                  self.translate_btn):
            w.setEnabled(not busy)
        if not busy:
            self.load_btn.setEnabled(self.weights.count() > 0)
