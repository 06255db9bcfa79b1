"""Small widget behaviours shared by the panels."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox,
                               QWidget)


class _WheelGuard(QObject):
    """A wheel over a combo or spin box that has no focus scrolls the panel instead of
    changing the value (scrolling past the training form turned adam into gd)."""

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QEvent.Wheel or obj.hasFocus():
            return False
        # Handed to the scroll area's bar explicitly: Qt propagates an ignored wheel event to
        # the parents only when it came from the window system, not when it was sent.
        area = obj.parent()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parent()
        if area is not None:
            d = event.angleDelta()
            bar = area.horizontalScrollBar() if abs(d.x()) > abs(d.y()) else area.verticalScrollBar()
            QApplication.sendEvent(bar, event)
        event.accept()
        return True


_GUARD = _WheelGuard()


def guard_wheel(root: QWidget) -> None:
    """Guard every combo and spin box under `root` (call again after adding widgets)."""
    for w in root.findChildren(QComboBox) + root.findChildren(QAbstractSpinBox):
        if not w.property("_wheel_guarded"):
            w.setFocusPolicy(Qt.StrongFocus)  # a wheel no longer gives them focus either
            w.installEventFilter(_GUARD)
            w.setProperty("_wheel_guarded", True)
