"""Train > Evaluate's pages for the kinds beyond a classifier and a regressor
(app/evaluate_view.py): a sequence-to-sequence model (exact match by input length, the worst
examples), a character model (validation text coloured by each character's loss, the hardest
characters) and a generator (what the dataset's judge makes of its samples, and the samples:
points or an image grid; beside them, when the run kept them, its samples per epoch:
app/evaluate_epochs.py). Every number is the runtime's (runtime/evaluate/sequences.py)."""
from __future__ import annotations

from html import escape

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHeaderView, QLabel, QSplitter, QTableWidget, QTableWidgetItem,
                               QTextBrowser, QVBoxLayout, QWidget)

from .evaluate_plots import bars_plot, scatter_plot


def table(headers: list[str], rows: list[list]) -> QTableWidget:
    """A read-only table; floats to 4 significant digits, None as 'n/a'."""
    t = QTableWidget(len(rows), len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QTableWidget.NoEditTriggers)
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            text = "n/a" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
            it = QTableWidgetItem(text)
            if isinstance(v, (int, float)):
                it.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            t.setItem(r, c, it)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _page(*widgets, vertical=True) -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    split = QSplitter(Qt.Vertical if vertical else Qt.Horizontal)
    for x in widgets:
        split.addWidget(x)
    lay.addWidget(split)
    return w


def seq2seq_page(f: dict) -> QWidget:
    b = f["by_length"]
    head = QLabel(f"Exact match {f['exact_match']:.2%} over {f['samples']:,} sequences "
                  f"(greedy decoding of {f['decode_node']}, whole sequences)")
    plot = bars_plot("Exact match by input length", "input length (tokens)", "exact match",
                     [x["length"] for x in b], [x["exact_match"] for x in b], y_max=1.02)
    worst = table(["input", "decoded", "true", "wrong tokens"],
                  [[w["input"], w["decoded"], w["true"], w["token_errors"]] for w in f["worst"]])
    return _page(head, plot, table(["input length", "sequences", "exact match"],
                                   [[x["length"], x["samples"], x["exact_match"]] for x in b]),
                 worst)


def character_page(f: dict) -> QWidget:
    head = QLabel(f"Loss per character {f['loss_per_character']:.4f} nats "
                  f"({f['bits_per_character']:.4f} bits), accuracy {f['accuracy']:.2%}, "
                  f"{f['characters']:,} characters")
    text = QTextBrowser()
    top = max([l for row in f["text"] for _, l in row] + [1e-9])
    parts = ["<p>Validation text, each character's background as red as its loss "
             "(hover: the loss in nats)</p>"]
    for row in f["text"]:
        parts.append("<pre>" + "".join(
            f'<span title="{l:.3f}" style="background-color:rgba(214,39,40,'
            f'{min(l / top, 1) * 255:.0f})">{escape(ch)}</span>' for ch, l in row) + "</pre>")
    text.setHtml("".join(parts))
    worst = table(["character", "count", "mean loss (nats)"],
                  [[repr(w["character"]), w["count"], w["loss"]]
                   for w in f["worst_characters"]])
    return _page(head, text, worst)


def generator_page(f: dict) -> QWidget:
    judged = f["judged"]
    head = table(list(judged) or ["judge"], [list(judged.values()) or
                                             ["the dataset has no judge of samples"]])
    head.setMaximumHeight(70)
    shape, gen = f["shape"], np.asarray(f["generated"], dtype=float)
    if len(shape) == 1 and shape[0] == 2:
        view = scatter_plot("Generated samples (the Try panel's fixed noise)", "x₁", "x₂",
                            gen[:, 0], gen[:, 1])
    elif len(shape) in (2, 3):
        view = pg.PlotWidget(background="w")
        view.setTitle(f"{len(gen)} generated samples (the Try panel's fixed noise)")
        view.addItem(pg.ImageItem(_grid(gen)))
        view.getViewBox().invertY(True)
        view.getViewBox().setAspectLocked(True)
        view.hideAxis("left")
        view.hideAxis("bottom")
    else:
        view = QLabel(f"{len(gen)} generated samples of shape {shape}: no picture for it")
    if f.get("epochs"):  # the run's samples per epoch, beside the weights' own
        from .evaluate_epochs import EpochGrids
        return _page(head, _page(view, EpochGrids(f["epochs"], shape, _grid),
                                 vertical=False))
    return _page(head, view)


def _grid(gen: np.ndarray) -> np.ndarray:
    """Samples (N × H × W or N × C × H × W) tiled in a square grid, values to [0, 1];
    returned row-major or col-major as pyqtgraph's configured image axis order wants."""
    if gen.ndim == 4:
        gen = gen.mean(1) if gen.shape[1] != 3 else gen.transpose(0, 2, 3, 1)
    lo, hi = float(gen.min(initial=0)), float(gen.max(initial=1))
    gen = (gen - lo) / max(hi - lo, 1e-9)
    n = len(gen)
    side = int(np.ceil(np.sqrt(max(n, 1))))
    h, w = gen.shape[1], gen.shape[2]
    out = np.ones((side * (h + 1), side * (w + 1)) + gen.shape[3:])
    for i in range(n):
        r, c = divmod(i, side)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = gen[i]
    if pg.getConfigOption("imageAxisOrder") != "row-major":
        out = out.swapaxes(0, 1)
    return out
