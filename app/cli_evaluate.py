"""`layerloom evaluate`: a trained model judged on its held-out split (issue 28)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

HELP = "evaluate trained weights on the project's held-out split (or the training split)"

EPILOG = """For a classifier: accuracy, the confusion matrix (rows true class, columns predicted),
per-class precision, recall, F1 and support, ROC AUC (one-vs-rest, macro), ROC and PR curves
per class, a reliability diagram and the expected calibration error. For a regressor: MAE,
RMSE, R², predicted against true and residuals. A detector: mAP50, mAP@0.5:0.95, each class's
AP50 and precision-recall curve at IoU 0.5 (pycocotools' COCOeval, as the run's epochs
compute them) and the images ordered by their errors (objects missed at IoU 0.5, detections
scoring >= 0.5 matching no object). A sequence-to-sequence model: exact match by
input length and the worst examples. A character model: the loss of each character. A GAN's
generator: its samples of a fixed noise batch. All figures from scikit-learn, on the split
training makes (the project's seed and val_split). --json ends with one JSON line holding
every number; --html writes one self-contained HTML file (plots as embedded images)."""


def add_parser(sub) -> None:
    import argparse
    e = sub.add_parser("evaluate", help=HELP, description=HELP + ".", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("file", help="the project file")
    e.add_argument("--weights", required=True, metavar="W",
                   help="trained weights: a .safetensors file, a checkpoint or a run folder")
    e.add_argument("--split", choices=("val", "train"), default="val",
                   help="the held-out split (val, the default) or the training split")
    e.add_argument("--json", action="store_true", help="end with one JSON line of every figure")
    e.add_argument("--html", metavar="OUT.html", help="write the evaluation as one HTML file")


def _finite(v):
    """JSON has no NaN: null instead."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def cmd_evaluate(args) -> int:
    from .cli import EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, _load

    def fail(message: str, code: int = EXIT_UNREADABLE) -> int:
        print(f"error: {message}", file=sys.stderr)
        return code

    html = Path(args.html) if args.html else None
    if html is not None:  # refused before any work
        if html.suffix.lower() not in (".html", ".htm"):
            return fail(f"--html {html}: an HTML file ends in .html")
        if html.exists() and not html.is_file():
            return fail(f"--html {html}: exists and is not a file")
        if not html.parent.is_dir():
            return fail(f"--html {html}: no folder {html.parent}")
    if not Path(args.weights).exists():
        return fail(f"--weights {args.weights}: no such file or folder")
    project = _load(args.file)
    from runtime.evaluate import EvaluateError, evaluate
    try:
        ev = evaluate(project, Path(args.file).resolve().parent, args.weights, args.split)
    except EvaluateError as e:
        return fail(str(e))
    except (RuntimeError, ValueError) as e:  # torch's own complaint: one line, no traceback
        return fail(f"{args.file}: evaluation failed: {(str(e).splitlines() or [''])[0]}",
                    EXIT_PROBLEMS)
    from runtime.evaluate.report import text
    out = sys.stderr if args.json else sys.stdout
    print(text(ev), file=out)
    if html is not None:
        from runtime.evaluate.html import write
        try:
            write(ev, html)
        except OSError as e:
            return fail(f"{e.filename or html}: {e.strerror or e}", EXIT_PROBLEMS)
        print(f"wrote {html}", file=out)
    if args.json:
        print(json.dumps(_finite(ev.to_dict())))
    return EXIT_OK
