"""Train > Evaluate (issue 28, items 1 and 3): a window judging a run's weights on the
validation split its training held out. The figures are runtime/evaluate's (computed on a
background thread, app/background.py); this module only lays them out.

- a classifier: the confusion matrix (rows true class, columns predicted; app/evaluate_plots
  .ConfusionPlot) whose cells list, when clicked, exactly the samples behind them
  (Evaluation.cell: index among the validation samples, dataset row, true, predicted,
  confidence, and a thumbnail for image inputs, taken from runtime.tryout's validation
  samples, the same split in the same order); per-class precision, recall, F1, support,
  ROC AUC and average precision; ROC and PR curves one-vs-rest with each class's AUC / AP in
  the legend; the reliability diagram with the ECE;
- a regressor: predicted against true with y = x, the residuals, MAE, RMSE and R²;
- a detector: app/evaluate_detect.py (per-class precision-recall at IoU 0.5, AP table, the
  images by their errors); an image double-clicked there opens, through `open_sample(weights,
  index)` (the main window's), in the Try panel;
- a sequence-to-sequence model, a character model, a generator: app/evaluate_other.py;
- the runtime's refusal (no metric, …) in words.

"Save as HTML…" writes the runtime's self-contained HTML page (runtime/evaluate/html.write,
atomic)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from .background import Background
from .evaluate_other import character_page, generator_page, seq2seq_page, table
from .evaluate_plots import ConfusionPlot, curves_plot, reliability_plot, scatter_plot

MAX_LISTED = 5000  # samples listed for one cell (a diagonal cell of a big split holds more)
THUMB = 48  # thumbnail side, pixels


def _load(project_json: str, base_dir, weights: str):
    """On the background thread: the evaluation, and for a classifier of images the
    validation images (runtime.tryout: the same split, the same order) for thumbnails."""
    from graph.project import loads
    from runtime.evaluate import evaluate
    project = loads(project_json)
    ev = evaluate(project, base_dir, weights, "val")
    images = None
    if ev.kind == "classification" and ev.samples:
        try:
            from runtime.tryout import TryError, Tryout, kind
            t = Tryout(project, base_dir, weights)
            for n in t.compiled.inputs:
                v = t.val.get(n)
                if v is not None and len(v) == ev.figures.get("samples") and \
                        kind(v[0], t.vocab) == "image":
                    images = v
                    break
        except (TryError, RuntimeError, ValueError, OSError):
            images = None  # the samples are listed without their pictures
    return ev, images


class EvaluateView(QWidget):
    """See the module's docstring. `say` shows a line on the main window's status bar."""

    def __init__(self, say=None, parent=None, open_sample=None):
        super().__init__(parent, Qt.Window)
        self.say = say or (lambda _m: None)
        self.open_sample = open_sample  # (weights, validation sample index) -> the Try panel
        self.weights: str | None = None  # those judged last
        self.detection = None  # a detector's page (app/evaluate_detect.DetectionPage)
        self.setWindowTitle("Evaluate")
        self.project_json, self.base_dir = None, None
        self.ev = None
        self.images = None
        self.confusion: ConfusionPlot | None = None
        self.cell_samples: list[dict] = []
        self.job = Background(self)
        outer = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Run:"))
        self.run_box = QComboBox()
        self.run_box.setMinimumWidth(320)
        self.run_box.setToolTip("The run whose weights are judged (its best checkpoint, else "
                                "its last), on the validation split its training held out")
        top.addWidget(self.run_box)
        self.evaluate_btn = QPushButton("Evaluate")
        self.evaluate_btn.clicked.connect(lambda: self.evaluate())
        top.addWidget(self.evaluate_btn)
        self.save_btn = QPushButton("Save as HTML…")
        self.save_btn.setEnabled(False)
        self.save_btn.clicked.connect(lambda: self.save_html())
        top.addWidget(self.save_btn)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        top.addWidget(self.status, 1)
        outer.addLayout(top)
        self.tabs = QTabWidget()
        outer.addWidget(self.tabs, 1)

    # The source -------------------------------------------------------------------------------
    def set_source(self, project, base_dir, runs, title: str = "") -> None:
        """The project (copied now: later edits do not reach a running evaluation), the
        folder its data paths are relative to and its runs (runtime.runs.list_runs)."""
        from runtime.tryout import run_weights
        self.project_json, self.base_dir = project.to_json(), base_dir
        self.setWindowTitle(f"Evaluate: {title}" if title else "Evaluate")
        current = self.run_box.currentData()
        self.run_box.clear()
        for r in reversed(runs):  # newest first
            found = run_weights(r)
            if found:
                self.run_box.addItem(f"{r.name} · {r.status} · {found[0]} checkpoint",
                                     str(found[1]))
        if current is not None and self.run_box.findData(current) >= 0:
            self.run_box.setCurrentIndex(self.run_box.findData(current))
        self.evaluate_btn.setEnabled(bool(self.run_box.count()))
        if not self.run_box.count():
            self.status.setText("No run with weights yet: train the model first (Train > Run).")

    def select_run(self, run) -> None:
        """Pick `run` (a RunInfo) in the list, if it has weights."""
        for i in range(self.run_box.count()):
            if Path(self.run_box.itemData(i)).parent.parent == Path(run.folder):
                self.run_box.setCurrentIndex(i)
                return

    # Evaluating -------------------------------------------------------------------------------
    def evaluate(self, weights: str | None = None) -> bool:
        """Judge `weights` (else the chosen run's) on a background thread; False if nothing
        started (one is running, or there is nothing to judge)."""
        weights = weights or self.run_box.currentData()
        if self.project_json is None or not weights or self.job.busy:
            return False
        self.status.setText(f"Evaluating {weights} on the validation split…")
        self.evaluate_btn.setEnabled(False)
        self.save_btn.setEnabled(False)
        project_json, base_dir = self.project_json, self.base_dir
        self.weights = str(weights)
        return self.job.start(lambda: _load(project_json, base_dir, weights), self._done)

    def _done(self, outcome) -> None:
        from runtime.evaluate import EvaluateError
        self.evaluate_btn.setEnabled(bool(self.run_box.count()))
        try:
            ev, images = outcome.get()
        except EvaluateError as e:
            self._refused(str(e))
            return
        except (RuntimeError, ValueError, OSError) as e:  # torch's own complaint: one line
            self._refused(f"evaluation failed: {(str(e).splitlines() or [''])[0]}")
            return
        self.show_evaluation(ev, images)

    def _refused(self, message: str) -> None:
        self.ev = None
        self.tabs.clear()
        self.status.setText(f"Cannot evaluate: {message}")
        self.say(f"Evaluate: {message}")

    def show_evaluation(self, ev, images=None) -> None:
        """Lay out an Evaluation (runtime/evaluate) for its kind."""
        self.ev, self.images = ev, images
        self.tabs.clear()
        self.confusion, self.cell_samples, self.detection = None, [], None
        f = ev.figures
        if ev.kind == "classification":
            self._classification(f, main=True)
        elif ev.kind == "detection":
            from .evaluate_detect import DetectionPage
            self.detection = DetectionPage(f)
            self.detection.openRequested.connect(self.try_sample)
            self.tabs.addTab(self.detection, "Detection")
        elif ev.kind == "regression":
            self.tabs.addTab(self._regression(f), "Regression")
        elif ev.kind == "sequence to sequence":
            self.tabs.addTab(seq2seq_page(f), "Sequence to sequence")
        elif ev.kind == "character model":
            self.tabs.addTab(character_page(f), "Character model")
        elif ev.kind == "generator":
            self.tabs.addTab(generator_page(f), "Generator")
        for node, h in ev.heads.items():  # a model with several losses: the others' figures
            if node != f.get("loss_node"):
                if "confusion_matrix" in h:
                    self._classification(h, main=False, node=node)
                else:
                    self.tabs.addTab(self._regression(h), f"Loss {node}")
        self.save_btn.setEnabled(True)
        self.status.setText(self._headline(ev))
        self.say(f"Evaluated {ev.weights}: {self._headline(ev)}")

    @staticmethod
    def _headline(ev) -> str:
        f = ev.figures
        n = f.get("samples", 0)
        if ev.kind == "classification":
            auc, ece = f.get("roc_auc"), f.get("ece")
            return (f"{ev.kind}, {n:,} validation samples: accuracy {f['accuracy']:.2%}"
                    + (f", ROC AUC {auc:.4f}" if auc is not None else "")
                    + (f", ECE {ece:.4f}" if ece is not None else ""))
        if ev.kind == "regression":
            return _regression_line(f)
        if ev.kind == "detection":
            from .evaluate_detect import headline
            return headline(f)
        return f"{ev.kind}, {n:,} validation samples"

    def try_sample(self, index: int) -> None:
        """Validation sample `index` with the judged weights, in the Try panel."""
        if self.open_sample is None or self.weights is None:
            self.say("Open the main window's Try panel to see the sample")
            return
        self.say(f"Trying validation sample {index} in the Try panel")
        self.open_sample(self.weights, index)

    # A classifier ------------------------------------------------------------------------------
    def _classification(self, f: dict, main: bool, node: str = "") -> None:
        suffix = f" ({node})" if node else ""
        plot = ConfusionPlot()
        plot.set_matrix(f["confusion_matrix"], f["classes"])
        if main:
            self.confusion = plot
            right = QWidget()
            rl = QVBoxLayout(right)
            rl.setContentsMargins(0, 0, 0, 0)
            self.cell_label = QLabel("Click a cell of the matrix: the validation samples of "
                                     "that true class predicted as that class.")
            self.cell_label.setWordWrap(True)
            self.samples_table = QTableWidget(0, 5)
            self.samples_table.setHorizontalHeaderLabels(
                ["sample", "dataset row", "true", "predicted", "confidence"])
            self.samples_table.verticalHeader().setVisible(False)
            self.samples_table.setEditTriggers(QTableWidget.NoEditTriggers)
            self.samples_table.setIconSize(QSize(THUMB, THUMB))
            rl.addWidget(self.cell_label)
            rl.addWidget(self.samples_table, 1)
            split = QSplitter(Qt.Horizontal)
            split.addWidget(plot)
            split.addWidget(right)
            split.setSizes([620, 420])
            plot.cellClicked.connect(self.show_cell)
            self.tabs.addTab(split, "Confusion matrix")
        else:
            self.tabs.addTab(plot, f"Confusion matrix{suffix}")
        rows = [[p["class"], p["precision"], p["recall"], p["f1"], p["support"], c["roc_auc"],
                 c["average_precision"]] for p, c in zip(f["per_class"], f["curves"])]
        per = QWidget()
        pl = QVBoxLayout(per)
        auc, ece = f.get("roc_auc"), f.get("ece")
        pl.addWidget(QLabel(f"Accuracy {f['accuracy']:.4f} · ROC AUC (one-vs-rest, macro) "
                            f"{'n/a' if auc is None else f'{auc:.4f}'} · expected calibration "
                            f"error {'n/a' if ece is None else f'{ece:.4f}'}"))
        self_table = table(["class", "precision", "recall", "F1", "support", "ROC AUC",
                            "average precision"], rows)
        pl.addWidget(self_table, 1)
        if main:
            self.per_class_table = self_table
        self.tabs.addTab(per, f"Per class{suffix}")
        curves = QSplitter(Qt.Horizontal)
        curves.addWidget(curves_plot(f, roc=True))
        curves.addWidget(curves_plot(f, roc=False))
        self.tabs.addTab(curves, f"ROC and PR{suffix}")
        self.tabs.addTab(reliability_plot(f), f"Reliability{suffix}")

    def show_cell(self, true: int, predicted: int) -> None:
        """List the samples behind cell (true, predicted): Evaluation.cell's rows."""
        ev = self.ev
        if ev is None or self.confusion is None:
            return
        names = ev.figures["classes"]
        rows = ev.cell(true, predicted)
        self.cell_samples = rows
        shown = rows[:MAX_LISTED]
        more = f" (the first {MAX_LISTED:,} listed)" if len(rows) > MAX_LISTED else ""
        self.cell_label.setText(f"True {names[true]}, predicted {names[predicted]}: "
                                f"{len(rows):,} validation sample{'s' * (len(rows) != 1)}"
                                f"{more}")
        t = self.samples_table
        t.setRowCount(len(shown))
        pix = None
        if self.images is not None:
            from .try_sample import pixmap
            pix = pixmap
        for r, s in enumerate(shown):
            first = QTableWidgetItem(str(s["index"]))
            if pix is not None:
                first.setIcon(pix(self.images[s["index"]], THUMB))
            values = [first, QTableWidgetItem(str(s["dataset_index"])),
                      QTableWidgetItem(names[s["true"]]),
                      QTableWidgetItem(names[s["predicted"]]),
                      QTableWidgetItem(f"{s['confidence']:.4f}")]
            for c, it in enumerate(values):
                t.setItem(r, c, it)
        if pix is not None:
            t.verticalHeader().setDefaultSectionSize(THUMB + 4)
        t.resizeColumnsToContents()
        self.say(self.cell_label.text())

    # A regressor -------------------------------------------------------------------------------
    def _regression(self, f: dict) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.addWidget(QLabel(_regression_line(f)))
        split = QSplitter(Qt.Horizontal)
        split.addWidget(scatter_plot("Predicted against true", "true", "predicted",
                                     f["true"], f["predicted"], diagonal=True))
        split.addWidget(scatter_plot("Residuals", "true", "predicted − true", f["true"],
                                     f["residuals"], zero=True))
        lay.addWidget(split, 1)
        return w

    # Sharing ----------------------------------------------------------------------------------
    def ask_html_path(self) -> str | None:
        start = str(Path(self.base_dir or Path.cwd()) / "evaluation.html")
        path, _ = QFileDialog.getSaveFileName(self, "Save the evaluation as HTML", start,
                                              "HTML (*.html *.htm)")
        return path or None

    def save_html(self, path: str | None = None) -> bool:
        """Write the runtime's self-contained HTML page of the shown evaluation (atomic)."""
        if self.ev is None:
            return False
        path = path or self.ask_html_path()
        if not path:
            return False
        from runtime.evaluate.html import write
        try:
            write(self.ev, path)
        except OSError as e:
            self.status.setText(f"Cannot save {e.filename or path}: {e.strerror or e}")
            return False
        self.status.setText(f"Saved {path}")
        self.say(f"Saved the evaluation as {path}")
        return True


def _regression_line(f: dict) -> str:
    r2 = f.get("r2")
    return (f"regression, {f['samples']:,} validation samples: MAE {f['mae']:.4g}, "
            f"RMSE {f['rmse']:.4g}, R² {'n/a' if r2 is None else f'{r2:.4f}'}")
