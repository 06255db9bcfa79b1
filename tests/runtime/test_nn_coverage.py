"""The catalogue against torch.nn (issue 26): every layer class of the installed torch.nn has
a node type or is left out with a reason, and at least 90 % of the layer classes have one."""
import inspect

import torch.nn as nn

from graph import catalogue
from graph.catalogue.coverage import LAZY_PREFIX, LEFT_OUT, NODE_FOR, NOT_LAYERS


def _classes() -> list[str]:
    return sorted(n for n, c in vars(nn).items()
                  if inspect.isclass(c) and issubclass(c, nn.Module) and not n.startswith("_"))


def _layers() -> list[str]:
    return [n for n in _classes() if n not in NOT_LAYERS and not n.startswith(LAZY_PREFIX)]


def test_every_torch_nn_class_has_a_node_or_a_reason():
    missing = [n for n in _layers() if n not in NODE_FOR and n not in LEFT_OUT]
    assert not missing, f"torch.nn classes with neither a node type nor a reason: {missing}"
    both = sorted(set(NODE_FOR) & set(LEFT_OUT))
    assert not both, f"both mapped and left out: {both}"
    assert all(len(why) > 15 for why in [*LEFT_OUT.values(), *NOT_LAYERS.values()])


def test_every_mapped_node_type_is_in_the_catalogue():
    gone = {cls: t for cls, t in NODE_FOR.items() if t not in catalogue.SPECS}
    assert not gone, f"mapped to node types the catalogue lacks: {gone}"
    stale = sorted(set(NODE_FOR) - set(_classes()))
    assert not stale, f"mapped, but not in this torch.nn: {stale}"


def test_at_least_nine_in_ten_layer_classes_have_a_node():
    layers = _layers()
    losses = [n for n in layers if n.endswith("Loss")]
    plain = [n for n in layers if n not in losses]
    have = [n for n in plain if n in NODE_FOR]
    assert len(have) / len(plain) >= 0.9, (len(have), len(plain), sorted(set(plain) - set(have)))
    have_losses = [n for n in losses if n in NODE_FOR]
    assert len(have_losses) / len(losses) >= 0.8, sorted(set(losses) - set(have_losses))
