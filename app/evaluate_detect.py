"""Train > Evaluate's page for a detector (app/evaluate_view.py; issue 28, item 1): each
class's precision-recall curve at IoU 0.5 (pyqtgraph, recall on x, precision on y, the
class's AP50 in the legend), the AP table, and the validation images ordered by their errors
(missed objects, false detections; worst first). Double-clicking an image's row, or "Open in
the Try panel" with a row selected, emits openRequested(sample index among the validation
images): the window shows that sample in the Try panel. Every number is the runtime's
(runtime/evaluate/detect.py)."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from .evaluate_plots import _pen, _plot
from .evaluate_other import table

LISTED = 5000  # images listed at most (worst first)
COLUMNS = ["sample", "dataset row", "objects", "detections", "missed", "false",
           "missed objects", "false detections"]


def headline(f: dict) -> str:
    mask = (f", mask mAP50 {f['mask_map50']:.4f}" if "mask_map50" in f else "")
    return (f"detection, {f['samples']:,} validation images: mAP50 {f['map50']:.4f}, "
            f"mAP@0.5:0.95 {f['map']:.4f}{mask}; of {f['objects']:,} objects "
            f"{f['missed']:,} missed, {f['false']:,} false detections")


def pr_plot(f: dict) -> pg.PlotWidget:
    """Each class's precision against recall at IoU 0.5 (COCOeval's recall thresholds)."""
    p = _plot("Precision-recall at IoU 0.5, per class", "recall", "precision")
    p.addLegend(offset=(10, -10))
    drawn = [c for c in f["per_class"] if c["recall"]]
    for k, c in enumerate(drawn):
        p.plot(c["recall"], c["precision"], pen=_pen(k, len(drawn)),
               name=f"{c['class']}  AP50 {c['ap50']:.3f}")
    p.setRange(xRange=(0, 1), yRange=(0, 1.02), padding=0.02)
    return p


class DetectionPage(QWidget):
    """See the module's docstring."""
    openRequested = Signal(int)  # the validation sample's index

    def __init__(self, f: dict, parent=None):
        super().__init__(parent)
        from runtime.evaluate.report import errors_text
        self.figures = f
        lay = QVBoxLayout(self)
        self.head = QLabel(headline(f) + (f" · mask IoU {f['mask_iou']:.4f}"
                                          if "mask_iou" in f else ""))
        self.head.setWordWrap(True)
        lay.addWidget(self.head)
        split = QSplitter(Qt.Horizontal)
        left = QSplitter(Qt.Vertical)
        self.plot = pr_plot(f)
        left.addWidget(self.plot)
        self.ap_table = table(["class", "AP50", "max recall (IoU 0.5)"],
                              [[c["class"], c["ap50"], c["max_recall"]]
                               for c in f["per_class"]])
        left.addWidget(self.ap_table)
        left.setSizes([460, 160])
        split.addWidget(left)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rows = f["images"][:LISTED]
        more = f" (the worst {LISTED:,} listed)" if len(f["images"]) > LISTED else ""
        rl.addWidget(QLabel(f"Validation images, worst first{more}: objects no detection "
                            f"matched at IoU 0.5 (missed) and detections scoring ≥ "
                            f"{f['score_threshold']:.0%} matching no object (false). "
                            "Double-click one to open it in the Try panel."))
        rl.itemAt(0).widget().setWordWrap(True)
        self.images = rows
        t = self.images_table = QTableWidget(len(rows), len(COLUMNS))
        t.setHorizontalHeaderLabels(COLUMNS)
        t.verticalHeader().setVisible(False)
        t.setEditTriggers(QTableWidget.NoEditTriggers)
        t.setSelectionBehavior(QTableWidget.SelectRows)
        t.setSelectionMode(QTableWidget.SingleSelection)
        for r, s in enumerate(rows):
            values = [s["index"], s["dataset_index"], s["objects"], s["detections"],
                      s["missed"], s["false"], errors_text(s["missed_objects"]),
                      errors_text(s["false_detections"], True)]
            for c, v in enumerate(values):
                it = QTableWidgetItem(str(v))
                if isinstance(v, int):
                    it.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if s["missed"] or s["false"]:
                    it.setToolTip(f"missed: {values[6] or 'none'}\nfalse: {values[7] or 'none'}")
                t.setItem(r, c, it)
        h = t.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeToContents)
        h.setStretchLastSection(True)
        t.cellDoubleClicked.connect(lambda r, _c: self.open_row(r))
        rl.addWidget(t, 1)
        buttons = QHBoxLayout()
        self.open_btn = QPushButton("Open in the Try panel")
        self.open_btn.setToolTip("Show the selected image, its detections and its true objects "
                                 "in Train > Try the Model")
        self.open_btn.clicked.connect(lambda: self.open_row(t.currentRow()))
        buttons.addWidget(self.open_btn)
        buttons.addStretch(1)
        rl.addLayout(buttons)
        split.addWidget(right)
        split.setSizes([520, 680])
        lay.addWidget(split, 1)

    def open_row(self, row: int) -> None:
        """Ask for image row `row` of the table in the Try panel."""
        if 0 <= row < len(self.images):
            self.openRequested.emit(self.images[row]["index"])
