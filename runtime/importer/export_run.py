"""Running torch.export on a user's model, for export_trace.py (issue 26, item 3): the batch
exported as dynamic first, fixed where torch refuses that; a forward hook on each torch.nn
layer with a node type records which of its arguments are the same tensor and the parts of
its result; torch's own logging silenced while it runs; a refusal said in words with the
user's line.
"""
from __future__ import annotations

import logging
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils import _pytree as pytree

from graph.catalogue.coverage import NODE_FOR

from .source import ImportProblem

_HERE = str(Path(__file__).resolve().parent)
_TORCH = str(Path(torch.__file__).parent)


def _is_leaf(m: nn.Module) -> bool:
    return type(m).__name__ in NODE_FOR and type(m) is getattr(nn, type(m).__name__, None)


def _user_line(e: BaseException) -> str:
    """The user's line an exception was raised at: 'file.py, line 12: code'."""
    for fr in reversed(traceback.extract_tb(e.__traceback__)):
        file = str(Path(fr.filename).resolve()) if fr.filename else ""
        if file and not file.startswith(_TORCH) and not file.startswith(_HERE) and "site-packages" not in file:
            return f"{Path(file).name}, line {fr.lineno}: {(fr.line or '').strip()}".rstrip(": ")
    return ""


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@contextmanager
def _quiet():
    """torch's own loggers and warnings silenced while it exports: a refusal is said once,
    as an ImportProblem, not as torch's graph dump on stderr."""
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)
               if n.startswith("torch")]
    saved = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, was in zip(loggers, saved):
            lg.disabled = was


@dataclass
class _Call:
    """One call of a leaf module, as a forward hook saw it: which of its tensor arguments
    are the same tensor (first-seen numbering: (0, 0, 0) for attn(x, x, x)), and the path
    and shape of each tensor in its result, in order."""
    args: tuple[int, ...]
    parts: list[tuple[tuple, tuple]]


def export(model: nn.Module, xs: list[torch.Tensor]):
    """(the ExportedProgram, {leaf module path: its _Calls in order}, whether the batch is
    dynamic): dynamic batch first, fixed shapes where that is refused."""
    from torch.export import Dim
    results: dict[str, list[_Call]] = {}
    hooks = []
    for path, m in model.named_modules():
        if path and _is_leaf(m):
            def hook(mod, args, kwargs, out, path=path):
                seen: list[int] = []
                for a in pytree.tree_leaves((args, kwargs)):
                    if isinstance(a, torch.Tensor):
                        seen.append(id(a))
                first = {i: k for k, i in reversed(list(enumerate(dict.fromkeys(seen))))}
                parts = [(tuple(getattr(k, "idx", 0) for k in kp), tuple(leaf.shape))
                         for kp, leaf in pytree.tree_flatten_with_path(out)[0]
                         if isinstance(leaf, torch.Tensor)]
                results.setdefault(path, []).append(_Call(tuple(first[i] for i in seen), parts))
            hooks.append(m.register_forward_hook(hook, with_kwargs=True))
    batches = {x.shape[0] if x.dim() else None for x in xs}
    tries = []
    if len(batches) == 1 and (next(iter(batches)) or 0) >= 2:
        batch = Dim("batch")
        tries.append(tuple({0: batch} for _ in xs))
    tries.append(None)
    try:
        for k, dynamic in enumerate(tries):
            results.clear()
            try:
                with _quiet():
                    ep = torch.export.export(model, tuple(xs), dynamic_shapes=dynamic,
                                             strict=False)
                return ep, results, dynamic is not None
            except Exception as e:  # noqa: BLE001 (the user's module, under torch.export)
                if k == len(tries) - 1:
                    where = _user_line(e)
                    raise ImportProblem(
                        f"torch.export cannot trace the model either"
                        f"{' (' + where + ')' if where else ''}: {type(e).__name__}: "
                        f"{_first_line(e)}") from None
    finally:
        for h in hooks:
            h.remove()
