"""Helpers shared by the catalogue families: common params, colours, shape checks."""
from __future__ import annotations

from ..spec import Param, ShapeContext, TensorType

COLORS = {
    "Input / Output": "#2e86de",
    "Core": "#16a085",
    "Activation": "#e67e22",
    "Convolution": "#c0392b",
    "Pooling": "#8e44ad",
    "Normalization": "#7f8c8d",
    "Structure": "#34495e",
    "Recurrent": "#1f6f8b",
    "Sequence": "#4a6378",
    "Attention": "#6b8e23",
    "Generative": "#8e5572",
    "Detection": "#b9770e",
    "Loss": "#b03a2e",
}

INIT = Param(
    "init", "choice", "default",
    "How the weights start. 'xavier' (Glorot) keeps the variance of activations and gradients "
    "steady through tanh and sigmoid layers; 'he' (Kaiming), W ~ N(0, 2/n_in), does the same for "
    "ReLU layers. Both counter vanishing gradients. 'default' is PyTorch's own scheme.",
    choices=("default", "xavier", "he"),
)

BIAS = Param("bias", "bool", True, "Learn an additive bias b.")


def fmt(t: TensorType) -> str:
    return str(t)


def need_rank(ctx: ShapeContext, port: str, ranks: tuple[int, ...], what: str) -> TensorType:
    """The type on `port`, checked to have one of `ranks` dims (batch included)."""
    t = ctx.ins[port]
    if len(t.shape) not in ranks:
        ctx.fail(f"needs {what} but '{ctx.src(port)}' gives {t}", port)
    return t


def need_float(ctx: ShapeContext, port: str) -> TensorType:
    t = ctx.ins[port]
    if t.dtype != "float32":
        ctx.fail(f"needs real numbers (float32) but '{ctx.src(port)}' gives {t.dtype} values; "
                 "class indices go to a Target or an Embedding", port)
    return t


def check_features(ctx: ShapeContext, port: str, declared, got, noun: str) -> int:
    """A declared size (None = auto) against the one found on the input."""
    if not isinstance(got, int):
        ctx.fail(f"needs a known number of {noun} but '{ctx.src(port)}' gives {ctx.ins[port]}", port)
    if declared is not None and declared != got:
        ctx.fail(f"expects {declared} {noun} but '{ctx.src(port)}' gives {got}", port)
    return got


def same_as_input(ctx: ShapeContext) -> dict:
    return {"y": ctx.ins["x"]}
