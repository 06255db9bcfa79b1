"""A sweep in a real window, for the README (issue 29 item 4): the MLP template saved to a
folder and opened, the learning rate and fc1's width marked searchable with their "search"
toggles (real clicks, xdotool), Train > Sweep… opened, its Start clicked; the screen grabbed
while trials run (the trials table and the parallel coordinates filling in) and once it ends.

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_sweep.py OUT_DIR

Writes OUT_DIR/sweep-running.png, sweep.png (the sweep window, cut from the screen) and
session.log (what the table and the plots held at each shot).
Needs: apt-get install xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick xdotool.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as S  # noqa: E402


def toggle(field):
    from PySide6.QtWidgets import QToolButton
    return field.parent().findChild(QToolButton, "search_toggle")


def crop(view, name: str) -> None:
    S.shot(name + "-screen")
    x, y = S.glob(view, view.rect().topLeft())
    subprocess.run(["convert", str(S.OUT / f"{name}-screen.png"), "-crop",
                    f"{view.width()}x{view.height()}+{x}+{y}", "+repage",
                    str(S.OUT / f"{name}.png")], check=True)
    (S.OUT / f"{name}-screen.png").unlink()
    t = view.table
    rows = [" | ".join(t.item(i, j).text() if t.item(i, j) else ""
                       for j in range(t.columnCount())) for i in range(t.rowCount())]
    S.log.append(f"{name}: status '{view.status.text()}'; {t.rowCount()} rows; "
                 f"{len(view.plots.parallel_lines)} parallel lines; importance "
                 f"{view.plots.importance_values}\n  " + "\n  ".join(rows))


def main() -> None:
    from graph.project import load
    win = S.win
    S.pump(1.0)
    folder = Path(tempfile.mkdtemp())
    load(ROOT / "templates" / "mlp.json").save(folder / "mlp.json")
    win.open_path(folder / "mlp.json", ask=False)
    win.docks["training"].show()
    win.docks["training"].raise_()
    S.pump(1.0)
    lr = toggle(win.training.fields["lr"])
    S.scroll_into_view(lr)
    S.click(S.glob(lr, lr.rect().center()))
    S.click(S.node_header("fc1"))
    S.pump(0.5)
    width = toggle(win.inspector._fields["out_features"])
    S.click(S.glob(width, width.rect().center()))
    S.log.append("search: " + "; ".join(e.describe() for e in win.doc.project.search))
    assert len(win.doc.project.search) == 2, win.doc.project.search
    win.a_sweep.trigger()
    view = win.sweep_window
    view.move(20, 20)
    view.resize(1500, 900)
    S.pump(1.0)
    view.trials.setValue(10)
    view.epochs.setValue(4)
    S.click(S.glob(view.start_btn, view.start_btn.rect().center()))
    for _ in range(3000):  # up to 5 min: a few trials ended, the next one running
        if view.table.rowCount() >= 7 or not view.stop_btn.isEnabled():
            break
        S.pump(0.1)
    S.pump(1.0)
    crop(view, "sweep-running")
    for _ in range(6000):
        if not view.stop_btn.isEnabled():
            break
        S.pump(0.1)
    view.plots.setCurrentIndex(0)
    S.pump(1.0)
    crop(view, "sweep")
    (S.OUT / "session.log").write_text("\n".join(S.log) + "\n")
    S.app.quit()


if __name__ == "__main__":
    S.run_script(main, hang_after=900)
