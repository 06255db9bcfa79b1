"""Per-layer activation statistics while a model trains (runtime/watch.py): after each
ReLU-like layer (where a unit can die: runtime.inside.relu_wires), the mean and standard
deviation of its output and its dead units (units zero for every one of up to 256 validation
samples; fewer for large inputs, watch.ELEMENTS), computed by
runtime.inside.activation_stats. Sent after the first step, then at an epoch's end when `EPOCH_GAP` seconds have passed since the last (or mid-epoch after
`STEP_GAP`, for long epochs), never more often than keeps their cost under
runtime.watch.SHARE of the run's time (the first, possibly long, measurement counted), and at
the run's last step unless that would cost over END_SHARE of the run so far. The run folder
keeps them (activations.csv, runtime/runs.py); the CLI prints a line when dead units appear
(`DeadReport`); the app plots each layer's dead share (app/plot_dead.py)."""
from __future__ import annotations

import time

from . import inside
from .events import Event
from .watch import ELEMENTS, SHARE, Throttle, Watcher, evaluating, some_samples
from .watch_events import Activations, DeadReport, dead_summary  # noqa: F401 (also from here)

EPOCH_GAP = 1.0  # seconds: at an epoch's end, at most this often
STEP_GAP = 5.0  # seconds: within a long epoch, at most this often
END_SHARE = 0.1  # the forced measurement at the run's end: if it costs at most this share


class ActivationsWatcher(Watcher):
    def __init__(self, c, wires: list, inputs: dict):
        self.c, self.wires, self.inputs = c, set(wires), inputs
        self.single = {k: len(c.graph.spec(k[0]).outputs) == 1 for k in wires}
        self.throttle = Throttle(STEP_GAP, SHARE, skip_first=False)

    def after_step(self, step: int, epoch: int, last: bool) -> list[Event]:
        # the run's last step: measured unless that would cost over a tenth of the run so far
        force = last and self.throttle.affordable(END_SHARE)
        if not self.throttle.due(force=force):
            return []
        return [self.measure(step, epoch)]

    def epoch_end(self, step: int, epoch: int) -> list[Event]:
        if not self.throttle.due(EPOCH_GAP):
            return []
        return [self.measure(step, epoch)]

    def measure(self, step: int, epoch: int) -> Activations:
        t0 = time.perf_counter()
        ev = self._measure(step, epoch)
        self.throttle.spent(time.perf_counter() - t0)
        return ev

    def _measure(self, step: int, epoch: int) -> Activations:
        with evaluating(self.c.model):
            stats = inside.activation_stats(self.c, self.inputs, only=self.wires)
        layers = {}
        for s in stats:
            name = s.node if self.single.get((s.node, s.port), True) else f"{s.node}.{s.port}"
            layers[name] = {"mean": s.mean, "std": s.std, "units": s.units, "dead": len(s.dead),
                            "dead_units": list(s.dead), "channels": len(s.shape) > 1}
        return Activations(step, epoch, layers, len(next(iter(self.inputs.values()))))


def activations_watcher(c, run) -> ActivationsWatcher | None:
    """The watcher when the model has a ReLU-like layer and samples of every Input, else
    None."""
    wires = inside.relu_wires(c)
    if not wires:
        return None
    inputs = {n: some_samples(run, n) for n in c.inputs}
    if any(v is None or not len(v) for v in inputs.values()):
        return None  # an Input no data feeds (a generator's noise)
    per_sample = sum(v[0].numel() for v in inputs.values())  # large inputs: fewer samples
    n = max(1, min(min(len(v) for v in inputs.values()), ELEMENTS // max(per_sample, 1)))
    return ActivationsWatcher(c, wires, {k: v[:n] for k, v in inputs.items()})
