"""Evaluating a trained model on a held-out split (issue 28, items 1 and 3). No Qt: the CLI
(`layerloom evaluate`) prints it and the app's Train > Evaluate view shows it.

    ev = evaluate(project, base_dir, weights, split="val")   # weights: file, checkpoint, run
    ev.kind              # 'classification', 'regression', 'detection',
                         # 'sequence to sequence', 'character model' or 'generator'
    ev.figures           # every number a view shows (JSON-ready), for the model's kind
    ev.cell(2, 7)        # the samples of true class 2 predicted as 7
    ev.to_dict()         # what `--json` prints

The model's kind comes from the graph, never from a type name: noise-only inputs make a
generator; a decode node (compiled `steps`) a sequence-to-sequence model; a loss whose metric
(runtime/metrics.metric_kind, from the catalogue's `metric`) is an accuracy over per-step
scores with a token vocabulary a character model; any other accuracy a classifier, mean
absolute error a regressor; a model returning a detector's boxes, scores and labels
(runtime.detection.metrics.detectors) a detector. Modules: source.py (weights, split,
predictions), classify.py (classification and regression), detect.py (a detector: per-class
precision-recall at IoU 0.5, the images by their errors), sequences.py (seq2seq, character
model, generator), report.py (text), html.py and svg.py (the shareable HTML file)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from graph.project import Project

from .source import EvaluateError, open_source, predict

__all__ = ["EvaluateError", "Evaluation", "evaluate", "KINDS"]

KINDS = ("classification", "regression", "detection", "sequence to sequence",
         "character model", "generator")


@dataclass
class Evaluation:
    kind: str
    split: str
    weights: str
    project: str
    figures: dict  # the model's kind's figures (its main loss's when there are several)
    heads: dict[str, dict] = field(default_factory=dict)  # loss node -> figures, if several
    samples: list[dict] = field(default_factory=list)  # a classifier's samples, in order

    def cell(self, true: int, predicted: int) -> list[dict]:
        """The samples behind a confusion-matrix cell: true class `true`, predicted
        `predicted` (rows of `samples`: index, dataset_index, true, predicted, confidence)."""
        return [s for s in self.samples if s["true"] == true and s["predicted"] == predicted]

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "split": self.split, "weights": self.weights,
             "project": self.project, **self.figures}
        if self.heads:
            d["heads"] = self.heads
        if self.samples:
            d["per_sample"] = self.samples
        return d


def evaluate(project: Project, base_dir: str | os.PathLike | None,
             weights: str | os.PathLike, split: str = "val") -> Evaluation:
    """The evaluation of `project` with `weights` on split 'val' (what the run held out) or
    'train'. Raises EvaluateError in words."""
    src = open_source(project, base_dir, weights, split)
    try:
        return _evaluate(src)
    finally:
        src.close()


def _evaluate(src) -> Evaluation:
    from ..detection.metrics import detectors
    from ..evaluation import ignored
    c = src.compiled
    base = dict(split=src.split, weights=str(src.weights), project=src.project.name)
    if src.dataset is None:  # noise in: a generator
        from .sequences import generator
        return Evaluation("generator", figures=generator(src), **base)
    if detectors(c):
        from .detect import detection
        return Evaluation("detection", figures=detection(src), **base)
    if c.steps:
        from .sequences import seq2seq
        return Evaluation("sequence to sequence", figures=seq2seq(src), **base)
    p = predict(src)
    if not p.kinds:
        raise EvaluateError("no loss node compares the model's output with a Target through "
                            "a metric (its 'metric' is 'none'?): nothing to evaluate")
    vocab = src.vocab
    if vocab is not None and any(k == "accuracy/argmax_last" for k in p.kinds.values()):
        from .sequences import character
        loss = next(l for l, k in p.kinds.items() if k == "accuracy/argmax_last")
        return Evaluation("character model", figures=character(src, p, loss), **base)
    heads, samples, kinds = {}, [], {}
    from .classify import class_scores, classification, per_sample, regression
    positions = src.indices.numpy()
    for l, kind in p.kinds.items():
        if kind == "mae":
            heads[l] = regression(p.targets[l].numpy(), p.preds[l].numpy())
            kinds[l] = "regression"
            continue
        y, proba, calibrated = class_scores(c, l, kind, p.preds[l], p.targets[l], ignored(c, l))
        classes = _class_names(src.classes, proba.shape[1], kind)
        heads[l] = classification(y, proba, classes, calibrated)
        kinds[l] = "classification"
        if not samples and len(y) == len(positions):  # one prediction per sample
            samples = per_sample(y, proba, positions)
    main = next((l for l in heads if kinds[l] == "classification"), next(iter(heads)))
    figures = {"loss_node": main, **heads[main]}
    return Evaluation(kinds[main], figures=figures,
                      heads=heads if len(heads) > 1 else {}, samples=samples, **base)


def _class_names(classes, n: int, kind: str) -> list[str]:
    if classes is not None and len(classes) == n:
        return [str(x) for x in classes]
    if n == 2 and kind == "accuracy/sign":
        return ["−1", "+1"]
    return [str(i) for i in range(n)]

