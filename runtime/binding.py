"""Bind dataset fields to the graph's Input and Target nodes, checking that they fit."""
from __future__ import annotations

import torch

from graph.catalogue.losses import class_dim
from graph.settings import auto_bind
from graph.spec import ParamRole, PortRole, TensorType

from .compile import Compiled
from .data import DataError, Dataset


def _dims(shape) -> str:
    return " × ".join(str(d) for d in shape) if len(shape) else "one value"


def bind_data(compiled: Compiled, bind: dict[str, str], dataset: Dataset,
              needed: list[str]) -> dict[str, torch.Tensor]:
    """placeholder (node id) -> the whole field, checked against the node's shape and dtype.
    With no binding at all, graph.settings.auto_bind fills it in (a field named like the node;
    else a single Input takes field 'x' and a single Target field 'y')."""
    if getattr(dataset, "streams", False):  # read lazily: checked on a few samples
        from .loader import bound_columns
        return bound_columns(compiled, bind, dataset, needed)
    graph, analysis = compiled.graph, compiled.analysis
    bind = dict(bind)
    if not bind:  # the same rule the training panel fills the binding in with
        bind = auto_bind([n for n in needed if graph.spec(n).role == "input"],
                         [n for n in needed if graph.spec(n).role == "target"],
                         list(dataset.fields), {})
    fields = ", ".join(dataset.fields)
    out = {}
    sizes: dict[str, tuple[int, str]] = {}  # a size name (T) -> (its size, who set it)
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
        want: TensorType = analysis.out_type(node, spec.value_port)
        sample = tuple(t.shape[1:])
        if _fits(sample, tuple(want.sample_shape), sizes, node, fld, spec.title):
            hint = ""
            if sample and want.sample_shape and all(isinstance(d, int) for d in want.sample_shape) \
                    and t[0].numel() == _numel(want.sample_shape):
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
    _check_tokens(compiled, out, bind, dataset.name)
    return out


def _fits(sample: tuple, want: tuple, sizes: dict, node: str, fld: str, title: str) -> bool:
    """True if a field's samples do NOT fit the node's shape. A size name (T) fits any size,
    the same one wherever it appears (a DataError says so when two fields disagree)."""
    if len(sample) != len(want):
        return True
    for have, w in zip(sample, want):
        if isinstance(w, str):
            if w in sizes and sizes[w][0] != have:
                size, who = sizes[w]
                raise DataError(f"{title} '{node}' gets {w} = {have} from field '{fld}', but "
                                f"{who} set {w} = {size}: the fields disagree on that size")
            sizes.setdefault(w, (have, f"field '{fld}' ({title} '{node}')"))
        elif have != w:
            return True
    return False


def _check_tokens(compiled: Compiled, tensors: dict[str, torch.Tensor], bind: dict,
                  dataset: str) -> None:
    """Token ids fed straight into a lookup table (an Embedding) must be inside it (torch
    would stop with an IndexError naming neither the node nor the field)."""
    graph = compiled.graph
    for n in compiled.analysis.order:
        spec = graph.spec(n)
        ids, size_param = spec.in_role_or_none(PortRole.TOKEN_IDS), \
            spec.param_role(ParamRole.VOCABULARY)
        if ids is None or size_param is None:
            continue
        for e in graph.in_edges(n, ids):
            t = tensors.get(e.src)
            if t is None or t.is_floating_point() or not t.numel():
                continue
            size = spec.role_value(graph.params(n), ParamRole.VOCABULARY)
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi >= size:
                bad = hi if hi >= size else lo
                where = int((t == bad).reshape(len(t), -1).any(1).nonzero()[0])
                raise DataError(f"{spec.title} '{n}' has {size:,} token ids (0 to {size - 1:,}), "
                                f"but field '{bind.get(e.src, e.src)}' of '{dataset}' holds id "
                                f"{bad:,} (first in sample {where}): set {size_param} to at "
                                f"least {hi + 1:,} (the vocabulary's size)")


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _check_classes(compiled: Compiled, tensors: dict[str, torch.Tensor]) -> None:
    """Class indices must be valid for the class scores they are compared with."""
    graph, analysis = compiled.graph, compiled.analysis
    for loss in compiled.losses:
        spec = graph.spec(loss)
        if spec.param_role(ParamRole.CLASS_AXIS) is None:  # not scores over classes
            continue
        t_edge = graph.in_edges(loss, spec.in_role("target"))[0]
        p_edge = graph.in_edges(loss, spec.in_role("pred"))[0]
        t = tensors.get(t_edge.src)
        if t is None or t.is_floating_point() or not len(t):
            continue
        pred_t, target_t = analysis.edge_type(p_edge), analysis.edge_type(t_edge)
        axis = class_dim(pred_t, target_t,
                         spec.role_value(graph.params(loss), ParamRole.CLASS_AXIS))
        classes = pred_t.shape[axis]
        if not isinstance(classes, int):
            continue
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= classes:
            bad = hi if hi >= classes else lo
            raise DataError(f"Target '{t_edge.src}' holds class {bad}, but '{p_edge.src}' gives "
                            f"scores for {classes} classes (0 to {classes - 1}); set the "
                            f"out_features of the last layer to at least {hi + 1}")
