"""Several processes from the app, for the README (issue 27 item 3): the MLP template saved
to a folder and opened, the training panel's "processes" set to 2 with the keyboard (real X
events, xdotool), Run clicked; the screen grabbed while the 2-process run trains (rank 0's
live plots) and once it has ended.

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_processes.py OUT_DIR

Writes OUT_DIR/processes-running.png, processes.png and session.log (what the panel and the
plots held at each shot). Needs: apt-get install xvfb libxcb-icccm4 libxcb-keysyms1
imagemagick xdotool.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as S  # noqa: E402


def note(name: str) -> None:
    win = S.win
    t = win.training
    S.log.append(f"{name}: processes {win.doc.project.training.processes}; status "
                 f"'{t.status.text()}'; pause enabled {t.pause_btn.isEnabled()} "
                 f"('{t.pause_btn.toolTip()}'); live step {win.live.step}, "
                 f"{len(win.live.loss)} loss points; run {win.trainer.run_dir}")


def main() -> None:
    from graph.project import load
    win = S.win
    S.pump(1.0)
    folder = Path(tempfile.mkdtemp())
    p = load(ROOT / "templates" / "mlp.json")
    p.training.epochs = 150
    p.save(folder / "mlp.json")
    win.open_path(folder / "mlp.json", ask=False)
    win.docks["training"].show()
    win.docks["training"].raise_()
    S.pump(1.0)
    box = win.training.fields["processes"]
    S.scroll_into_view(box)
    S.click(S.glob(box.lineEdit(), box.lineEdit().rect().center()), repeat=2)
    S.key("ctrl+a")
    S.type_text("2")
    S.key("Return")
    S.pump(0.5)
    assert win.doc.project.training.processes == 2, win.doc.project.training.processes
    S.click(S.glob(win.training.run_btn, win.training.run_btn.rect().center()))
    for _ in range(1200):  # up to 2 min: rank 0's steps arriving
        if win.live.step >= 900 or win.trainer.state == "idle" and win.live.step:
            break
        S.pump(0.1)
    S.scroll_into_view(box)  # the setting in view beside the device picker
    note("running")
    S.shot("processes-running")
    for _ in range(3000):
        if win.trainer.state == "idle":
            break
        S.pump(0.1)
    S.pump(1.0)
    S.scroll_into_view(box)
    note("ended")
    S.shot("processes")
    (S.OUT / "session.log").write_text("\n".join(S.log) + "\n")
    S.app.quit()


if __name__ == "__main__":
    S.run_script(main, hang_after=600)
