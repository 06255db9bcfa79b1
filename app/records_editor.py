"""The project's optimizer records (training.optimizers) as a table in the training panel: one
row per record, each cell a field (name, sub-network, losses, solver, learning rate and its
decay, β₁, update schedule). Every edit emits the whole new list; the panel commits it as
one undoable setting, checked by the settings model (a bad value is refused with its place).
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout)

from graph.settings import OptimizerRecord

# (field, header, tooltip)
COLUMNS = [(name, header, OptimizerRecord.model_fields[name].description or "")
           for name, header in (("name", "name"), ("subnet", "sub-network"),
                                ("losses", "losses"), ("optimizer", "solver"), ("lr", "lr"),
                                ("lr_end", "lr end"), ("beta1", "β₁"), ("every", "every"),
                                ("start", "start"), ("end", "end"))]


class RecordError(ValueError):
    pass


def text_of(record: OptimizerRecord, name: str) -> str:
    v = getattr(record, name)
    if v is None:
        return ""
    if name == "losses":
        return ", ".join(v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def parse(name: str, text: str):
    """A cell's text as the field's value ('' = none where the field may be empty)."""
    text = text.strip()
    if name == "losses":
        return [t for t in text.replace(",", " ").split() if t]
    if name in ("name", "subnet", "optimizer"):
        return text
    if text == "" and name in ("lr_end", "end"):
        return None
    try:
        return int(text) if name in ("every", "start", "end") else float(text)
    except ValueError:
        what = "a whole number" if name in ("every", "start", "end") else "a number"
        raise RecordError(f"{name.replace('_', ' ')} must be {what} (got '{text}')") from None


class RecordsEditor(QGroupBox):
    changed = Signal(list)  # the new records, as dicts
    refused = Signal(str)

    def __init__(self, parent=None):
        super().__init__("Optimizer records", parent)
        self.setToolTip("Several optimizers, each over its own sub-network's weights and its "
                        "own losses (a GAN's discriminator, then its generator), as in Sony's "
                        "Neural Network Console. None: one optimizer, the settings above, "
                        "over every weight.")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("optimizer_records")
        self.table.setHorizontalHeaderLabels([h for _, h, _ in COLUMNS])
        for i, (_, _, tip) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setMaximumHeight(120)
        # the table scrolls sideways inside the panel rather than widening it
        self.table.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.table.setMinimumWidth(120)
        self.table.itemChanged.connect(self._edited)
        self.add_btn = QPushButton("Add record")
        self.remove_btn = QPushButton("Remove")
        self.add_btn.clicked.connect(self._add)
        self.remove_btn.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_btn)
        buttons.addWidget(self.remove_btn)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.records: list[OptimizerRecord] = []
        self.losses: list[str] = []
        self.subnets: list[str] = []
        self._loading = False

    def set_records(self, records, losses: list[str], subnets: list[str]) -> None:
        self.records, self.losses, self.subnets = list(records), list(losses), list(subnets)
        self._loading = True
        try:
            self.table.setRowCount(len(records))
            for r, rec in enumerate(records):
                for c, (name, _, _) in enumerate(COLUMNS):
                    self.table.setItem(r, c, QTableWidgetItem(text_of(rec, name)))
            self.table.resizeColumnsToContents()
        finally:
            self._loading = False
        self.remove_btn.setEnabled(bool(records))
        self.note.setText(
            f"{len(records)} record{'s' if len(records) != 1 else ''}, run in this order "
            "each step: the solver and learning rate above are not used." if records else
            "None: one optimizer (the solver and learning rate above) over every weight. Add "
            "one per player for a GAN (the adversarial recipe).")

    def _dicts(self) -> list[dict]:
        return [r.model_dump() for r in self.records]

    def _edited(self, item: QTableWidgetItem) -> None:
        if self._loading:
            return
        name = COLUMNS[item.column()][0]
        try:
            value = parse(name, item.text())
        except RecordError as e:
            self.refused.emit(f"optimizer record {item.row() + 1}: {e}")
            self.set_records(self.records, self.losses, self.subnets)
            return
        out = self._dicts()
        out[item.row()][name] = value
        self.changed.emit(out)

    def _add(self) -> None:
        used = {l for r in self.records for l in r.losses}
        free = [l for l in self.losses if l not in used] or self.losses[:1]
        taken = {r.subnet for r in self.records}
        subnet = next((s for s in self.subnets if s not in taken), "")
        names = {r.name for r in self.records}
        name = subnet or "record"
        i = 2
        while name in names:
            name, i = f"{subnet or 'record'}{i}", i + 1
        if not free:
            self.refused.emit("optimizer records: the graph has no loss node to minimise")
            return
        self.changed.emit(self._dicts() + [{"name": name, "subnet": subnet,
                                            "losses": free[:1]}])

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}) or \
            [len(self.records) - 1]
        self.changed.emit([d for i, d in enumerate(self._dicts()) if i not in rows])
