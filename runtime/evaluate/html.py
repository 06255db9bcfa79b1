"""An evaluation as one self-contained HTML file (issue 28, item 3): its plots as embedded
SVG images (data: URIs, see svg.py for why SVG) and its tables, written atomically."""
from __future__ import annotations

import os
from html import escape

from graph.fileio import atomic_write_text

from . import svg

CSS = ("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;"
       "margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
       "th{background:#f0f0f0}td.l,th.l{text-align:left}img{margin:6px;vertical-align:top}"
       ".figs{display:flex;flex-wrap:wrap}")


def _img(s: str, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="{svg.data_uri(s)}">'


def _table(headers: list[str], rows: list[list], left: int = 1) -> str:
    def cell(tag, i, v):
        cls = ' class="l"' if i < left else ""
        if isinstance(v, float):
            v = f"{v:.4f}"
        return f"<{tag}{cls}>{escape('n/a' if v is None else str(v))}</{tag}>"
    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(ev) -> str:
    f = ev.figures
    parts = [f"<h1>{escape(ev.project)}: evaluation</h1>",
             f"<p>{escape(ev.kind)}, {escape(ev.split)} split, {f.get('samples', 0):,} samples; "
             f"weights <code>{escape(ev.weights)}</code></p>"]
    parts += {"classification": _classification, "regression": _regression,
              "detection": _detection, "sequence to sequence": _seq2seq, "character model": _character,
              "generator": _generator}[ev.kind](f)
    for node, h in ev.heads.items():
        if node != f.get("loss_node"):
            parts.append(f"<h2>Loss {escape(node)}</h2>")
            parts += _classification(h) if "confusion_matrix" in h else _regression(h)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(ev.project)}: evaluation</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


def write(ev, path: str | os.PathLike) -> None:
    atomic_write_text(path, page(ev))


def _classification(f: dict) -> list[str]:
    names = f["classes"]
    out = [_table(["accuracy", "ROC AUC (one-vs-rest, macro)", "expected calibration error"],
                  [[f["accuracy"], f["roc_auc"], f["ece"]]], left=0)]
    out.append(_table(["class", "precision", "recall", "F1", "support", "ROC AUC",
                       "average precision"],
                      [[p["class"], p["precision"], p["recall"], p["f1"], p["support"],
                        c["roc_auc"], c["average_precision"]]
                       for p, c in zip(f["per_class"], f["curves"])]))
    figs = [_img(svg.heatmap("Confusion matrix", f["confusion_matrix"], names),
                 "confusion matrix")]
    drawn = [c for c in f["curves"] if c["roc"]]
    figs.append(_img(svg.curves("ROC (one-vs-rest)", "false positive rate", "true positive rate",
                                [(f"{c['class']} {c['roc_auc']:.3f}", c["roc"]["fpr"],
                                  c["roc"]["tpr"]) for c in drawn], diagonal=True), "ROC curves"))
    figs.append(_img(svg.curves("Precision-recall", "recall", "precision",
                                [(f"{c['class']} {c['average_precision']:.3f}",
                                  c["pr"]["recall"], c["pr"]["precision"]) for c in drawn]),
                     "precision-recall curves"))
    cal = f.get("calibration")
    if cal:
        b = cal["bins"]
        figs.append(_img(svg.bars(f"Reliability (ECE {f['ece']:.3f})", "confidence", "accuracy",
                                  [x["low"] for x in b], [x["high"] for x in b],
                                  [x["accuracy"] for x in b], diagonal=True, y_max=1.0),
                         "reliability diagram"))
    out.append(f'<div class="figs">{"".join(figs)}</div>')
    cm = f["confusion_matrix"]
    out.append("<h2>Confusion matrix</h2><p>Rows: true class; columns: predicted.</p>")
    out.append(_table(["true \\ predicted", *names], [[names[i], *row]
                                                       for i, row in enumerate(cm)]))
    if cal:
        out.append("<h2>Calibration bins</h2>")
        out.append(_table(["bin", "samples", "accuracy", "mean confidence"],
                          [[f"[{x['low']:.1f}, {x['high']:.1f})", x["count"], x["accuracy"],
                            x["confidence"]] for x in cal["bins"]]))
    return out


def _regression(f: dict) -> list[str]:
    return [_table(["MAE", "RMSE", "R²", "samples"],
                   [[f["mae"], f["rmse"], f["r2"], f["samples"]]], left=0),
            '<div class="figs">'
            + _img(svg.scatter("Predicted against true", "true", "predicted", f["true"],
                               f["predicted"], diagonal=True), "predicted against true")
            + _img(svg.scatter("Residuals", "true", "predicted − true", f["true"],
                               f["residuals"], zero_line=True), "residuals") + "</div>"]


HTML_IMAGES = 200  # the worst images tabled in the page (every one is in --json)


