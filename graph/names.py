"""Names a node or block may take, and the error a refused edit raises (graph/model.py)."""
from __future__ import annotations

import builtins
import keyword
import re
from typing import Any


class GraphError(ValueError):
    """A refused edit; the message says why in words a learner understands."""


# Names a node id may not take: they would shadow what the generated forward() uses.
RESERVED = (set(keyword.kwlist) | set(dir(builtins))
            | {"self", "torch", "device", "fx_pytree", "pytree", "inf", "nan", "NoneType",
               "operator", "nn", "F", "ops", "forward"})
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def id_problem(node_id: Any) -> str | None:
    """None if `node_id` can name a node, else why not."""
    if not isinstance(node_id, str) or not _ID.match(node_id):
        return (f"{node_id!r} is not a valid name: use letters, digits and _, starting with a "
                "letter (like conv1 or fc_out)")
    if "__" in node_id:
        return f"{node_id!r} is not a valid name: '__' is kept for generated names"
    if node_id in RESERVED:
        return f"{node_id!r} is a reserved Python name; choose another, such as {node_id}1"
    return None


def to_identifier(text: str) -> str:
    """A best-effort valid node id from free text ("Conv 1" -> "conv_1")."""
    s = re.sub(r"\W+", "_", text.strip().lower()).strip("_")
    s = re.sub(r"_+", "_", s)
    if not s or not s[0].isalpha():
        s = "n_" + s if s else "node"
    if s in RESERVED:
        s += "1"
    return s
