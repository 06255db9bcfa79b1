"""The Try panel's translation mode (ARCHITECTURE.md, "A Try-panel mode"): a typed input
translated by greedy decoding (runtime.tryout.Tryout.translate), and the attention weights as a
heatmap, output position t down the rows, input position j along the columns, one square cell
per label."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSizePolicy, QVBoxLayout)


def html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def tick(c: str) -> str:
    """A token as an axis label: a space and a newline made visible."""
    return {" ": "␣", "\n": "⏎"}.get(c, c)


class TranslateBox(QGroupBox):
    """The input line, its translation, and the heatmap of one attention node's weights."""

    def __init__(self, translate, parent=None):
        super().__init__("Translate", parent)
        tform = QVBoxLayout(self)
        trow = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setObjectName("try_source")
        self.source.setPlaceholderText("type an input, e.g. the 29th of August 1958")
        self.source.returnPressed.connect(translate)
        self.translate_btn = QPushButton("Translate")
        self.translate_btn.setObjectName("try_translate")
        self.translate_btn.clicked.connect(translate)
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
        self.attn_node.currentIndexChanged.connect(lambda _i: self.show_attention(heads=True))
        self.attn_head.currentIndexChanged.connect(lambda _i: self.show_attention())
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
        # One square cell per (t, j), the image against the axes that label it (an aspect
        # lock would centre it, far from its row labels): framed on every resize
        self.heatmap.getViewBox().sigResized.connect(self.frame_heat)
        self._heat_size = None
        self.heatmap.hideButtons()
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setColorMap(pg.colormap.get("viridis"))
        self.heatmap.addItem(self.heat)
        self.heatmap.setLabel("bottom", "input position j")
        self.heatmap.setLabel("left", "output position t")
        tform.addWidget(self.heatmap, 1)
        self.result = None  # the Translation shown

    def clear(self) -> None:
        self.result = None

    def show_translation(self, tr, attention_nodes: list[str]) -> str:
        """Show `tr` (a runtime.tryout.Translation); the status line to show with it."""
        self.result = tr
        self.translation.setText(f"<b>{html(tr.output) or '(nothing)'}</b>"
                                 f"&nbsp;&nbsp;<span style='color:#666'>from "
                                 f"“{html(tr.source)}”, greedy decoding</span>")
        current = self.attn_node.currentText()
        self.attn_node.blockSignals(True)
        self.attn_node.clear()
        for n in attention_nodes:
            if n in tr.attention:
                self.attn_node.addItem(n)
        i = self.attn_node.findText(current)
        self.attn_node.setCurrentIndex(i if i >= 0 else 0)
        self.attn_node.blockSignals(False)
        self.show_attention(heads=True)
        return (f"Translated {len(tr.source_tokens)} characters into "
                f"{len(tr.output_tokens)} tokens.")

    def show_attention(self, heads: bool = False) -> None:
        tr = self.result
        node = self.attn_node.currentText()
        if tr is None or node not in tr.attention:
            self.heat.clear()
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
        # pyqtgraph reads images row-major in this app (app/plots.py): row t, column j
        self.heat.setImage(a, levels=(0.0, max(float(a.max()), 1e-6)))
        self.heat.setRect(0, 0, a.shape[1], a.shape[0])  # x: input j, y: output t
        for axis, labels in (("bottom", keys[:a.shape[1]]), ("left", tr.output_tokens)):
            self.heatmap.getAxis(axis).setTicks(
                [[(i + 0.5, tick(c)) for i, c in enumerate(labels)]])
        self._heat_size = (a.shape[1], a.shape[0])
        self.frame_heat()
        which = "mean of the heads" if h == "mean" else (f"head {h}" if w.shape[0] > 1 else "")
        self.heatmap.setTitle(f"{node}: α_tj{', ' + which if which else ''}")

    def frame_heat(self, *_) -> None:
        """The view range that makes each cell square, the image in the bottom left corner,
        against both axes that label it (the room left over goes right or above)."""
        if self._heat_size is None:
            return
        cols, rows = self._heat_size
        box = self.heatmap.getViewBox().boundingRect()
        if box.width() <= 0 or box.height() <= 0:
            return
        cell = min(box.width() / cols, box.height() / rows)  # pixels per cell
        self.heatmap.setXRange(0, box.width() / cell, padding=0)
        self.heatmap.setYRange(rows - box.height() / cell, rows, padding=0)
