"""The Try panel's text-generation mode (ARCHITECTURE.md, "A Try-panel mode"): a character
model continues a prompt at a chosen temperature (runtime.tryout.Tryout.generate)."""
from __future__ import annotations

from PySide6.QtWidgets import (QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit,
                               QPlainTextEdit, QPushButton, QSpinBox)


class GenerateBox(QGroupBox):
    """The prompt, the temperature, how many characters, and the text generated."""

    def __init__(self, generate, parent=None):
        super().__init__("Generate text", parent)
        form = QFormLayout(self)
        self.prompt = QLineEdit("The ")
        self.prompt.setObjectName("try_prompt")
        self.temperature = QDoubleSpinBox()
        self.temperature.setObjectName("try_temperature")
        self.temperature.setRange(0.05, 3.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.8)
        self.temperature.setToolTip("Below 1: safer, more repetitive; above 1: more varied "
                                    "(and more mistakes). 1 samples as the model learned.")
        self.length = QSpinBox()
        self.length.setRange(1, 5000)
        self.length.setValue(300)
        self.generate_btn = QPushButton("Generate")
        self.generate_btn.setObjectName("try_generate")
        self.generate_btn.clicked.connect(generate)
        self.generated = QPlainTextEdit()
        self.generated.setObjectName("try_generated")
        self.generated.setReadOnly(True)
        form.addRow("prompt", self.prompt)
        form.addRow("temperature", self.temperature)
        form.addRow("characters", self.length)
        form.addRow(self.generate_btn)
        form.addRow(self.generated)
