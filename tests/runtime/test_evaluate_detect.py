"""Evaluating a detector (issue 28, item 1, "detection"; runtime/evaluate/detect.py): the
per-class AP50 equals the run's epoch metrics on the same predictions, the precision-recall
curve at IoU 0.5 is COCOeval's precision array, the images' missed objects and false
detections equal a direct count on a constructed case, and `layerloom evaluate --json`
(and --html) of the fast_rcnn template."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graph.project import load
from runtime.detection.metrics import Predicted
from runtime.evaluate import evaluate
from runtime.evaluate.detect import figures
from templates import find

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["background", "circle", "square"]
SMALL = {"n_samples": 48, "proposals": 40}


def _case() -> Predicted:
    """Two images. Image 0: a circle found, a square found as a circle (a false circle and a
    missed square), a weak square elsewhere (under the score threshold). Image 1: a circle
    found twice (the second a false detection), a square where there is none, and a second
    circle nobody found."""
    gt_b = np.zeros((2, 3, 4), np.float32)
    gt_l = np.zeros((2, 3), np.int64)
    gt_b[0, :2] = [[0, 0, 10, 10], [20, 20, 30, 30]]
    gt_l[0, :2] = [1, 2]
    gt_b[1, :2] = [[5, 5, 15, 15], [40, 40, 52, 52]]
    gt_l[1, :2] = [1, 1]
    b = np.zeros((2, 4, 4), np.float32)
    s = np.zeros((2, 4), np.float32)
    lab = np.zeros((2, 4), np.int64)
    b[0, :3] = [[0, 0, 10, 10], [20, 20, 30, 31], [40, 40, 50, 50]]
    s[0, :3] = [0.9, 0.8, 0.3]
    lab[0, :3] = [1, 1, 2]
    b[1, :3] = [[5, 5, 15, 15], [6, 5, 15, 15], [30, 30, 40, 40]]
    s[1, :3] = [0.95, 0.7, 0.6]
    lab[1, :3] = [1, 1, 2]
    return Predicted("detect", gt_b, gt_l, b, s, lab)


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _direct_count(p: Predicted, threshold: float = 0.5) -> list[tuple[int, int]]:
    """(missed, false) per image: per class, detections by falling score each take the
    best-overlapping free object at IoU ≥ 0.5."""
    out = []
    for i in range(len(p.gt_labels)):
        gt = [(tuple(p.gt_boxes[i][k]), int(p.gt_labels[i][k]))
              for k in range(len(p.gt_labels[i])) if p.gt_labels[i][k] > 0]
        dets = sorted([(float(p.scores[i][k]), tuple(p.boxes[i][k]), int(p.labels[i][k]))
                       for k in range(len(p.labels[i])) if p.labels[i][k] > 0],
                      reverse=True)
        taken = set()
        false = 0
        for s, box, lab in dets:
            best, at = 0.5, None
            for k, (g, gl) in enumerate(gt):
                if gl == lab and k not in taken and _iou(box, g) >= best:
                    best, at = _iou(box, g), k
            if at is None:
                false += s >= threshold
            else:
                taken.add(at)
        out.append((len(gt) - len(taken), int(false)))
    return out


def test_missed_and_false_equal_a_direct_count():
    p = _case()
    f = figures(p, CLASSES, np.array([7, 3]))
    assert _direct_count(p) == [(1, 1), (1, 2)]
    by_index = {r["index"]: r for r in f["images"]}
    for i, (missed, false) in enumerate(_direct_count(p)):
        assert (by_index[i]["missed"], by_index[i]["false"]) == (missed, false)
    assert [r["index"] for r in f["images"]] == [1, 0]  # 3 errors before 2: worst first
    assert [r["dataset_index"] for r in f["images"]] == [3, 7]
    r0, r1 = by_index[0], by_index[1]
    assert (r0["objects"], r0["detections"]) == (2, 2)  # the 0.3 square is under 0.5
    assert (r1["objects"], r1["detections"]) == (2, 3)
    assert r0["missed_objects"] == [{"class": "square", "box": [20.0, 20.0, 30.0, 30.0]}]
    assert r0["false_detections"] == [{"class": "circle", "score": pytest.approx(0.8),
                                       "box": [20.0, 20.0, 30.0, 31.0]}]
    assert r1["missed_objects"] == [{"class": "circle", "box": [40.0, 40.0, 52.0, 52.0]}]
    assert sorted(d["class"] for d in r1["false_detections"]) == ["circle", "square"]
    assert (f["missed"], f["false"], f["objects"]) == (2, 3, 4)


def _cocoeval(p: Predicted):
    """COCOeval run here, from the case's arrays, the plain way."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    images = [{"id": i + 1} for i in range(len(p.gt_labels))]
    anns, dets = [], []
    for i in range(len(p.gt_labels)):
        for b, lab in zip(p.gt_boxes[i], p.gt_labels[i]):
            if lab > 0:
                w, h = float(b[2] - b[0]), float(b[3] - b[1])
                anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab),
                             "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h,
                             "iscrowd": 0})
        for b, s, lab in zip(p.boxes[i], p.scores[i], p.labels[i]):
            if lab > 0 and s > 0:
                dets.append({"image_id": i + 1, "category_id": int(lab), "score": float(s),
                             "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]),
                                      float(b[3] - b[1])]})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}]}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
    return ev


