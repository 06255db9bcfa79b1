"""Opening the evaluation of the fast_rcnn template (issue 28, item 1, "detection"):
runtime.evaluate.evaluate on its 240 validation images (compile, load the weights, load the
shapes and their cached proposals, split, run the detector, COCOeval, the per-class curves
and the images by their errors), its parts, the HTML page, and the app's detection page laid
out from it (offscreen Qt). Reference, in the same process on the same tensors: what the run
already pays at each epoch's end for its val_map50 (runtime.detection.metrics.
detection_metrics: the detector's predictions and COCOeval's mAP). One warm process (torch,
pycocotools, Qt imported once, as in the app), repeated, medians; the first (cold) call
apart. The proposals must be cached already (a training run of the template caches them;
else selective search runs first, minutes).

Run:  python tests/benchmarks/bench_evaluate_detect.py --weights W.safetensors [--runs 5]
      (W: e.g. `layerloom train templates/fast_rcnn.json --max-steps 150 --out DIR`)
Last line of stdout: a JSON object with the figures (seconds).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from graph.project import load  # noqa: E402


def _timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from runtime.detection.evaluate import coco_eval
    from runtime.detection.metrics import detection_metrics, predict_detections
    from runtime.evaluate import evaluate
    from runtime.evaluate.detect import figures
    from runtime.evaluate.html import page
    from runtime.evaluate.source import BATCH, open_source
    p = load(ROOT / "templates" / "fast_rcnn.json")
    base = ROOT / "templates"
    t = time.perf_counter()
    ev = evaluate(p, base, args.weights)
    cold = time.perf_counter() - t
    whole, ev = _timed(lambda: evaluate(p, base, args.weights), args.runs)
    opened, src = _timed(lambda: open_source(p, base, args.weights), args.runs)
    pred_t, preds = _timed(lambda: predict_detections(src.compiled, src.tensors, src.needed,
                                                      BATCH), args.runs)
    pr = preds[0]
    coco_t, _ = _timed(lambda: coco_eval(*pr.coco()[0], src.classes), args.runs)
    fig_t, _ = _timed(lambda: figures(pr, src.classes, src.indices.numpy()), args.runs)
    ref_t, ref = _timed(lambda: detection_metrics(src.compiled, src.tensors, src.needed, BATCH,
                                                  src.classes), args.runs)
    html_t, _ = _timed(lambda: page(ev), args.runs)
    from PySide6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication([])
    from app.evaluate_view import EvaluateView
    view = EvaluateView()
    view.resize(1500, 900)
    view.show()

    def lay_out():
        view.show_evaluation(ev)
        app.processEvents()
    page_t, _ = _timed(lay_out, args.runs)
    f = ev.figures
    assert f["map50"] == ref["map50"], (f["map50"], ref["map50"])
    res = {"template": "fast_rcnn", "images": f["samples"], "map50": round(f["map50"], 4),
           "first_call_s": round(cold, 3), "evaluate_median_s": round(whole, 3),
           "open_source_s": round(opened, 3), "predict_s": round(pred_t, 3),
           "cocoeval_s": round(coco_t, 3), "figures_s": round(fig_t, 3),
           "epoch_map_reference_s": round(ref_t, 3),
           "ratio_to_reference": round(whole / ref_t, 2), "html_s": round(html_t, 3),
           "app_page_s": round(page_t, 3), "runs": args.runs}
    print(f"fast_rcnn evaluation of {f['samples']} images: first {cold:.2f} s, then median "
          f"{whole:.2f} s (open {opened:.2f}, predict {pred_t:.2f}, COCOeval {coco_t:.2f}, "
          f"figures {fig_t:.2f}); the epochs' mAP on the same tensors {ref_t:.2f} s "
          f"(x{whole / ref_t:.2f}); HTML {html_t:.3f} s; the app's page {page_t:.3f} s")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
