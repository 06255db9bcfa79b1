"""LayerLoom's own classes in an imported file (issue 26, item 6: the round trip).

A project's standalone Python export copies the runtime classes some nodes build (a GRU with
batch-first states, the Perceptron, ...) into the file, source and all. When such a file is
imported back, a module whose class has the same name and the same source as the runtime
class a node type builds ("ops.GRU") is that node, and stays a leaf of the trace: tracing
into it would meet torch's own control flow, or rebuild a node from its parts.

Which runtime class a node type builds is read from its build rule's source (its
Make("ops.X") target): the catalogue stays the one place that names layers. Nothing is run
to decide it; the import's verification against the original module checks the outcome.
"""
from __future__ import annotations

import functools
import inspect
import re
import textwrap

from torch import nn

from graph import catalogue

_MAKE = re.compile(r"""Make\(\s*["']ops\.(\w+)["']""")


@functools.cache
def _built_by() -> dict[str, str]:
    """Runtime class name -> the one node type whose build rule makes it (names two node
    types make are left out: the class alone would not say which node it was)."""
    seen: dict[str, set[str]] = {}
    for spec in catalogue.SPECS.values():
        try:
            src = inspect.getsource(spec.build)
        except (OSError, TypeError):
            continue
        for name in set(_MAKE.findall(src)):
            seen.setdefault(name, set()).add(spec.type)
    return {name: next(iter(types)) for name, types in seen.items() if len(types) == 1}


@functools.cache
def _runtime_source(name: str) -> str | None:
    from runtime.modules import OPS
    obj = OPS.get(name)
    if not isinstance(obj, type):
        return None
    try:
        return textwrap.dedent(inspect.getsource(obj)).strip()
    except (OSError, TypeError):
        return None


def own_node_type(module: nn.Module) -> str | None:
    """The node type whose runtime class `module` is a copy of (same name, same source), or
    None. The runtime classes themselves count too (a model built in Python from them)."""
    cls = type(module)
    node = _built_by().get(cls.__name__)
    if node is None:
        return None
    from runtime.modules import OPS
    if OPS.get(cls.__name__) is cls:
        return node
    want = _runtime_source(cls.__name__)
    try:
        got = textwrap.dedent(inspect.getsource(cls)).strip()
    except (OSError, TypeError):
        return None
    return node if want is not None and got == want else None