def _detection(f: dict) -> list[str]:
    from .report import errors_text
    heads, row = ["mAP50", "mAP@0.5:0.95", "objects", "missed", "false detections"], \
        [f["map50"], f["map"], f["objects"], f["missed"], f["false"]]
    if "mask_map50" in f:
        heads += ["mask mAP50", "mask mAP", "mask IoU"]
        row += [f["mask_map50"], f["mask_map"], f["mask_iou"]]
    out = [_table(heads, [row], left=0)]
    pc = f["per_class"]
    out.append(_img(svg.curves("Precision-recall at IoU 0.5", "recall", "precision",
                               [(f"{c['class']} AP50 {c['ap50']:.3f}", c["recall"],
                                 c["precision"]) for c in pc if c["recall"]],
                               low_left=True),
                    "precision-recall curves per class at IoU 0.5"))
    out.append(_table(["class", "AP50", "max recall (IoU 0.5)"],
                      [[c["class"], c["ap50"], c["max_recall"]] for c in pc]))
    out.append(f"<h2>Images by their errors</h2><p>Worst first: objects no detection matched "
               f"at IoU 0.5 (missed) and detections scoring ≥ {f['score_threshold']:.0%} that "
               f"matched no object (false), from COCOeval's matching."
               + (f" The first {HTML_IMAGES} of {len(f['images']):,}."
                  if len(f["images"]) > HTML_IMAGES else "") + "</p>")
    out.append(_table(["sample", "dataset row", "objects", "detections", "missed", "false",
                       "missed objects", "false detections"],
                      [[r["index"], r["dataset_index"], r["objects"], r["detections"],
                        r["missed"], r["false"], errors_text(r["missed_objects"]),
                        errors_text(r["false_detections"], True)]
                       for r in f["images"][:HTML_IMAGES]], left=0))
    return out


def _seq2seq(f: dict) -> list[str]:
    b = f["by_length"]
    out = [_table(["exact match", "samples", "decode node"],
                  [[f["exact_match"], f["samples"], f["decode_node"]]], left=0)]
    if b:
        out.append(_img(svg.bars("Exact match by input length", "input length", "exact match",
                                 [x["length"] - 0.5 for x in b], [x["length"] + 0.5 for x in b],
                                 [x["exact_match"] for x in b], y_max=1.0),
                        "exact match by input length"))
    out.append(_table(["input length", "samples", "exact match"],
                      [[x["length"], x["samples"], x["exact_match"]] for x in b], left=0))
    out.append("<h2>Worst examples</h2>")
    out.append(_table(["input", "decoded", "true", "wrong tokens"],
                      [[w["input"], w["decoded"], w["true"], w["token_errors"]]
                       for w in f["worst"]], left=3))
    return out


def _character(f: dict) -> list[str]:
    out = [_table(["loss per character (nats)", "bits per character", "accuracy", "characters"],
                  [[f["loss_per_character"], f["bits_per_character"], f["accuracy"],
                    f["characters"]]], left=0),
           "<h2>Validation text, coloured by each character's loss</h2>"]
    top = max([l for row in f["text"] for _, l in row] + [1e-9])
    for row in f["text"]:
        spans = "".join(
            f'<span title="{l:.3f}" style="background:rgba(214,39,40,{min(l / top, 1):.2f})">'
            f"{escape(ch)}</span>" for ch, l in row)
        out.append(f"<pre>{spans}</pre>")
    out.append(_table(["character", "count", "mean loss"],
                      [[repr(w["character"]), w["count"], w["loss"]]
                       for w in f["worst_characters"]]))
    return out


def _generator(f: dict) -> list[str]:
    out = [_table(list(f["judged"]) or ["judge"],
                  [list(f["judged"].values()) or ["the dataset has none"]], left=0)]
    shape, gen = f["shape"], f["generated"]
    if len(shape) == 1 and shape[0] == 2:
        out.append(_img(svg.scatter("Generated samples", "x₁", "x₂", [p[0] for p in gen],
                                    [p[1] for p in gen]), "generated samples"))
    elif len(shape) in (2, 3):
        out.append(_img(svg.image_grid("Generated samples", gen), "generated samples"))
    return out + _epochs(f.get("epochs") or [], shape)


EPOCH_GRIDS = 6  # the run's epochs with samples drawn in the page, spread over the run


def _epochs(epochs: list[dict], shape: list) -> list[str]:
    """The run's samples per epoch: each epoch's judged figures, and a few epochs' samples."""
    if not epochs:
        return []
    names = sorted({k for e in epochs for k in e.get("judged", {})})
    out = ["<h2>Samples per epoch of the run</h2>",
           _table(["epoch", "step", *names],
                  [[e["epoch"], e["step"], *[e.get("judged", {}).get(k, "") for k in names]]
                   for e in epochs], left=0)]
    kept = [e for e in epochs if e.get("generated")]
    if len(kept) > EPOCH_GRIDS:  # the first, the last and evenly between
        kept = [kept[round(i * (len(kept) - 1) / (EPOCH_GRIDS - 1))] for i in range(EPOCH_GRIDS)]
    for e in kept:
        title, gen = f"Epoch {e['epoch']}", e["generated"]
        if len(shape) == 1 and shape[0] == 2:
            out.append(_img(svg.scatter(title, "x₁", "x₂", [p[0] for p in gen],
                                        [p[1] for p in gen]), title.lower()))
        elif len(shape) in (2, 3):
            out.append(_img(svg.image_grid(title, gen), title.lower()))
    return out
