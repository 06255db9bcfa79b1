"""Batch normalisation (Dropout lives with the core layers)."""
from __future__ import annotations

from ..spec import Doc, Make, NodeSpec, Param, Port
from ._common import COLORS, check_features, need_float, need_rank, same_as_input

_DOC = Doc(
    summary="Normalises each channel over the batch to zero mean and unit variance, then "
            "scales and shifts it with learned γ and β.",
    formula="ĥᵢ = (hᵢ − μ_B) / √(σ_B² + ε)        y = γ ĥ + β",
    use_case="Stabilises and speeds up training of deep networks; one of the seed notes' "
             "remedies for exploding gradients, next to gradient clipping and L2 weight decay.",
    notes="Uses batch statistics while training and running averages at inference.",
)


def _bn(type_, ranks, what, **kw):
    def shape(ctx):
        t = need_rank(ctx, "x", ranks, what)
        need_float(ctx, "x")
        check_features(ctx, "x", ctx.p["num_features"], t.shape[1], "channels")
        return same_as_input(ctx)

    return NodeSpec(
        type=type_, title=type_, category="Normalization", id_prefix="bn",
        inputs=(Port("x"),), outputs=(Port("y"),),
        params=(
            Param("num_features", "int", None, "Channels C; auto takes them from the input.",
                  min=1, auto=True),
            Param("eps", "float", 1e-5, "ε added to the variance for stability.", min=0.0),
            Param("momentum", "float", 0.1, "Weight of the new batch in the running averages.",
                  min=0.0, max=1.0),
        ),
        shape=shape,
        build=lambda ctx: Make(f"nn.{type_}", {"num_features": ctx.ins["x"].shape[1],
                                               "eps": ctx.p["eps"],
                                               "momentum": ctx.p["momentum"]}),
        color=COLORS["Normalization"], doc=_DOC, **kw)


BATCHNORM1D = _bn("BatchNorm1d", (2, 3), "features N × C (or N × C × L)")
BATCHNORM2D = _bn("BatchNorm2d", (4,), "an image-shaped input N × C × H × W", channels_last="safe")

SPECS = (BATCHNORM1D, BATCHNORM2D)
