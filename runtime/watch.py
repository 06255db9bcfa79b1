"""Watchers: what the Trainer shows of the inside of a network while it trains (issue 28,
"Inside the network"). Each watcher is asked for events after every step and at every
epoch's end, and throttles itself by wall time; the epoch loop (runtime/train_loop.py) only
loops over the watchers that apply to the run, so a run none applies to pays nothing.

- `boundary` (runtime/watch_boundary.py): a classifier of 2-D points sends the classes it
  predicts over a grid of the plane, a few times a second and at the run's end;
- `activations` (runtime/watch_activations.py): a model with ReLU-like layers sends each
  one's mean, standard deviation and dead units (units that fire for no validation sample),
  now and then and at the run's end.

    watchers = make_watchers(trainer, run, dataset)       # those that apply
    for w in watchers: yield from w.after_step(step, epoch, last)
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import torch

from . import distributed as D
from .events import Event

WATCHERS = ("boundary", "activations")  # every watcher there is, by name
SAMPLES = 256  # validation samples a watcher looks at, at most
# ... and at most this many input values in all: 256 samples of 2 features or of 8 x 8
# digits, 42 of a detector's 3 x 64 x 64 images (whose model costs ~0.2 s a sample here)
ELEMENTS = 2 ** 19
SHARE = 0.02  # of the run's time, at most, each watcher takes (runtime/watch.py Throttle)


class Watcher:
    """Asked after each step and at each epoch's end; returns the events it has (usually
    none: it decides by the time since its last one)."""

    def after_step(self, step: int, epoch: int, last: bool) -> list[Event]:
        return []

    def epoch_end(self, step: int, epoch: int) -> list[Event]:
        return []


class Throttle:
    """Whether `period` seconds of wall time (or the period asked for) have passed since
    the last time it said yes (yes the first time). `spent(seconds)` tells it what the work
    it allowed cost: it then waits at least the median of the last few costs / `share`, so
    that such work takes at most `share` of the run's time whatever the machine's load (a
    frame of 20 ms under load waits 20 ms / share before the next). The first cost, which
    holds the warm-up, is left out unless `skip_first` is False (work whose first call is
    not mostly warm-up, and may be long: a detector's activation statistics)."""

    def __init__(self, period: float, share: float = 1.0, skip_first: bool = True):
        self.period, self.share, self.skip_first = period, share, skip_first
        self.t0 = time.perf_counter()
        self.last_cost: float | None = None
        self.floor = 0.0  # the wait the recent work's cost asks for
        self.last = -float("inf")
        self.costs: list[float] = []
        self.told = 0

    def affordable(self, share: float) -> bool:
        """Whether the work's last cost is at most `share` of the time since the throttle
        was made (the run's time so far): a forced last call is skipped when it is not."""
        return self.last_cost is None or \
            self.last_cost <= share * (time.perf_counter() - self.t0)

    def due(self, period: float | None = None, force: bool = False) -> bool:
        now = time.perf_counter()
        wait = max(self.period if period is None else period, self.floor)
        if force or now - self.last >= wait:
            self.last = now
            return True
        return False

    def spent(self, seconds: float) -> None:
        self.told += 1
        self.last_cost = seconds
        if self.told == 1 and self.skip_first:
            return
        self.costs = (self.costs + [seconds])[-5:]
        self.floor = sorted(self.costs)[len(self.costs) // 2] / self.share


@contextmanager
def evaluating(module: torch.nn.Module):
    """The module and all its submodules in eval mode and without gradients for the block,
    each put back in the mode it had (training goes on after)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, was in modes:
            m.training = was


def some_samples(run, node: str, n: int = SAMPLES) -> torch.Tensor | None:
    """Up to n of node's values: the validation split's, or where there is none (or
    the data streams), the training split's (a sample of it, streamed)."""
    if node not in run.needed:
        return None
    k = run.needed.index(node)
    for split in (run.val, run.train):
        if len(split[k]):
            return split[k][:n]
    return None


def make_watchers(trainer, run, dataset) -> list[Watcher]:
    """The watchers of `trainer.watch` that apply to this run (none in a process other than
    the first of several: only the first one's events are kept)."""
    wanted = set(getattr(trainer, "watch", WATCHERS) or ())
    if not wanted or (D.active() and D.rank() != 0):
        return []
    out: list[Watcher] = []
    if "boundary" in wanted:
        from .watch_boundary import boundary_watcher
        w = boundary_watcher(trainer.compiled, run, dataset, trainer.project.data.bind)
        if w is not None:
            out.append(w)
    if "activations" in wanted:
        from .watch_activations import activations_watcher
        w = activations_watcher(trainer.compiled, run)
        if w is not None:
            out.append(w)
    return out
