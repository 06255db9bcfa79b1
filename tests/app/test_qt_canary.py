"""Guards the pinned Qt binding: PySide6 6.12.0 drops a reference to None on every call to a
Qt method returning nothing, and CPython 3.11 then aborts (`none_dealloc`)."""
import sys

from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene


def test_none_refcount_is_stable_over_qt_calls(qapp):
    scene = QGraphicsScene()
    item = QGraphicsRectItem(0, 0, 10, 10)
    scene.addItem(item)
    before = sys.getrefcount(None)
    for i in range(1000):
        item.setPos(i, i)
        item.update()
    after = sys.getrefcount(None)
    assert abs(after - before) < 50, f"None lost {before - after} references"
