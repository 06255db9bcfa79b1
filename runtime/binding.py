"""Bind dataset fields to the graph's Input and Target nodes, checking that they fit."""
from __future__ import annotations

import torch

from graph.settings import auto_bind
from graph.spec import TensorType

from .compile import Compiled
from .data import DataError, Dataset


def _dims(shape) -> str:
    return " × ".join(str(d) for d in shape) if len(shape) else "one value"


def bind_data(compiled: Compiled, bind: dict[str, str], dataset: Dataset,
              needed: list[str]) -> dict[str, torch.Tensor]:
    """placeholder (node id) -> the whole field, checked against the node's shape and dtype.
    With no binding at all, graph.settings.auto_bind fills it in (a field named like the node;
    else a single Input takes field 'x' and a single Target field 'y')."""
    graph, analysis = compiled.graph, compiled.analysis
    bind = dict(bind)
    if not bind:  # the same rule the training panel fills the binding in with
        bind = auto_bind([n for n in needed if graph.spec(n).role == "input"],
                         [n for n in needed if graph.spec(n).role == "target"],
                         list(dataset.fields), {})
    fields = ", ".join(dataset.fields)
    out = {}
    for node in needed:
        spec = graph.spec(node)
        fld = bind.get(node)
        if fld is None:
            raise DataError(f"data.bind: {spec.title} '{node}' is not bound to a field of "
                            f"'{dataset.name}' (its fields: {fields})")
        if fld not in dataset.fields:
            raise DataError(f"data.bind: {spec.title} '{node}' is bound to field '{fld}', which "
                            f"'{dataset.name}' does not have (its fields: {fields})")
        t = dataset.fields[fld]
        want: TensorType = analysis.out_type(node, "out")
        sample = tuple(t.shape[1:])
        if sample != tuple(want.sample_shape):
            hint = ""
            if sample and want.sample_shape and t[0].numel() == _numel(want.sample_shape):
                hint = " (the same number of values: add a Reshape node or change the shape)"
            raise DataError(f"{spec.title} '{node}' expects samples of {_dims(want.sample_shape)} "
                            f"but field '{fld}' of '{dataset.name}' gives {_dims(sample)}{hint}")
        if want.dtype == "int64":
            if t.is_floating_point():
                if not torch.equal(t, t.round()):
                    raise DataError(f"{spec.title} '{node}' takes whole numbers (int64, e.g. class "
                                    f"indices) but field '{fld}' of '{dataset.name}' holds "
                                    "fractions")
                t = t.long()
        else:
            t = t.float()
            bad = ~torch.isfinite(t)
            if bad.any():
                i = int(bad.reshape(len(t), -1).any(1).nonzero()[0])
                raise DataError(f"field '{fld}' of '{dataset.name}' holds NaN or infinite values "
                                f"(first in sample {i}); clean the data first")
        out[node] = t
    _check_classes(compiled, out)
    return out


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _check_classes(compiled: Compiled, tensors: dict[str, torch.Tensor]) -> None:
    """Class indices must be valid for the class scores they are compared with."""
    graph, analysis = compiled.graph, compiled.analysis
    for loss in compiled.losses:
        if graph.spec(loss).type != "CategoricalCrossEntropyLoss":
            continue
        t_edge, p_edge = graph.in_edges(loss, "target")[0], graph.in_edges(loss, "pred")[0]
        t = tensors.get(t_edge.src)
        if t is None or t.is_floating_point() or not len(t):
            continue
        classes = analysis.edge_type(p_edge).shape[1]
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= classes:
            bad = hi if hi >= classes else lo
            raise DataError(f"Target '{t_edge.src}' holds class {bad}, but '{p_edge.src}' gives "
                            f"scores for {classes} classes (0 to {classes - 1}); set the "
                            f"out_features of the last layer to at least {hi + 1}")