def test_pr_curve_at_iou_half_is_cocoevals_precision_array():
    p = _case()
    f = figures(p, CLASSES, np.arange(2))
    ev = _cocoeval(p)
    assert [c["class"] for c in f["per_class"]] == ["circle", "square"]
    for k, c in enumerate(f["per_class"]):
        want = ev.eval["precision"][0, :, k, 0, -1]  # IoU 0.5, all areas, 100 detections
        assert c["precision"] == want.tolist()
        assert c["recall"] == ev.params.recThrs.tolist()
        assert c["ap50"] == pytest.approx(float(want[want > -1].mean()))
        assert c["max_recall"] == pytest.approx(float(ev.eval["recall"][0, k, 0, -1]))
    assert f["map50"] == pytest.approx(np.mean([c["ap50"] for c in f["per_class"]]))
    assert f["per_class"][0]["max_recall"] == pytest.approx(2 / 3)  # 2 of the 3 circles


def test_no_detection_at_all_misses_every_object():
    p = _case()
    p.scores[:] = 0
    f = figures(p, CLASSES, np.arange(2))
    assert f["map50"] == 0.0 and f["false"] == 0 and f["missed"] == 4
    assert [c["ap50"] for c in f["per_class"]] == [0.0, 0.0]


def _project(tmp_path: Path) -> Path:
    p = load(find("fast_rcnn").path)
    p.data.options.update(SMALL)
    p.graph.set_param("proposals", "count", SMALL["proposals"])
    out = tmp_path / "fast_rcnn.json"
    p.save(out)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from runtime.train import Trainer
    folder = tmp_path_factory.mktemp("det_eval")
    path = _project(folder)
    p = load(path)
    t = Trainer(p, max_steps=6)
    events = list(t.run())
    assert events[-1].kind == "finished", events[-1]
    t.save_checkpoint(folder / "ckpt")
    return path, folder / "ckpt", events[-1].metrics


@pytest.mark.slow
def test_per_class_ap50_equals_the_run_metrics(trained):
    from runtime.detection.metrics import detection_metrics
    from runtime.evaluate.source import BATCH, open_source
    path, ckpt, final = trained
    ev = evaluate(load(path), path.parent, ckpt)
    assert ev.kind == "detection"
    f = ev.figures
    src = open_source(load(path), path.parent, ckpt)
    run = detection_metrics(src.compiled, src.tensors, src.needed, BATCH, src.classes)
    assert f["map50"] == run["map50"] and f["map"] == run["map"]
    assert {f"ap50.{c['class']}": c["ap50"] for c in f["per_class"]} == \
        {k: v for k, v in run.items() if k.startswith("ap50.")}
    # the figures the run itself reported at its end, with the same weights
    assert f["map50"] == pytest.approx(final["val_map50"], abs=1e-6)
    for c in f["per_class"]:
        assert c["ap50"] == pytest.approx(final[f"val_ap50.{c['class']}"], abs=1e-6)
    assert len(f["images"]) == f["samples"] == src.n
    assert sorted(r["dataset_index"] for r in f["images"]) == sorted(src.indices.tolist())
    totals = [r["missed"] + r["false"] for r in f["images"]]
    assert totals == sorted(totals, reverse=True)


@pytest.mark.slow
def test_cli_evaluate_json_and_html_of_fast_rcnn(tmp_path):
    path = _project(tmp_path)
    cli = [sys.executable, "-m", "app.cli"]
    out = tmp_path / "out"
    r = subprocess.run([*cli, "train", str(path), "--max-steps", "3", "--out", str(out),
                        "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    weights = next(out.glob("*.safetensors"))
    html = tmp_path / "eval.html"
    r = subprocess.run([*cli, "evaluate", str(path), "--weights", str(weights), "--json",
                        "--html", str(html)], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert d["kind"] == "detection"
    assert 0 <= d["map"] <= d["map50"] <= 1
    assert {c["class"] for c in d["per_class"]} <= {"circle", "square", "triangle"}
    for c in d["per_class"]:
        assert len(c["precision"]) == len(c["recall"]) == 101
    assert len(d["images"]) == d["samples"] > 0
    assert set(d["images"][0]) >= {"index", "dataset_index", "missed", "false", "objects",
                                   "detections"}
    assert "mAP50" in r.stderr and "missed" in r.stderr  # the text report
    text = html.read_text(encoding="utf-8")
    assert 'alt="precision-recall curves per class at IoU 0.5" src="data:image/svg+xml' in text
    assert "Images by their errors" in text
    assert text.count("<tr>") >= 2 + len(d["per_class"]) + min(len(d["images"]), 200)
