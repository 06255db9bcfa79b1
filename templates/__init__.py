"""The template gallery: one project file per architecture, opened like any user project."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent

# Gallery order: from the simplest network to the most elaborate.
ORDER = ("perceptron", "mlp", "cnn", "rnn", "lstm", "gru", "char_lstm")


@dataclass(frozen=True)
class Template:
    key: str  # file stem
    name: str
    description: str
    path: Path


def list_templates() -> list[Template]:
    files = sorted(FOLDER.glob("*.json"),
                   key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    out = []
    for f in files:
        head = json.loads(f.read_text(encoding="utf-8"))
        out.append(Template(f.stem, head.get("name", f.stem), head.get("description", ""), f))
    return out


def find(key: str) -> Template | None:
    return next((t for t in list_templates() if t.key == key or t.name == key), None)
