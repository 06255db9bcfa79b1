"""The augmentation preview of an image-folder project in a real window, for the README
(issue 27 item 2): a small folder of coloured shapes (one subfolder per class, JPEG and PNG
mixed, made in a temporary folder), a project training the resnet template's graph on it at
3 × 64 × 64, opened in the window; augmentation set in the form's own fields (random resized
crop, flip, rotation, colour jitter, normalisation from the data), the Preview button pressed
with a real click (xdotool), the panel grabbed.

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_augment_folder.py OUT

Needs: apt-get install xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick xdotool.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import xvfb_session as S  # noqa: E402

CLASSES = ("circle", "square", "triangle")


def make_folder(root: Path, per_class: int = 16) -> None:
    """Pictures of 80-120 pixels a side: a dark shape on a light background, and a red dot
    in the top left corner (so that a flip shows)."""
    import numpy as np
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(0)
    for cls in CLASSES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            w, h = (int(v) for v in rng.integers(80, 121, 2))
            im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(150, 256, 3)))
            d = ImageDraw.Draw(im)
            s = int(rng.integers(30, min(w, h) - 10))
            x, y = int(rng.integers(2, w - s - 2)), int(rng.integers(2, h - s - 2))
            ink = tuple(int(v) for v in rng.integers(0, 140, 3))
            if cls == "circle":
                d.ellipse([x, y, x + s, y + s], ink)
            elif cls == "square":
                d.rectangle([x, y, x + s, y + s], ink)
            else:
                d.polygon([(x + s / 2, y), (x, y + s), (x + s, y + s)], ink)
            d.ellipse([3, 3, 11, 11], (220, 30, 30))
            im.save(root / cls / f"{i:03d}.{'jpg' if i % 2 else 'png'}", quality=92)


def make_project(folder: Path, out: Path) -> Path:
    d = json.loads((ROOT / "templates" / "resnet.json").read_text())
    d["name"] = "Shapes from an image folder"
    for n in d["nodes"]:
        if n["id"] == "image":
            n["params"]["shape"] = [3, 64, 64]
    d["data"] = {"dataset": "images", "options": {"path": str(folder), "channels": 3,
                                                  "height": 64, "width": 64},
                 "bind": {"image": "x", "label": "y"}}
    path = out / "shapes_folder.json"
    path.write_text(json.dumps(d, indent=1))
    return path


def main() -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QScrollArea

    from app.augment_form import AugmentBox
    work = Path(tempfile.mkdtemp(prefix="augment-folder-"))
    make_folder(work / "shapes")
    win = S.win
    S.pump(1.0)
    if not win.open_path(make_project(work / "shapes", work), ask=False):
        raise RuntimeError("the project did not open")
    win.docks["training"].show()
    win.docks["training"].raise_()
    win.resizeDocks([win.docks["training"]], [640], Qt.Horizontal)
    for name, dock in win.docks.items():  # the panel the whole height of the window
        if name != "training":
            dock.hide()
    S.pump(1.0)
    box = win.training.findChild(AugmentBox, "augment")
    box.crop.setChecked(True)
    for name, v in (("hflip", 0.5), ("rotation", 25), ("brightness", 0.3), ("contrast", 0.3),
                    ("saturation", 0.4), ("hue", 0.05)):
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
    S.shot("augment-folder-screen")
    dock = win.docks["training"]  # the panel alone, cut from the screen
    x, y = S.glob(dock, dock.rect().topLeft())
    subprocess.run(["convert", str(S.OUT / "augment-folder-screen.png"), "-crop",
                    f"{dock.width()}x{dock.height()}+{x}+{y}", "+repage",
                    str(S.OUT / "augment-folder.png")], check=True)
    S.log.append(f"project {win.doc.project.data!r}")
    S.log.append(f"note '{box.preview_note.text()}'; rows {getattr(box, 'row_labels', None)}")
    (S.OUT / "session.log").write_text("\n".join(S.log) + "\n")
    S.app.quit()


if __name__ == "__main__":
    S.run_script(main)
