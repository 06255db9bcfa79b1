"""The training panel's list of the project's runs (ARCHITECTURE.md, "How a value flows":
the run folders runtime/runs.py writes): newest first, each with its status, steps and a
headline metric; Resume one, or Compare several (their curves over the live plots)."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout)


def headline_metric(final: dict) -> tuple[str, float] | None:
    """The metric a run's line shows: val_accuracy, else an accuracy, else a loss."""
    return next(((k, v) for k, v in final.items() if k == "val_accuracy"), None) or \
        next(((k, v) for k, v in final.items() if "accuracy" in k), None) or \
        next(((k, v) for k, v in final.items() if k.endswith("loss")), None)


class RunsList(QGroupBox):
    """The "Runs" box. `may_start()` says whether a run may start now (Resume is offered
    only then)."""
    resumeRunRequested = Signal(object)  # a RunInfo
    compareRequested = Signal(list)  # RunInfos
    evaluateRequested = Signal(object)  # a RunInfo (app/evaluate_view.py)

    def __init__(self, may_start: Callable[[], bool], parent=None):
        super().__init__("Runs", parent)
        self._may_start = may_start
        rl = QVBoxLayout(self)
        self.runs = QListWidget()
        self.runs.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.runs.setMinimumHeight(6 * self.runs.fontMetrics().height() + 8)  # six runs
        self.runs.setMaximumHeight(180)
        rl.addWidget(self.runs)
        rb = QHBoxLayout()
        self.resume_run_btn = QPushButton("Resume")
        self.compare_btn = QPushButton("Compare")
        rb.addWidget(self.resume_run_btn)
        rb.addWidget(self.compare_btn)
        self.evaluate_btn = QPushButton("Evaluate")
        self.evaluate_btn.setToolTip("The selected run judged on its validation split")
        rb.addWidget(self.evaluate_btn)
        self.evaluate_btn.clicked.connect(
            lambda: self.evaluateRequested.emit(self.runs.selectedItems()[0].data(Qt.UserRole)))
        rl.addLayout(rb)
        self.resume_run_btn.clicked.connect(self._resume_run)
        self.compare_btn.clicked.connect(
            lambda: self.compareRequested.emit([i.data(Qt.UserRole) for i in self.runs.selectedItems()]))
        self.runs.itemSelectionChanged.connect(self._runs_selected)

    def set_runs(self, runs) -> None:
        self.runs.clear()
        for r in reversed(runs):
            metric = headline_metric(r.info.get("final") or r.info.get("last_metrics") or {})
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
                                       and self._may_start())
        self.compare_btn.setEnabled(bool(items))
        self.evaluate_btn.setEnabled(len(items) == 1)

    def _resume_run(self) -> None:
        items = self.runs.selectedItems()
        if len(items) == 1:
            self.resumeRunRequested.emit(items[0].data(Qt.UserRole))
