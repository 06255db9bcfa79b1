"""The breadcrumb bar above the canvas: where the user is ("Project > stage2 (Basic block) >
..."), each crumb a button that goes back up to it (Esc goes up one), and a red line saying
why a block edit was refused (through widgets.Refusals, like other refused edits)."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget


class Breadcrumbs(QWidget):
    goTo = Signal(int)  # the depth clicked (0: the project's graph)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 2, 6, 2)
        outer.setSpacing(1)
        self.row = QHBoxLayout()
        self.row.setSpacing(2)
        outer.addLayout(self.row)
        self.error = QLabel()
        self.error.setObjectName("block_refused")
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(True)
        self.error.hide()
        outer.addWidget(self.error)
        self.buttons: list[QToolButton] = []
        self.set_crumbs(["Project"])

    def set_crumbs(self, crumbs: list[str]) -> None:
        while self.row.count():
            w = self.row.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.buttons = []
        for depth, text in enumerate(crumbs):
            if depth:
                self.row.addWidget(QLabel("›"))
            b = QToolButton()
            b.setText(text)
            b.setAutoRaise(True)
            last = depth == len(crumbs) - 1
            b.setEnabled(not last)
            b.setStyleSheet("font-weight: bold;" if last else "")
            b.setToolTip("Where you are" if last else
                         "Go back up here (Esc goes up one level)")
            b.clicked.connect(lambda _=False, d=depth: self.goTo.emit(d))
            self.row.addWidget(b)
            self.buttons.append(b)
        if len(crumbs) > 1:
            hint = QLabel("  editing the block's definition: every instance changes")
            hint.setStyleSheet("color: #7f8c8d;")
            self.row.addWidget(hint)
        self.row.addStretch(1)
        self.setVisible(len(crumbs) > 1 or not self.error.isHidden())

    def text(self) -> str:
        return " > ".join(b.text() for b in self.buttons)
