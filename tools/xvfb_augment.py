"""The data form's augmentation group and its preview grid in a real window, for the README
(issue 27 item 2): the CNN template opened, augmentation set in the form's own fields, the
Preview button pressed with a real click (xdotool), the screen grabbed.

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_augment.py OUT_DIR

Needs: apt-get install xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick xdotool.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as S  # noqa: E402


def main() -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QScrollArea

    from app.augment_form import AugmentBox
    win = S.win
    S.pump(1.0)
    win.open_template(ROOT / "templates" / "cnn.json")
    win.docks["training"].show()
    win.docks["training"].raise_()
    win.resizeDocks([win.docks["training"]], [640], Qt.Horizontal)
    for name, dock in win.docks.items():  # the panel the whole height of the window
        if name != "training":
            dock.hide()
    S.pump(1.0)
    box = win.training.findChild(AugmentBox, "augment")
    box.crop.setChecked(True)
    for name, v in (("hflip", 0.5), ("rotation", 20), ("brightness", 0.3), ("contrast", 0.3)):
        box.numbers[name].setValue(v)
    box.normalize.setCurrentIndex(1)
    scroll = win.training.findChild(QScrollArea)
    scroll.ensureWidgetVisible(box.preview_button, 0, 0)
    S.pump(0.5)
    S.click(S.glob(box.preview_button, box.preview_button.rect().center()))
    for _ in range(600):  # up to 60 s: the dataset is loaded for the preview
        if box.grid.isVisible():
            break
        S.pump(0.1)
    else:
        raise RuntimeError(f"no preview grid: '{box.preview_note.text()}'")
    S.pump(0.5)
    top = box.mapTo(scroll.widget(), box.rect().topLeft()).y()  # the group at the top
    scroll.verticalScrollBar().setValue(top)
    S.shot("augment")
    dock = win.docks["training"]  # the panel alone, cut from the screen
    x, y = S.glob(dock, dock.rect().topLeft())
    import subprocess
    subprocess.run(["convert", str(S.OUT / "augment.png"), "-crop",
                    f"{dock.width()}x{dock.height()}+{x}+{y}", "+repage",
                    str(S.OUT / "augment-panel.png")], check=True)
    S.log.append(f"augment: {win.doc.project.data.augment!r}; note "
                 f"'{box.preview_note.text()}'")
    (S.OUT / "session.log").write_text("\n".join(S.log) + "\n")
    S.app.quit()


if __name__ == "__main__":
    S.run_script(main)
