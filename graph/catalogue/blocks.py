"""A block definition's own ports: where values enter and leave a block (graph/blocks.py).

A block is a named graph used as one node. Inside its definition, each Block input node
is one input port of every instance (named after the node), and each Block output node one
output port. They exist only inside a definition: analysis gives a Block input the type of
what is wired into the instance, and compile wires straight through both.
"""
from __future__ import annotations

from ..spec import Doc, NodeSpec, Param, Port

CAT = "Blocks"
COLOR = "#2c3e50"


def _no_type(ctx):
    ctx.fail("takes its type from what is wired into the block where it is used")


BLOCK_INPUT = NodeSpec(
    type="BlockInput", title="Block input", category=CAT, role="block_input",
    id_prefix="x", inputs=(), outputs=(Port("out"),),
    params=(Param("optional", "bool", False,
                  "Whether the block may be used with this input left unwired (a padding "
                  "mask): inside, what it feeds then gets nothing on that port, as an "
                  "optional port left unwired."),),
    shape=_no_type, color=COLOR,
    doc=Doc(
        summary="An input port of the block this graph defines: the value wired into the "
                "block where it is used enters here. Its name is the port's name.",
        use_case="Inside a block definition only. A block with two inputs (a decoder layer's "
                 "tokens and the encoder's memory) has two of these.",
    ),
    channels_last="safe",
)

BLOCK_OUTPUT = NodeSpec(
    type="BlockOutput", title="Block output", category=CAT, role="block_output",
    id_prefix="y", inputs=(Port("x"),), outputs=(), params=(), shape=lambda ctx: {},
    color=COLOR,
    doc=Doc(
        summary="An output port of the block this graph defines: what is wired here leaves "
                "the block. Its name is the port's name.",
        use_case="Inside a block definition only. With `repeat`, each output feeds the input "
                 "at the same place in the next repetition.",
    ),
    channels_last="safe",
)

SPECS = (BLOCK_INPUT, BLOCK_OUTPUT)
