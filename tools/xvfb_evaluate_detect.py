"""Train > Evaluate of a detector as a user meets it (issue 28, item 1), in a real window
driven by xdotool: the fast_rcnn template (a copy) with a run whose weights were trained
with the CLI beforehand (`layerloom train fast_rcnn.json --max-steps 150 --out DIR`),
Train > Evaluate clicked in the menu bar, the worst image's row clicked (the detection page:
per-class PR curves at IoU 0.5, AP table, images by their errors), then double-clicked: the
Try panel shows that validation image. Screenshots d01-evaluate-detector.png (the
evaluation window alone: docs/screenshot-evaluate-detector.png) and d02-try-panel.png.

  LAYERLOOM_CACHE=~/.cache/layerloom xvfb-run -a -s '-screen 0 1600x1000x24' \\
      .venv/bin/python tools/xvfb_evaluate_detect.py OUT_DIR WEIGHTS.safetensors

(the proposal cache of the training run, else selective search runs again: minutes).
Needs what tools/xvfb_session.py needs (xvfb, imagemagick, xdotool).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as s  # noqa: E402

WEIGHTS = Path(sys.argv[2]) if len(sys.argv) > 2 else None


def wait(cond, seconds: float, what: str) -> None:
    end = time.time() + seconds
    while not cond():
        if time.time() > end:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        s.pump(0.05)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    proj = tmp / "fast_rcnn.json"
    shutil.copy(ROOT / "templates" / "fast_rcnn.json", proj)
    best = tmp / "runs" / "fast_rcnn" / "run-1" / "checkpoints" / "best"
    best.mkdir(parents=True)
    shutil.copy(WEIGHTS, best / "model.safetensors")
    (best.parent.parent / "run.json").write_text(json.dumps({"status": "finished",
                                                             "steps": 150}))
    win = s.win
    assert win.open_path(proj, ask=False)
    s.pump(1.5)
    s.activate()
    bar = win.menuBar()
    train_menu = next(a for a in bar.actions() if a.text() == "&Train")
    s.click(s.glob(bar, bar.actionGeometry(train_menu).center()))
    s.pump(0.5)
    menu = train_menu.menu()
    t0 = time.perf_counter()
    s.click(s.glob(menu, menu.actionGeometry(win.a_evaluate).center()))
    wait(lambda: getattr(win, "evaluate_window", None) is not None, 10, "the window")
    view = win.evaluate_window
    view.move(20, 20)
    view.resize(1500, 900)
    wait(lambda: view.ev is not None or view.status.text().startswith("Cannot"), 300,
         "the evaluation")
    took = time.perf_counter() - t0
    s.pump(1.0)
    ev = view.ev
    assert ev is not None and ev.kind == "detection", view.status.text()
    f = ev.figures
    s.log.append(f"evaluated {ev.weights} in {took:.1f} s (menu click to page shown): "
                 f"{view.status.text()}; per class "
                 f"{[(c['class'], round(c['ap50'], 4)) for c in f['per_class']]}")
    page = view.detection
    table = page.images_table
    worst = f["images"][0]
    item = table.item(0, 0)
    pos = table.visualItemRect(item).center()
    s.click(s.glob(table.viewport(), pos))
    s.pump(1.0)
    s.log.append(f"selected row 0: sample {worst['index']} (dataset row "
                 f"{worst['dataset_index']}), missed {worst['missed']}, false {worst['false']}")
    subprocess.run(["import", "-window", str(int(view.winId())),
                    str(s.OUT / "d01-evaluate-detector.png")], check=False)
    s.click(s.glob(table.viewport(), pos), repeat=2)
    panel = win.trypanel
    wait(lambda: not panel.job.busy and panel.detections is not None, 300, "the Try panel")
    s.pump(1.0)
    d = panel.detections
    s.log.append(f"Try panel: sample {panel.index.value()}, detections.index {d.index}, "
                 f"{len(d.true_boxes)} true boxes, {int((d.scores >= 0.5).sum())} scoring "
                 f">= 0.5")
    view.showMinimized()
    win.raise_()
    win.activateWindow()
    s.pump(1.0)
    s.shot("d02-try-panel")
    (s.OUT / "session.log").write_text("\n".join(s.log) + "\n")
    view.close()
    win.doc.undo.setClean()
    win.close()


if __name__ == "__main__":
    s.run_script(main, hang_after=900)
