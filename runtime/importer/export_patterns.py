"""Patterns the torch.export importer reads as one node (runtime/importer/export_trace.py):
Hugging Face's Conv1D (x.view(-1, D), addmm, a view back) as a Linear over the last axis, and
x.expand(n, 16) of a 1 × 16 as x.expand(n, -1); with the shape helpers both use."""
from __future__ import annotations

import torch
import torch.fx as fx

from graph.catalogue.aten_names import RESHAPES


def _same(a, b) -> bool:
    """Two shapes alike, a symbolic batch included (compared by name: no guard on it)."""
    return a is not None and b is not None and [str(d) for d in a] == [str(d) for d in b]


def _shape(node) -> tuple | None:
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    return tuple(val.shape) if isinstance(val, torch.Tensor) else None


def _flat_linears(nodes: list, reads: dict, learned: set) -> dict:
    """Hugging Face's Conv1D (GPT-2): y = addmm(b, x.view(-1, D), W).view(*x.shape[:-1], E)
    with W (D × E) and b (E) learned, each view used by the next alone: a Linear over the
    last axis (its weight Wᵀ). The first view's name -> (x, addmm, last view, W, b)."""
    out = {}
    for mm in nodes:
        if str(mm.target) != "aten.addmm.default" or len(mm.args) != 3 or mm.kwargs:
            continue
        b, flat, w = mm.args
        if not all(isinstance(a, fx.Node) for a in (b, flat, w)) or \
                b.name not in learned or w.name not in learned or \
                str(flat.target) not in RESHAPES or len(flat.users) != 1 or \
                len(mm.users) != 1:
            continue
        back = next(iter(mm.users))
        x = flat.args[0]
        sx, sw, sb = _shape(x), _shape(w), _shape(b)
        if str(back.target) not in RESHAPES or sx is None or len(sx) < 3 or sw is None \
                or len(sw) != 2 or sx[-1] != sw[0] or sb != (sw[1],) or \
                not _same(_shape(back), (*sx[:-1], sw[1])) or \
                reads[w.name].rpartition(".")[0] != reads[b.name].rpartition(".")[0]:
            continue
        out[flat.name] = (x, mm, back, w, b)
    return out


def _kept_as_minus_one(node: fx.Node, args: list) -> list:
    """x.expand(n, 16) of a 1 × 16 as x.expand(n, -1): a size equal to x's own (past the
    batch) is the -1 that keeps it."""
    shape = _shape(node.args[0])
    sizes = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else None
    if shape is None or sizes is None or len(sizes) != len(shape):
        return args
    return [args[0], sizes[:1] + [-1 if isinstance(d, int) and d == s else d
                                  for d, s in zip(sizes[1:], shape[1:])]]
