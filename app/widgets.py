"""Small widget behaviours shared by the panels (ARCHITECTURE.md, "app/"): the wheel guard,
the narrow list box, a value as a field shows it, and how an edit is committed or refused."""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox,
                               QFormLayout, QLabel, QLineEdit, QWidget)

from .document import EditRefused


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


class MetricBox(QComboBox):
    """An editable box for a metric's name whose list, filled when it opens, holds the names
    `names()` gives (the epoch metrics of the project's run)."""

    def __init__(self, names, parent=None):
        super().__init__(parent)
        self._names = names
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(8)
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.NoInsert)

    def showPopup(self) -> None:
        text = self.currentText()
        self.blockSignals(True)
        self.clear()
        self.addItems([n for n in self._names() if not n.endswith("<class>")])
        self.setCurrentText(text)
        self.blockSignals(False)
        super().showPopup()


def narrow_combo() -> QComboBox:
    """A list box that may be narrower than its longest choice (shown in full when it
    opens), so a form fits its panel. Made so before any item is added: Qt keeps the minimum
    width it measured over the items otherwise."""
    w = QComboBox()
    w.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    w.setMinimumContentsLength(8)
    return w


def fit_forms(forms, root: QWidget) -> None:
    """A row too narrow for its label and field puts the field under the label, and fields
    may be narrow (lists: narrow_combo; text fields under `root` down to 60 px): the forms
    are never wider than their panel."""
    for form in forms:
        form.setRowWrapPolicy(QFormLayout.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    for w in root.findChildren(QLineEdit):
        w.setMinimumWidth(60)


def fmt_value(v) -> str:
    """A setting's value as its text field shows it: '' for None, a number below 1e-3 in
    full (a learning rate of 3e-05 stays exact), others as %g."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if (0 < abs(v) < 1e-3) else f"{v:g}"
    return str(v)


class Refusals:
    """How a panel commits an edit and says why one was refused.

        self.refusals = Refusals(self.error, self.message.emit, reload=self.load)
        self.refusals.commit(lambda: self.editor.set_setting("data", "bind", bind))
        self.refusals.refuse("features: choose at least one feature column")

    `commit(edit)` runs `edit()` (an Editor call). Done: the panel's red `label` hides, and
    True. Refused (document.EditRefused): `refuse(why)`, and False. `refuse(why)` shows
    "Refused: why" in `label` and through `say` (the window's status bar), then calls
    `reload()`, which shows the model's values again: the field returns to what stands."""

    def __init__(self, label: QLabel, say: Callable[[str], None], reload: Callable[[], None]):
        self.label, self.say, self.reload = label, say, reload

    def commit(self, edit: Callable[[], object], prefix: str = "") -> bool:
        """`prefix` goes before a refusal's reason (e.g. "name: ")."""
        try:
            edit()
        except EditRefused as e:
            self.refuse(f"{prefix}{e}")
            return False
        self.label.hide()
        return True

    def refuse(self, why: str) -> None:
        self.label.setText(f"Refused: {why}")
        self.label.show()
        self.say(f"Refused: {why}")
        self.reload()
