"""Inside the network in a real window, for the README (issue 28 item 2): the CNN template
opened, a trained run's weights loaded in the Try panel (Load pressed with a real click,
xdotool), Grad-CAM over a digit, and a canvas wire hovered for its tensor.

  layerloom train templates/cnn.json --out RUN
  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_inside.py OUT_DIR RUN

Writes OUT_DIR/inside.png (the screen), inside-panel.png (the Try panel cut out),
inside-wire.png (a wire's tooltip) and session.log (what the panel said).
Needs: apt-get install xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick xdotool.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as S  # noqa: E402

SAMPLE = 7  # a validation digit


def main() -> None:
    from PySide6.QtCore import QPoint, Qt
    run = Path(sys.argv[2])
    win = S.win
    S.pump(1.0)
    win.open_template(ROOT / "templates" / "cnn.json")
    dock = win.docks["try"]
    dock.show()
    dock.raise_()
    win.resizeDocks([dock], [560], Qt.Vertical)
    S.pump(1.0)  # the panel lists the project's runs (none) when it shows
    panel = win.trypanel
    panel._project = win.doc.project
    panel.weights.clear()
    panel.weights.addItem(f"{run.name} (layerloom train --out)", str(run))
    panel.load_btn.setEnabled(True)
    S.pump(0.5)
    S.click(S.glob(panel.load_btn, panel.load_btn.rect().center()))
    for _ in range(600):  # up to 60 s
        if panel.tryout is not None and not panel.job.busy:
            break
        S.pump(0.1)
    else:
        raise RuntimeError(f"not loaded: '{panel.status.text()}'")
    panel.index.setValue(SAMPLE)
    panel.inside.overlay.setCurrentText("Grad-CAM")
    S.pump(0.5)
    box = panel.inside
    s = panel.tryout.sample(SAMPLE)
    S.log.append(f"status: {panel.status.text()}")
    S.log.append(f"sample {SAMPLE}: true {int(s.targets['label'])}, text: "
                 + panel.text.toPlainText().replace("\n", " | "))
    S.log.append(f"inside: {box.info.text()}")
    S.log.append(f"grad-cam layer {box.found.layer}, class {box.found.cls}, cam at the "
                 f"convolution:\n{box.found.cam.numpy().round(2)}")
    rows = [" ".join(box.stats.item(r, c).text() for c in range(6))
            for r in range(box.stats.rowCount())]
    S.log.append("stats:\n  " + "\n  ".join(rows))
    S.shot("inside")
    x, y = S.glob(dock, dock.rect().topLeft())
    subprocess.run(["convert", str(S.OUT / "inside.png"), "-crop",
                    f"{dock.width()}x{dock.height()}+{x}+{y}", "+repage",
                    str(S.OUT / "inside-panel.png")], check=True)
    # hover a wire on the canvas: its tooltip shows the feature maps
    edge = next(i for e, i in win.scene.edges.items() if (e.src, e.dst) == ("relu1", "pool1"))
    win.view.centerOn(edge)
    S.pump(0.3)
    p = win.view.mapFromScene(edge.path().pointAtPercent(0.5))
    S.xdo("mousemove", *S.glob(win.view.viewport(), p + QPoint(3, 0)))
    S.xdo("mousemove", *S.glob(win.view.viewport(), p))
    S.pump(2.0)  # the tooltip's delay
    from PySide6.QtWidgets import QToolTip
    S.log.append(f"tooltip visible {QToolTip.isVisible()}: {QToolTip.text()[:80]}")
    S.shot("inside-wire")
    (S.OUT / "session.log").write_text("\n".join(S.log) + "\n")
    S.app.quit()


if __name__ == "__main__":
    S.run_script(main)
