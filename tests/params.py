"""Valid random values for catalogue params (tests only)."""
from __future__ import annotations

import random

from graph.spec import Param


def sample_value(p: Param, rnd: random.Random):
    if p.auto and rnd.random() < 0.3:
        return None
    k = p.kind
    if k == "bool":
        return rnd.random() < 0.5
    if k == "choice":
        return rnd.choice(p.choices)
    if k == "int":
        lo = int(p.min) if p.min is not None else 0
        hi = int(p.max) if p.max is not None else lo + 8
        return rnd.randint(lo, min(hi, lo + 8))
    if k == "float":
        lo = p.min if p.min is not None else -2.0
        hi = p.max if p.max is not None else lo + 2.0
        return round(rnd.uniform(lo, min(hi, lo + 2.0)), 3)
    if k == "padding":
        return rnd.choice(["valid", "same", 0, 1, 2])
    if k == "shape":
        return [rnd.randint(1, 6) for _ in range(rnd.randint(0, 3))]
    if k == "dims":
        return [rnd.randint(1, 6) for _ in range(rnd.randint(1, 3))]
    if k == "ints":
        return [rnd.randint(0, 2) for _ in range(rnd.choice([1, 2, 4, 6]))]
    if k == "intlist":
        return [rnd.randint(-3, 3) for _ in range(rnd.randint(1, 3))]
    if k == "numbers":
        return [round(rnd.uniform(0.25, 4.0), 2) for _ in range(rnd.randint(1, 3))]
    if k == "axes":
        axes = list(range(rnd.randint(1, 4)))
        rnd.shuffle(axes)
        return axes
    return "text"
