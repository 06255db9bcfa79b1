"""Train > Evaluate as a user meets it (issue 28), in a real window driven by xdotool: the
cnn template (a copy, 3 epochs) trained with F5, Train > Evaluate clicked in the menu bar,
an off-diagonal cell of the confusion matrix clicked (the most confused pair), its samples
listed; then the ROC/PR tab. Screenshots e01-confusion.png, e02-curves.png and the
evaluation window alone as e03-evaluate-window.png (docs/screenshot-evaluate.png).

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_evaluate.py OUT_DIR

Needs what tools/xvfb_session.py needs (xvfb, imagemagick, xdotool).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as s  # noqa: E402


def wait(cond, seconds: float, what: str) -> None:
    end = time.time() + seconds
    while not cond():
        if time.time() > end:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        s.pump(0.2)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    raw = json.loads((ROOT / "templates" / "cnn.json").read_text())
    raw["training"]["epochs"] = 3
    proj = tmp / "cnn.json"
    proj.write_text(json.dumps(raw, indent=1))
    win = s.win
    assert win.open_path(proj, ask=False)
    s.pump(1.5)
    s.activate()
    s.key("F5")
    wait(lambda: win.trainer.state != "idle", 30, "training to start")
    wait(lambda: win.trainer.state == "idle", 400, "training to end")
    s.pump(1.0)
    s.log.append(f"trained: {win.statusBar().currentMessage()}")
    bar = win.menuBar()
    train_menu = next(a for a in bar.actions() if a.text() == "&Train")
    s.click(s.glob(bar, bar.actionGeometry(train_menu).center()))
    s.pump(0.5)
    menu = train_menu.menu()
    s.click(s.glob(menu, menu.actionGeometry(win.a_evaluate).center()))
    wait(lambda: getattr(win, "evaluate_window", None) is not None, 10, "the window")
    view = win.evaluate_window
    view.move(20, 20)
    wait(lambda: view.ev is not None or view.status.text().startswith("Cannot"), 120,
         "the evaluation")
    s.pump(1.0)
    ev = view.ev
    assert ev is not None, view.status.text()
    cm = ev.figures["confusion_matrix"]
    C = len(cm)
    off = max(((cm[i][j], i, j) for i in range(C) for j in range(C) if i != j))
    _, t, p = off
    s.log.append(f"evaluated {ev.weights}: {view.status.text()}; most confused: true "
                 f"{t} predicted {p} ({cm[t][p]} samples); classes {ev.figures['classes']}")
    plot = view.confusion
    pos = plot.mapFromScene(plot.getViewBox().mapViewToScene(plot.cell_center(t, p)))
    s.click(s.glob(plot.viewport(), pos))
    s.pump(1.0)
    rows = view.cell_samples
    assert rows == ev.cell(t, p), "the listed samples are not the cell's"
    s.log.append(f"clicked cell ({t}, {p}): '{view.cell_label.text()}', "
                 f"{view.samples_table.rowCount()} rows; first "
                 f"{[(r['index'], r['true'], r['predicted']) for r in rows[:3]]}")
    s.shot("e01-confusion")
    subprocess.run(["import", "-window", str(int(view.winId())),
                    str(s.OUT / "e03-evaluate-window.png")], check=False)
    view.tabs.setCurrentIndex(2)
    s.pump(1.0)
    s.shot("e02-curves")
    (s.OUT / "session.log").write_text("\n".join(s.log) + "\n")
    view.close()
    win.doc.undo.setClean()
    win.close()


if __name__ == "__main__":
    s.run_script(main, hang_after=600)
