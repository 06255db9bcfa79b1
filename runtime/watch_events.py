"""The events the trainer's watchers send (runtime/watch.py), and the words for dead units:
plain data, no torch, so the window unpickles them without loading it (they cross the
worker's pipe, runtime/worker.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .events import Event

SHOWN = 8  # dead units named in a line, at most


@dataclass(frozen=True)
class BoundaryFrame(Event):
    """The classes the model predicts over a size × size grid at `step`: `classes` holds
    one byte per cell, row by row (row i up the second feature's axis, column j along the
    first's), and `predicted` one byte per point. The first frame of a run also carries the
    points (N × 2), their true classes and the names; later ones leave them None."""
    step: int
    epoch: int
    size: int
    extent: tuple  # the grid's edges: x1 from, to, x2 from, to
    classes: bytes
    predicted: bytes
    n_classes: int
    points: list | None = None
    labels: list | None = None
    axes: tuple = ("x₁", "x₂")
    class_names: list = field(default_factory=list)
    final: bool = False  # the run's last step

    def grid(self):
        """The classes as a size × size numpy array (rows up x2)."""
        import numpy as np
        return np.frombuffer(self.classes, np.uint8).reshape(self.size, self.size)

    def point_classes(self):
        import numpy as np
        return np.frombuffer(self.predicted, np.uint8)

    def to_dict(self) -> dict:  # JSON: the bytes as lists
        d = super().to_dict()
        d["classes"], d["predicted"] = list(self.classes), list(self.predicted)
        return d


@dataclass(frozen=True)
class Activations(Event):
    """`layers`: a ReLU-like layer's node id (with '.port' for a node of several outputs)
    -> {"mean", "std", "units", "dead" (how many), "dead_units" (their indices),
    "channels" (True: the units are a feature map's channels)}, over `samples` samples."""
    step: int
    epoch: int
    layers: dict
    samples: int


def dead_words(name: str, s: dict) -> str:
    """One layer's dead units: 'relu1 3/32 (units 1, 5, 9)', channels as 'ch'."""
    ids = s["dead_units"]
    shown = ", ".join(str(i) for i in ids[:SHOWN]) + (", …" if len(ids) > SHOWN else "")
    return (f"{name} {s['dead']}/{s['units']} "
            f"({'ch' if s['channels'] else 'units'} {shown})")


def dead_summary(ev: Activations) -> str:
    """The dead units in words: 'relu1 3/32 (units 1, 5, 9); relu2 1/16 (ch 4)', or ''."""
    return "; ".join(dead_words(n, s) for n, s in ev.layers.items() if s["dead"])


class DeadReport:
    """The CLI's line on dead units: said when they appear and when a layer's count of them
    changes (and once more when none are left), never twice for the same counts."""

    def __init__(self):
        self.counts: tuple = ()

    def line(self, ev: Activations) -> str | None:
        counts = tuple((n, s["dead"]) for n, s in ev.layers.items() if s["dead"])
        if counts == self.counts:
            return None
        was, self.counts = self.counts, counts
        if counts:
            return f"dead units at step {ev.step}: {dead_summary(ev)}"
        return f"dead units at step {ev.step}: none left" if was else None
