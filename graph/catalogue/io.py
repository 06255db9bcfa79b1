"""Where data enters and leaves: Input, Target and Output."""
from __future__ import annotations

from ..spec import Doc, NodeSpec, Param, Port, TensorType
from ._common import COLORS

CAT = "Input / Output"

_SHAPE = Param(
    "shape", "shape", [2],
    "The size of one sample, without the batch dimension: [2] for two features, "
    "[1, 28, 28] for a one-channel 28 × 28 image, [] for one number per sample, ['T', 2] "
    "for sequences of 2 features whose length T the data sets (a name stands for a size).",
    role="sample_shape",
)
_DTYPE = Param(
    "dtype", "choice", "float32",
    "float32 for measurements and pixels; int64 for class indices and token ids.",
    choices=("float32", "int64"),
)


def _source(ctx):
    return {"out": TensorType(("N", *ctx.p["shape"]), ctx.p["dtype"])}


_VALUE = (Port("out", role="value"),)


INPUT = NodeSpec(
    type="Input", title="Input", category=CAT, role="input", id_prefix="input",
    inputs=(), outputs=_VALUE, params=(_SHAPE, _DTYPE), shape=_source,
    color=COLORS[CAT],
    doc=Doc(
        summary="The input layer: receives one batch of samples from the dataset. The batch "
                "size N is added in front of the shape you give.",
        formula="x ∈ ℝ^(N × shape)",
        use_case="Every model starts here: features x₁ … xₙ for an MLP, an image for a CNN, "
                 "a sequence for an RNN. Bind it to a dataset field in the training settings.",
    ),
    channels_last="safe",
)

TARGET = NodeSpec(
    type="Target", title="Target", category=CAT, role="target", id_prefix="target",
    inputs=(), outputs=_VALUE,
    params=(
        Param("shape", "shape", [], _SHAPE.help, role="sample_shape"),
        Param("dtype", "choice", "int64", _DTYPE.help, choices=("float32", "int64")),
    ),
    shape=_source, color="#6c3483",
    doc=Doc(
        summary="The true answers y for a batch, fed from the dataset. Wire it to a loss, "
                "next to the model's prediction ŷ.",
        formula="y ∈ ℝ^(N × shape)",
        use_case="Class indices (shape [], int64) for classification, values for regression. "
                 "Targets are used only in training: the exported model has none.",
    ),
    channels_last="safe",
)

OUTPUT = NodeSpec(
    type="Output", title="Output", category=CAT, role="output", id_prefix="output",
    inputs=(Port("x"),), outputs=(), params=(), shape=lambda ctx: {},
    color=COLORS[CAT],
    doc=Doc(
        summary="The output layer's result: what the trained model returns.",
        formula="ŷ = model(x)",
        use_case="Mark each value the exported model should return; a model may have several "
                 "outputs (a detector's class scores and boxes).",
    ),
    channels_last="safe",
)

SPECS = (INPUT, TARGET, OUTPUT)
