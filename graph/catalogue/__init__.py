"""The layer catalogue: every node type, declared once (ARCHITECTURE.md, principle 2)."""
from __future__ import annotations

from ..spec import NodeSpec
from . import (activations, attention, blocks, conv, core, decoding, detection, gan, io,
               losses, merge, mask, nn_activations, nn_cells, nn_conv, nn_params, nn_shape, norm,
               recurrent, rpn, tensor_ops, tensor_shape_ops, torch_attention)

CATEGORIES = ("Input / Output", "Core", "Activation", "Convolution", "Pooling",
              "Normalization", "Structure", "Recurrent", "Sequence", "Attention", "Generative",
              "Detection", "Loss", "Tensor operations", "Blocks")

SPECS: dict[str, NodeSpec] = {}
_REPLACED: dict[str, str] = {}  # old type id -> current one

for _family in (io, core, activations, nn_activations, conv, nn_conv, norm, nn_shape, nn_params,
                merge, recurrent, nn_cells, attention, decoding, gan, detection, rpn, mask, losses,
                tensor_ops, tensor_shape_ops, torch_attention, blocks):
    for _s in _family.SPECS:
        assert _s.type not in SPECS, f"type id {_s.type!r} declared twice"
        assert _s.category in CATEGORIES, _s.category
        SPECS[_s.type] = _s
        for _old in _s.replaces:
            _REPLACED[_old] = _s.type


def resolve_type(type_id: str) -> str | None:
    """The current type id for `type_id` (following `replaces`), or None if unknown."""
    if type_id in SPECS:
        return type_id
    return _REPLACED.get(type_id)


def get(type_id: str) -> NodeSpec:
    t = resolve_type(type_id)
    if t is None:
        raise KeyError(type_id)
    return SPECS[t]


def by_category() -> dict[str, list[NodeSpec]]:
    out: dict[str, list[NodeSpec]] = {c: [] for c in CATEGORIES}
    for s in SPECS.values():
        out[s.category].append(s)
    return out
