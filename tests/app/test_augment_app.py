"""The data form's Augmentation group: its settings as undoable edits, refusals in words, and
the preview grid through the real widget (issue 27 item 2)."""
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.augment_form import SAMPLES, WAYS, AugmentBox
from graph.project import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cnn(win, tmp_path):
    path = tmp_path / "cnn.json"
    load(ROOT / "templates" / "cnn.json").save(path)
    win.open_path(path, ask=False)
    win.docks["training"].show()
    win.docks["training"].raise_()
    return win


def box(win) -> AugmentBox:
    return win.training.findChild(AugmentBox, "augment")


def test_an_edit_is_one_undo_step_and_saved(cnn, tmp_path):
    b = box(cnn)
    assert b is not None and b.numbers["hflip"].value() == 0
    b.numbers["hflip"].setValue(0.5)
    assert cnn.doc.project.data.augment.hflip == 0.5
    assert cnn.a_undo.text() == "&Undo Change the augmentation"
    b.crop.setChecked(True)
    assert cnn.doc.project.data.augment.random_resized_crop is not None
    b.normalize.setCurrentIndex(1)
    assert cnn.doc.project.data.augment.normalize == "from data"
    cnn.doc.project.save(tmp_path / "saved.json")
    again = load(tmp_path / "saved.json").data.augment
    assert again == cnn.doc.project.data.augment
    for _ in range(3):
        cnn.a_undo.trigger()
    assert cnn.doc.project.data.augment.hflip == 0 and b.numbers["hflip"].value() == 0
    assert not b.crop.isChecked() and b.normalize.currentIndex() == 0


def test_a_bad_value_is_refused_in_words(cnn):
    b = box(cnn)
    b.crop.setChecked(True)
    b.scale[0].setValue(0.9)
    b.scale[1].setValue(0.5)  # low above high
    label = cnn.training.data_box.refusals.label
    assert "Refused: augment" in label.text() and "0 < low ≤ high ≤ 1" in label.text()
    assert cnn.doc.project.data.augment.random_resized_crop.scale[1] >= \
        cnn.doc.project.data.augment.random_resized_crop.scale[0]
    b.normalize.setCurrentIndex(2)
    b.mean.setText("0.5, x")
    b.mean.editingFinished.emit()
    assert "is not a list of numbers" in label.text()


def test_preview_shows_distinct_augmented_images(cnn, qtbot):
    b = box(cnn)
    b.numbers["rotation"].setValue(30)
    b.numbers["brightness"].setValue(0.3)
    qtbot.mouseClick(b.preview_button, Qt.LeftButton)
    assert b.job.wait(60)
    qtbot.waitUntil(b.grid.isVisible)
    image = b.grid.pixmap().toImage().convertToFormat(QImage.Format_RGB888)
    w, h = image.width(), image.height()
    pixels = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * h)
    pixels = pixels.reshape(h, image.bytesPerLine())[:, :3 * w].reshape(h, w, 3)
    # The grid's cells (b.cells: rows are samples; column 0 as read, then the 8 ways)
    cells = [[pixels[r.top():r.bottom() + 1, r.left():r.right() + 1].tobytes()
              for r in row[1:]] for row in b.cells]
    for row in cells:
        assert len(set(row)) == WAYS  # one sample, 8 different augmentations
    assert len({row[0] for row in cells}) == SAMPLES  # different samples
    assert "augmented 8 ways" in b.preview_note.text()
    assert w <= b.contentsRect().width()  # never wider than the panel


def test_preview_refused_in_words_for_a_table(win, qtbot, tmp_path):
    path = tmp_path / "mlp.json"
    load(ROOT / "templates" / "mlp.json").save(path)
    win.open_path(path, ask=False)
    b = box(win)
    qtbot.mouseClick(b.preview_button, Qt.LeftButton)
    assert b.job.wait(60)
    qtbot.waitUntil(b.preview_note.isVisible)
    assert "No preview" in b.preview_note.text() and "cannot be cropped" in \
        b.preview_note.text()
    assert b.grid.isHidden()
