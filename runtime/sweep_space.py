"""A sweep's search space as Optuna sees it (runtime/sweep.py): distributions, the grid,
the sampler and the pruner by name. No torch."""
from __future__ import annotations

import math

from graph.search import SearchEntry

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
GRID_POINTS = 5  # a float range (or an int range of more than GRID_INT_ALL values) on a grid
GRID_INT_ALL = 10


def distributions(entries: list[SearchEntry]) -> dict:
    """target -> Optuna distribution."""
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)
    out = {}
    for e in entries:
        if e.kind == "categorical":
            out[e.target] = CategoricalDistribution(list(e.choices))
        elif e.kind == "int":
            out[e.target] = IntDistribution(int(e.low), int(e.high), log=e.log)
        else:
            out[e.target] = FloatDistribution(float(e.low), float(e.high), log=e.log)
    return out


def grid_values(e: SearchEntry) -> list:
    """The values a grid tries for one entry: the choices; every whole number of a short int
    range; else GRID_POINTS points from low to high (spaced evenly, or evenly in log)."""
    if e.kind == "categorical":
        return list(e.choices)
    lo, hi = float(e.low), float(e.high)
    if e.kind == "int" and hi - lo + 1 <= GRID_INT_ALL:
        return list(range(int(lo), int(hi) + 1))
    n = GRID_POINTS
    if e.log:
        pts = [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (n - 1))
               for i in range(n)]
    else:
        pts = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    if e.kind == "int":
        return sorted({min(max(int(round(p)), int(lo)), int(hi)) for p in pts})
    return [float(f"{p:.6g}") if lo < float(f"{p:.6g}") < hi else p for p in pts]


def grid(entries: list[SearchEntry]) -> dict[str, list]:
    return {e.target: grid_values(e) for e in entries}


def grid_size(entries: list[SearchEntry]) -> int:
    return math.prod(len(v) for v in grid(entries).values())


def make_sampler(name: str, entries: list[SearchEntry], seed: int, trials: int):
    """`seed` differs on each resumption (the project's seed plus the trials so far), so a
    resumed sweep does not draw its first values again."""
    import optuna
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(grid(entries), seed=seed)
    # TPE's random start: a quarter of the sweep, 2 to 10 trials (Optuna's default is 10,
    # which leaves a sweep of 8 trials all random)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, trials // 4)))


def make_pruner(name: str):
    """median: a trial whose epoch value is worse than the median of the trials before at
    that epoch stops there, once 2 trials have finished and from its second epoch;
    hyperband: Optuna's, with one epoch as the least resource; none: no trial stops early."""
    import optuna
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
    return optuna.pruners.NopPruner()
