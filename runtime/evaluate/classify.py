"""Classification and regression figures, every one from scikit-learn (issue 28, item 1).

`classification(y, proba, classes)` and `regression(y, pred)` are pure: numpy in, a JSON-ready
dict out, so a test compares them with scikit-learn called directly. `class_scores` turns a
loss's prediction into class indices and probabilities, reading the loss's from_logits by its
role (a loss without that setting: the prediction's own values say whether they are
probabilities, log-probabilities or raw scores)."""
from __future__ import annotations

import math

import numpy as np
import torch

from graph.spec import OutputKind, ParamRole

from .. import metrics as M

BINS = 10  # the reliability diagram's bins: equal widths over [0, 1]
MAX_CURVE = 400  # points kept of a ROC or PR curve (thinned evenly, the ends kept)


def _thin(*arrays):
    n = len(arrays[0])
    if n <= MAX_CURVE:
        return [a.tolist() for a in arrays]
    keep = np.unique(np.linspace(0, n - 1, MAX_CURVE).round().astype(int))
    return [a[keep].tolist() for a in arrays]


def _num(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def classification(y: np.ndarray, proba: np.ndarray, classes: list[str],
                   confidence_calibrated: bool = True) -> dict:
    """The figures of a classifier (see _classification); scikit-learn's argument checks
    skipped (the arrays are made here, finite and of the right types: a third of the time)."""
    import sklearn
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return _classification(y, proba, classes, confidence_calibrated)


def _classification(y: np.ndarray, proba: np.ndarray, classes: list[str],
                    confidence_calibrated: bool = True) -> dict:
    """The figures of a classifier over N samples: `y` the true class indices (N), `proba`
    the class probabilities (N × C, rows summing to 1). ROC AUC is one-vs-rest, macro
    averaged, over the classes present among the true labels (None when fewer than two are);
    the reliability diagram bins the top-label confidence against whether the prediction is
    right (sklearn.calibration.calibration_curve, BINS uniform bins), and the expected
    calibration error is Σ_b (n_b / N) · |accuracy_b − confidence_b| over the non-empty bins,
    n_b counted with the same bin edges calibration_curve uses (np.searchsorted on the inner
    edges). `confidence_calibrated` False (a margin loss's scores): no calibration figures."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import (accuracy_score, auc, average_precision_score,
                                 confusion_matrix, precision_recall_curve,
                                 precision_recall_fscore_support, roc_auc_score, roc_curve)
    y = np.asarray(y, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    C = proba.shape[1]
    labels = list(range(C))
    pred = proba.argmax(1)
    conf = proba.max(1)
    out: dict = {"samples": int(len(y)), "classes": list(classes)}
    out["accuracy"] = float(accuracy_score(y, pred)) if len(y) else None
    out["confusion_matrix"] = confusion_matrix(y, pred, labels=labels).tolist()
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    out["per_class"] = [{"class": classes[k], "precision": float(p[k]), "recall": float(r[k]),
                         "f1": float(f[k]), "support": int(s[k])} for k in labels]
    present = [k for k in labels if (y == k).any() and not (y == k).all()]
    curves = []
    for k in labels:
        entry = {"class": classes[k], "roc_auc": None, "average_precision": None,
                 "roc": None, "pr": None}
        if k in present:
            truth = (y == k).astype(int)
            fpr, tpr, _ = roc_curve(truth, proba[:, k])
            prec, rec, _ = precision_recall_curve(truth, proba[:, k])
            entry["roc_auc"] = _num(auc(fpr, tpr))
            entry["average_precision"] = _num(average_precision_score(truth, proba[:, k]))
            fpr, tpr = _thin(fpr, tpr)
            prec, rec = _thin(prec, rec)
            entry["roc"] = {"fpr": fpr, "tpr": tpr}
            entry["pr"] = {"precision": prec, "recall": rec}
        curves.append(entry)
    out["curves"] = curves
    out["roc_auc"] = None
    if len(present) >= 2:
        if C == 2:
            out["roc_auc"] = _num(roc_auc_score(y, proba[:, 1]))
        elif len(present) == C:
            out["roc_auc"] = _num(roc_auc_score(y, proba, multi_class="ovr", average="macro",
                                                labels=labels))
        else:  # classes missing from the split: the mean over those present
            out["roc_auc"] = _num(np.mean([curves[k]["roc_auc"] for k in present]))
    out["roc_auc_classes"] = len(present)
    out["calibration"], out["ece"] = None, None
    if confidence_calibrated and len(y):
        right = (pred == y).astype(int)
        acc_b, conf_b = calibration_curve(right, conf, n_bins=BINS, strategy="uniform")
        edges = np.linspace(0.0, 1.0, BINS + 1)
        counts = np.bincount(np.searchsorted(edges[1:-1], conf), minlength=BINS)
        nonzero = np.flatnonzero(counts)
        out["calibration"] = {"edges": edges.tolist(), "bins": [
            {"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(counts[b]),
             "accuracy": float(a), "confidence": float(cf)}
            for b, a, cf in zip(nonzero, acc_b, conf_b)]}
        out["ece"] = float(np.sum(counts[nonzero] / len(y) * np.abs(acc_b - conf_b)))
    return out


def per_sample(y: np.ndarray, proba: np.ndarray, positions: np.ndarray) -> list[dict]:
    """One row per sample: its index among the split's samples, its position in the dataset,
    the true and predicted class and the predicted class's probability (its confidence)."""
    pred, conf = proba.argmax(1), proba.max(1)
    return [{"index": i, "dataset_index": int(positions[i]), "true": int(y[i]),
             "predicted": int(pred[i]), "confidence": float(conf[i])} for i in range(len(y))]


def regression(y: np.ndarray, pred: np.ndarray) -> dict:
    """MAE, RMSE and R² (scikit-learn; several outputs averaged uniformly), the predicted
    against the true values and the residuals (predicted − true), flattened."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    out = {"samples": int(len(y)), "outputs": int(y.shape[1])}
    out["mae"] = _num(mean_absolute_error(y, pred))
    out["rmse"] = _num(math.sqrt(mean_squared_error(y, pred)))
    out["r2"] = _num(r2_score(y, pred)) if len(y) >= 2 else None
    out["true"] = y.ravel().tolist()
    out["predicted"] = pred.ravel().tolist()
    out["residuals"] = (pred - y).ravel().tolist()
    return out


def _from_logits(c, loss: str, pred_node: str | None) -> bool | None:
    spec = c.graph.spec(loss)
    if spec.param_role(ParamRole.FROM_LOGITS) is not None:
        return bool(spec.role_value(c.graph.params(loss), ParamRole.FROM_LOGITS))
    if pred_node is not None and c.graph.spec(pred_node).gives == OutputKind.PROBABILITIES:
        return False
    return None


def class_scores(c, loss: str, kind: str, pred: torch.Tensor, target: torch.Tensor,
                 ignore: int | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """(true class indices N, probabilities N × C, whether they are probabilities a
    calibration diagram may judge) of a classification loss's predictions. Several positions
    per sample (N × C × …) count as samples each."""
    edges = c.graph.in_edges(loss, c.graph.spec(loss).in_role("pred"))
    logits = _from_logits(c, loss, edges[0].src if edges else None)
    if kind in ("accuracy/argmax", "accuracy/argmax_last"):
        axis = 1 if kind == "accuracy/argmax" else -1
        truth = M.truth(kind, target)
        scores = pred.movedim(axis, -1) if pred.dim() > 1 else pred.unsqueeze(-1)
        scores = scores.reshape(-1, scores.shape[-1]).double()
        truth = truth.reshape(-1).long()
        if logits is None:  # look: probabilities, log-probabilities or raw scores
            sums = scores.sum(1)
            if (scores >= 0).all() and torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
                logits = False
            elif (scores <= 0).all() and torch.allclose(scores.exp().sum(1),
                                                        torch.ones_like(sums), atol=1e-3):
                scores, logits = scores.exp(), False
            else:
                logits = True
        proba = scores.softmax(1) if logits else scores.clamp_min(0)
        proba = proba / proba.sum(1, keepdim=True).clamp_min(1e-12)
        if ignore is not None:
            keep = truth != ignore
            truth, proba = truth[keep], proba[keep]
        return truth.numpy(), proba.numpy(), True
    p = pred.reshape(-1).double()
    truth = M.truth(kind, target.reshape(pred.shape)).reshape(-1).long()
    calibrated = kind != "accuracy/sign"  # a margin's scores: ranked, not probabilities
    if kind in ("accuracy/logit", "accuracy/sign") or logits:
        p = p.sigmoid()
    p = p.clamp(0.0, 1.0)
    return truth.numpy(), torch.stack([1 - p, p], 1).numpy(), calibrated
