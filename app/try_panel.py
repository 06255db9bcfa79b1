"""Train > Try the Model: a validation sample's input, target and the model's prediction, for
any project (text for characters, the image and its class for images, a plot for sequences);
for a character model, text generated from a prompt at a chosen temperature; for a
sequence-to-sequence model, a typed input translated by greedy decoding, with the attention
weights as a heatmap (output position × input position, per head).

The model is the chosen run's checkpoint (saved at least every 10 s while it trains, so this
works during a run too); loading it and generating run in a thread (runtime.tryout)."""
from __future__ import annotations

import random
import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSizePolicy,
                               QSpinBox, QVBoxLayout, QWidget)

from .widgets import guard_wheel

SHOWN_STEPS = 400  # characters of a sample shown at most


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
    try:
        probe()
    except Exception:
        return False
    return True


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _tick(c: str) -> str:
    return {" ": "␣", "\n": "⏎"}.get(c, c)


def _visible(text: str) -> str:
    """Text with its newlines and tabs made visible (⏎, →), for one-line views."""
    return text.replace("\n", "⏎").replace("\t", "→")


class TryPanel(QWidget):
    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tryout = None
        self.detections = None  # the Detections shown (a detector's sample)
        self._job: threading.Thread | None = None
        self._result = None
        self._timer = QTimer(self, interval=60)
        self._timer.timeout.connect(self._poll)
        self._project = self._base_dir = None

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

        self.gen_box = QGroupBox("Generate text")
        form = QFormLayout(self.gen_box)
        self.prompt = QLineEdit("The ")
        self.prompt.setObjectName("try_prompt")
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("try_temperature")
        self.temperature.setRange(0.05, 3.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.8)
        self.temperature.setToolTip("Below 1: safer, more repetitive; above 1: more varied "
                                    "(and more mistakes). 1 samples as the model learned.")
        self.length = QSpinBox()
        self.length.setRange(1, 5000)
        self.length.setValue(300)
        self.generate_btn = QPushButton("Generate")
        self.generate_btn.setObjectName("try_generate")
        self.generate_btn.clicked.connect(self.generate)
        self.generated = QPlainTextEdit()
        self.generated.setObjectName("try_generated")
        self.generated.setReadOnly(True)
        form.addRow("prompt", self.prompt)
        form.addRow("temperature", self.temperature)
        form.addRow("characters", self.length)
        form.addRow(self.generate_btn)
        form.addRow(self.generated)
        self.gen_box.hide()
        right.addWidget(self.gen_box, 2)

        # Sequence to sequence: translate a typed input, and the attention weights
        self.trans_box = QGroupBox("Translate")
        tform = QVBoxLayout(self.trans_box)
        trow = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setObjectName("try_source")
        self.source.setPlaceholderText("type an input, e.g. the 29th of August 1958")
        self.source.returnPressed.connect(self.translate)
        self.translate_btn = QPushButton("Translate")
        self.translate_btn.setObjectName("try_translate")
        self.translate_btn.clicked.connect(self.translate)
        trow.addWidget(self.source, 1)
        trow.addWidget(self.translate_btn)
        tform.addLayout(trow)
        self.translation = QLabel()
        self.translation.setObjectName("try_translation")
        self.translation.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.translation.setWordWrap(True)
        tform.addWidget(self.translation)
        arow = QHBoxLayout()
        self.attn_node = QComboBox()
        self.attn_node.setObjectName("try_attention")
        self.attn_node.setToolTip("Whose weights: the decoder's attention over the input "
                                  "(cross-attention) first")
        self.attn_head = QComboBox()
        self.attn_head.setObjectName("try_head")
        self.attn_head.setToolTip("One head of a multi-head attention, or their mean")
        self.attn_node.currentIndexChanged.connect(lambda _i: self._show_attention(heads=True))
        self.attn_head.currentIndexChanged.connect(lambda _i: self._show_attention())
        arow.addWidget(QLabel("attention"))
        arow.addWidget(self.attn_node, 1)
        arow.addWidget(QLabel("head"))
        arow.addWidget(self.attn_head)
        tform.addLayout(arow)
        self.heatmap = pg.PlotWidget()
        self.heatmap.setObjectName("try_heatmap")
        self.heatmap.setMinimumHeight(220)
        # Its width comes from the panel, never from the title or the ticks' size hints: a
        # long input must not push the plot past the panel's edge
        self.heatmap.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Expanding)
        self.heatmap.setMenuEnabled(False)
        self.heatmap.invertY(True)
        self.heatmap.setMouseEnabled(False, False)
        self.heatmap.hideButtons()
        self._heat = pg.ImageItem()
        self._heat.setColorMap(pg.colormap.get("viridis"))
        self.heatmap.addItem(self._heat)
        self.heatmap.setLabel("bottom", "input position j")
        self.heatmap.setLabel("left", "output position t")
        tform.addWidget(self.heatmap, 1)
        self.trans_box.hide()
        right.addWidget(self.trans_box, 3)
        self._translation = None
        guard_wheel(self)
        self._set_busy(False)

    # What to try --------------------------------------------------------------------------------
    def set_source(self, project, base_dir: Path | None, runs: list) -> None:
        """The document's project and its runs (newest first in the combo box)."""
        self._project, self._base_dir = project, base_dir
        current = self.weights.currentData()
        self.weights.clear()
        for r in reversed(runs):
            for which in ("best", "last"):
                ck = Path(r.folder) / "checkpoints" / which
                if (ck / "model.safetensors").is_file():
                    self.weights.addItem(f"{r.name} · {which} ({r.status})", str(ck))
                    break
        i = self.weights.findData(current)
        self.weights.setCurrentIndex(i if i >= 0 else 0)
        self.load_btn.setEnabled(self.weights.count() > 0 and self._job is None)
        if not self.weights.count():
            self.status.setText("No trained weights yet: train the model (F5), then try it "
                                "here.")

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
        self._translation = None
        self.index.setRange(0, 0)

    def load(self) -> None:
        weights = self.weights.currentData()
        if not weights or self._project is None:
            self.status.setText("Choose a run with weights first.")
            return
        project, base = self._project, self._base_dir
        self.status.setText("Loading the model and its validation data…")

        def work():
            from runtime.tryout import Tryout
            return Tryout(project, base, weights)
        self._start(work, self._loaded)

    def _loaded(self, tryout) -> None:
        self.tryout = tryout
        self.index.blockSignals(True)
        self.index.setRange(0, max(len(tryout) - 1, 0))
        self.index.blockSignals(False)
        self.gen_box.setVisible(_answers(tryout.text_model))
        self.proposals.setVisible(tryout.detector)
        self.anchors.setVisible(tryout.anchored)
        self.cell = None
        seq2seq = _answers(tryout.seq2seq_model)
        self.trans_box.setVisible(seq2seq)
        self.status.setText(f"{Path(tryout.weights).parent.name} of run "
                            f"{Path(tryout.weights).parents[2].name}: {len(tryout):,} "
                            "validation samples.")
        self.show_sample()
        if seq2seq:  # the first validation sample's input, translated with its attention
            s = tryout.sample(self.index.value())
            self.source.setText(self._decode(next(iter(s.inputs.values()))))
            self.translate()

    # A sample ----------------------------------------------------------------------------------
    def _random(self) -> None:
        if self.tryout is not None and len(self.tryout):
            self.index.setValue(random.randrange(len(self.tryout)))

    def show_sample(self) -> None:
        t = self.tryout
        if t is None:
            return
        if t.detector:
            self._show_detections()
            return
        try:
            s = t.sample(self.index.value())
        except Exception as e:  # the panel says it; the window carries on
            self.status.setText(f"<span style='color:#c62828'>{e}</span>")
            return
        lines, image, series = [], None, []
        for role, values in (("input", s.inputs), ("target", s.targets),
                             ("prediction", s.outputs)):
            for node, v in values.items():
                k = s.kinds[node]
                head = f"{role} '{node}'"
                if k == "text":
                    lines.append(f"{head}:\n{_visible(self._decode(v))}")
                elif k == "text scores":
                    lines.append(f"{head} (the likeliest next character at each step):\n"
                                 f"{_visible(self._decode(v.argmax(-1)))}")
                elif k == "image":
                    image = v
                    lines.append(f"{head}: image {' × '.join(map(str, v.shape))}")
                elif k == "sequence":
                    series.append((head, v))
                    lines.append(f"{head}: sequence of {v.shape[0]} steps × {v.shape[1]} "
                                 "features (plotted)")
                elif k == "scores":
                    lines.append(f"{head}: {self._top(v)}")
                elif k == "class":
                    lines.append(f"{head}: {self._class(int(v.reshape(-1)[0]))}" if v.numel() == 1
                                 else f"{head}: {v.tolist()}")
                else:
                    vals = v.reshape(-1).tolist()
                    lines.append(f"{head}: " + ", ".join(f"{x:.4g}" for x in vals[:16])
                                 + (" …" if len(vals) > 16 else ""))
        self.text.setPlainText("\n\n".join(lines))
        self._show_image(image)
        self._show_series(series)

    def _show_detections(self) -> None:
        """A detector: its boxes over the validation image, the truth beside them."""
        from .detection_view import describe, describe_anchors, picture
        try:
            d = self.tryout.detections(self.index.value())
        except Exception as e:  # the panel says it; the window carries on
            self.status.setText(f"<span style='color:#c62828'>{e}</span>")
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
        from runtime import seq2seq
        from runtime.sequences import decode
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

    def _top(self, scores) -> str:
        import torch
        p = scores.double()
        if p.min() < 0 or abs(float(p.sum()) - 1) > 1e-3:  # raw scores: as probabilities
            p = torch.softmax(p, -1)
        top = torch.topk(p, min(3, p.numel()))
        return ", ".join(f"{self._class(int(i))} {float(v):.1%}"
                         for v, i in zip(top.values, top.indices))

    def _show_image(self, v) -> None:
        if v is None:
            self.image.hide()
            return
        a = v.detach().float().clamp(0, 1).numpy()
        a = (a * 255).astype(np.uint8)
        if a.shape[0] == 1:
            img = QImage(np.ascontiguousarray(a[0]).data, a.shape[2], a.shape[1], a.shape[2],
                         QImage.Format_Grayscale8).copy()
        else:
            rgb = np.ascontiguousarray(a.transpose(1, 2, 0))
            img = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3,
                         QImage.Format_RGB888).copy()
        side = 160
        self.image.setPixmap(QPixmap.fromImage(img).scaled(side, side, Qt.KeepAspectRatio,
                                                           Qt.FastTransformation))
        self.image.show()

    def _show_series(self, series) -> None:
        self.plot.clear()
        if not series:
            self.plot.hide()
            return
        self.plot.addLegend(offset=(-4, 4))
        colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"]
        k = 0
        for head, v in series:
            a = v.detach().float().numpy()
            for j in range(min(a.shape[1], 4)):
                self.plot.plot(np.arange(len(a)), a[:, j], pen=pg.mkPen(colors[k % 4], width=2),
                               name=f"{head}, feature {j}")
                k += 1
        self.plot.setLabel("bottom", "time step t")
        self.plot.show()

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
        if t is None or self._job is not None:
            return
        text = self.source.text()
        self.status.setText("Translating…")
        self._start(lambda: t.translate(text), self._translated)

    def _translated(self, tr) -> None:
        self._translation = tr
        self.translation.setText(f"<b>{_html(tr.output) or '(nothing)'}</b>"
                                 f"&nbsp;&nbsp;<span style='color:#666'>from "
                                 f"“{_html(tr.source)}”, greedy decoding</span>")
        self.status.setText(f"Translated {len(tr.source_tokens)} characters into "
                            f"{len(tr.output_tokens)} tokens.")
        current = self.attn_node.currentText()
        self.attn_node.blockSignals(True)
        self.attn_node.clear()
        for n in self.tryout.attention_nodes():
            if n in tr.attention:
                self.attn_node.addItem(n)
        i = self.attn_node.findText(current)
        self.attn_node.setCurrentIndex(i if i >= 0 else 0)
        self.attn_node.blockSignals(False)
        self._show_attention(heads=True)

    def _show_attention(self, heads: bool = False) -> None:
        tr = self._translation
        node = self.attn_node.currentText()
        if tr is None or node not in tr.attention:
            self._heat.clear()
            self.heatmap.setTitle("no attention in this model: it reads one context "
                                  "vector c = h_T" if tr is not None else "")
            self.attn_head.clear()
            return
        w = tr.attention[node]  # heads × T_out × T_in
        if heads:
            self.attn_head.blockSignals(True)
            self.attn_head.clear()
            if w.shape[0] > 1:
                self.attn_head.addItem("mean")
            for h in range(w.shape[0]):
                self.attn_head.addItem(f"{h + 1}")
            self.attn_head.blockSignals(False)
        h = self.attn_head.currentText()
        a = w.mean(0) if h in ("mean", "") else w[int(h) - 1]
        keys = tr.source_tokens if a.shape[1] == len(tr.source_tokens) else tr.output_tokens
        self._heat.setImage(a.T, levels=(0.0, max(float(a.max()), 1e-6)))
        self._heat.setRect(0, 0, a.shape[1], a.shape[0])
        for axis, labels in (("bottom", keys[:a.shape[1]]), ("left", tr.output_tokens)):
            self.heatmap.getAxis(axis).setTicks(
                [[(i + 0.5, _tick(c)) for i, c in enumerate(labels)]])
        self.heatmap.setXRange(0, a.shape[1], padding=0)
        self.heatmap.setYRange(0, a.shape[0], padding=0)
        which = "mean of the heads" if h == "mean" else (f"head {h}" if w.shape[0] > 1 else "")
        self.heatmap.setTitle(f"{node}: α_tj{', ' + which if which else ''}")

    # Work in a thread ---------------------------------------------------------------------------
    def _start(self, work, done) -> None:
        if self._job is not None:
            return
        self._set_busy(True)
        self._done = done
        self._result = None

        def run():
            try:
                self._result = ("ok", work())
            except Exception as e:  # shown in the panel, never a traceback
                self._result = ("error", str(e) or type(e).__name__)
        self._job = threading.Thread(target=run, daemon=True)
        self._job.start()
        self._timer.start()

    def _poll(self) -> None:
        if self._job is None or self._job.is_alive():
            return
        self._timer.stop()
        self._job = None
        self._set_busy(False)
        status, value = self._result
        if status == "error":
            self.status.setText(f"<span style='color:#c62828'>{value}</span>")
            self.message.emit(f"Try the model: {value}")
        else:
            self._done(value)

    def wait(self, timeout: float = 60) -> None:
        """For tests and scripts: until the thread's work is shown."""
        if self._job is not None:
            self._job.join(timeout)
        self._poll()

    def _set_busy(self, busy: bool) -> None:
        for w in (self.load_btn, self.generate_btn, self.random_btn, self.index,
                  self.translate_btn):
            w.setEnabled(not busy)
        if not busy:
            self.load_btn.setEnabled(self.weights.count() > 0)
