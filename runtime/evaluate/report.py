"""An evaluation in words, for the terminal (`layerloom evaluate` without --json's last
line): the headline figures and the tables, nothing that needs a plot."""
from __future__ import annotations


def _f(v, digits: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def text(ev) -> str:
    f = ev.figures
    where = ("the fixed noise batch" if ev.kind == "generator" else f"{ev.split} split")
    lines = [f"{ev.project}: {ev.kind}, {where} ({f.get('samples', 0):,} samples), "
             f"weights {ev.weights}"]
    lines += {"classification": _classification, "regression": _regression,
              "detection": _detection, "sequence to sequence": _seq2seq, "character model": _character,
              "generator": _generator}[ev.kind](f)
    for node, h in ev.heads.items():
        if node == f.get("loss_node"):
            continue
        lines.append(f"\nloss {node}:")
        lines += _classification(h) if "confusion_matrix" in h else _regression(h)
    return "\n".join(lines)


def _classification(f: dict) -> list[str]:
    out = [f"accuracy {_f(f['accuracy'])}   ROC AUC (one-vs-rest, macro) {_f(f['roc_auc'])}   "
           f"expected calibration error {_f(f['ece'])}"]
    names = f["classes"]
    w = max([len(n) for n in names] + [5])
    out.append("")
    out.append(f"{'class':<{w}}  precision  recall      f1  support   ROC AUC  avg prec")
    for pc, cu in zip(f["per_class"], f["curves"]):
        out.append(f"{pc['class']:<{w}}  {pc['precision']:9.3f}  {pc['recall']:6.3f}  "
                   f"{pc['f1']:6.3f}  {pc['support']:7d}  {_f(cu['roc_auc'], 3):>8}  "
                   f"{_f(cu['average_precision'], 3):>8}")
    cm = f["confusion_matrix"]
    if len(cm) <= 20:
        cw = max(4, max(len(str(v)) for row in cm for v in row) + 1)
        out += ["", "confusion matrix (rows: true class, columns: predicted)",
                " " * (w + 1) + "".join(f"{n[:cw - 1]:>{cw}}" for n in names)]
        out += [f"{names[i]:<{w}} " + "".join(f"{v:>{cw}}" for v in row)
                for i, row in enumerate(cm)]
    cal = f.get("calibration")
    if cal:
        out += ["", "reliability (top-label confidence bins): "
                + ", ".join(f"[{b['low']:.1f}, {b['high']:.1f}) n={b['count']} "
                            f"acc {b['accuracy']:.2f} conf {b['confidence']:.2f}"
                            for b in cal["bins"])]
    return out


def _regression(f: dict) -> list[str]:
    return [f"MAE {_f(f['mae'])}   RMSE {_f(f['rmse'])}   R² {_f(f['r2'])}   "
            f"({f['outputs']} output{'s' if f['outputs'] != 1 else ''} per sample)"]


SHOWN_IMAGES = 15  # the worst images listed in the terminal (all of them are in --json)


def errors_text(objects: list[dict], scored: bool = False) -> str:
    """Missed objects or false detections as 'circle (3, 4)–(20, 21) 87%, …'."""
    return ", ".join(f"{o['class']} ({o['box'][0]:.0f}, {o['box'][1]:.0f})–({o['box'][2]:.0f}, "
                     f"{o['box'][3]:.0f})" + (f" {o['score']:.0%}" if scored else "")
                     for o in objects)


def _detection(f: dict) -> list[str]:
    out = [f"mAP50 {_f(f['map50'])}   mAP@0.5:0.95 {_f(f['map'])}   (COCOeval, "
           f"detector {f['detector_node']})"]
    if "mask_map50" in f:
        out.append(f"mask mAP50 {_f(f['mask_map50'])}   mask mAP {_f(f['mask_map'])}   "
                   f"mask IoU {_f(f['mask_iou'])}")
    w = max([len(c["class"]) for c in f["per_class"]] + [5])
    out += ["", f"{'class':<{w}}  AP50   max recall (IoU 0.5)"]
    out += [f"{c['class']:<{w}}  {c['ap50']:.3f}  {c['max_recall']:.3f}" for c in f["per_class"]]
    thr = f["score_threshold"]
    out += ["", f"{f['objects']:,} objects: {f['missed']:,} missed at IoU 0.5; {f['false']:,} "
            f"false detections scoring ≥ {thr:.0%}. Worst images first:",
            "sample  dataset row  objects  detections  missed  false"]
    for r in f["images"][:SHOWN_IMAGES]:
        if not r["missed"] and not r["false"]:
            break
        out.append(f"{r['index']:>6}  {r['dataset_index']:>11}  {r['objects']:>7}  "
                   f"{r['detections']:>10}  {r['missed']:>6}  {r['false']:>5}")
        if r["missed_objects"]:
            out.append(f"        missed: {errors_text(r['missed_objects'])}")
        if r["false_detections"]:
            out.append(f"        false: {errors_text(r['false_detections'], True)}")
    return out


def _seq2seq(f: dict) -> list[str]:
    out = [f"exact match {_f(f['exact_match'])} (whole sequences, greedy decoding of "
           f"{f['decode_node']})", "", "input length  samples  exact match"]
    out += [f"{b['length']:>12}  {b['samples']:>7}  {b['exact_match']:11.3f}"
            for b in f["by_length"]]
    if f["worst"]:
        out += ["", "worst examples (most wrong tokens first):"]
        out += [f"  {w['input']!r} -> {w['decoded']!r} (true {w['true']!r}, "
                f"{w['token_errors']} wrong)" for w in f["worst"][:10]]
    return out


def _character(f: dict) -> list[str]:
    out = [f"loss per character {_f(f['loss_per_character'])} nats "
           f"({_f(f['bits_per_character'], 3)} bits), next-character accuracy "
           f"{_f(f['accuracy'])} over {f['characters']:,} characters"]
    if f["worst_characters"]:
        out.append("hardest characters: " + ", ".join(
            f"{w['character']!r} {w['loss']:.2f}" for w in f["worst_characters"]))
    return out


def _generator(f: dict) -> list[str]:
    judged = ", ".join(f"{k} {v:.3f}" for k, v in f["judged"].items()) or "no judge"
    return [f"{f['samples']} samples of shape {tuple(f['shape'])} from the fixed noise batch; "
            f"the dataset's judge: {judged}"]
