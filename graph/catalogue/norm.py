"""Normalisation layers, torch.nn's classes (Dropout lives with the core layers): batch and
instance normalisation per dimension, generated from one table each, then group, RMS and
local response normalisation. Each node builds the torch class of its type id."""
from __future__ import annotations

from ..spec import Doc, Make, NodeSpec, Param, Port, is_symbol, numel
from ._common import COLORS, check_features, need_float, need_rank, same_as_input

CAT = "Normalization"
_X, _Y = (Port("x"),), (Port("y"),)

_BN_DOC = Doc(
    summary="Normalises each channel over the batch to zero mean and unit variance, then "
            "scales and shifts it with learned γ and β.",
    formula="ĥᵢ = (hᵢ − μ_B) / √(σ_B² + ε)        y = γ ĥ + β",
    use_case="Stabilises and speeds up training of deep networks; one of the seed notes' "
             "remedies for exploding gradients, next to gradient clipping and L2 weight decay.",
    notes="Uses batch statistics while training and running averages at inference.",
)

_IN_DOC = Doc(
    summary="Normalises each channel of each sample on its own, over its positions (L, H × W "
            "or D × H × W), to zero mean and unit variance; optionally scales and shifts it "
            "with learned γ and β (affine).",
    formula="μ[n, c] = mean of x[n, c, …] over the positions,  σ²[n, c] their (biased) "
            "variance\ny[n, c, …] = (x[n, c, …] − μ[n, c]) / √(σ²[n, c] + ε) · γ[c] + β[c]",
    use_case="Style transfer (Ulyanov et al. 2016) and image-to-image GAN generators (pix2pix, "
             "CycleGAN): each image's contrast is removed, whatever else is in the batch. "
             "Example: a channel [1, 2, 3] has μ = 2, σ² = 2/3 and becomes about "
             "[−1.2247, 0, 1.2247].",
    notes="Unlike BatchNorm it does not mix samples, so training and inference agree (unless "
          "track_running_stats keeps running averages for inference). A channel needs more "
          "than one position: with a single value its variance is 0. No γ, β by default "
          "(affine off), as in torch.",
)


def _per_channel(type_, ranks, what, doc, prefix, extra=(), spatial=False, **kw):
    """A layer normalising each channel: BatchNorm (extra = ()) or InstanceNorm (extra =
    affine, track_running_stats; `spatial`: a channel needs more than one position)."""
    def shape(ctx):
        t = need_rank(ctx, "x", ranks, what)
        need_float(ctx, "x")
        check_features(ctx, "x", ctx.p["num_features"], t.shape[1], "channels")
        if spatial and numel(t.shape[2:]) == 1:
            ctx.fail(f"needs more than one position per channel (torch refuses it in "
                     f"training: the variance of one value is 0), but '{ctx.src('x')}' gives "
                     f"{t}", "x")
        return same_as_input(ctx)

    names = ("eps", "momentum", *(p.name for p in extra))
    return NodeSpec(
        type=type_, title=type_, category=CAT, id_prefix=prefix, inputs=_X, outputs=_Y,
        params=(
            Param("num_features", "int", None, "Channels C; auto takes them from the input.",
                  min=1, auto=True),
            Param("eps", "float", 1e-5, "ε added to the variance for stability.", min=0.0),
            Param("momentum", "float", 0.1, "Weight of the new batch in the running averages.",
                  min=0.0, max=1.0),
            *extra),
        shape=shape,
        build=lambda ctx: Make(f"nn.{type_}", {"num_features": ctx.ins["x"].shape[1],
                                               **{n: ctx.p[n] for n in names}}),
        color=COLORS[CAT], doc=doc, **kw)


_AFFINE = Param("affine", "bool", False, "Learn a scale γ and shift β per channel.")
_TRACK = Param("track_running_stats", "bool", False,
               "Keep running averages of the mean and variance and use them at inference "
               "(off: every sample's own statistics, always).")
_VOLUME = "a volume N × C × D × H × W"
# type id, input ranks (batch included), what it reads, channels-last (measured)
_BATCH = (("BatchNorm1d", (2, 3), "features N × C (or N × C × L)", ""),
          ("BatchNorm2d", (4,), "an image-shaped input N × C × H × W", "safe"),
          ("BatchNorm3d", (5,), _VOLUME, ""))
_INSTANCE = (("InstanceNorm1d", (3,), "a sequence N × C × L"),
             ("InstanceNorm2d", (4,), "an image-shaped input N × C × H × W"),
             ("InstanceNorm3d", (5,), _VOLUME))
BATCHNORMS = tuple(_per_channel(t, r, w, _BN_DOC, "bn", channels_last=cl)
                   for t, r, w, cl in _BATCH)
BATCHNORM1D, BATCHNORM2D, BATCHNORM3D = BATCHNORMS
INSTANCENORMS = tuple(_per_channel(t, r, w, _IN_DOC, "inorm", (_AFFINE, _TRACK), spatial=True)
                      for t, r, w in _INSTANCE)


def _group_shape(ctx):
    t = need_rank(ctx, "x", tuple(range(2, 17)), "channels N × C × … (2 dims or more)")
    need_float(ctx, "x")
    c = check_features(ctx, "x", ctx.p["num_channels"], t.shape[1], "channels")
    g = ctx.p["num_groups"]
    if c % g:
        ctx.fail(f"splits its channels into {g} groups, but '{ctx.src('x')}' gives {t}: "
                 f"C = {c} is not divisible by {g}", "x")
    return same_as_input(ctx)


GROUPNORM = NodeSpec(
    type="GroupNorm", title="GroupNorm", category=CAT, id_prefix="gn", inputs=_X, outputs=_Y,
    params=(Param("num_groups", "int", 1, "Groups G the channels are split into (C must be "
                  "divisible by G); 32 is the usual choice in ResNets.", min=1),
            Param("num_channels", "int", None, "Channels C; auto takes them from the input.",
                  min=1, auto=True),
            Param("eps", "float", 1e-5, "ε added to the variance for stability.", min=0.0),
            Param("affine", "bool", True, "Learn a scale γ and shift β per channel.")),
    shape=_group_shape,
    build=lambda ctx: Make("nn.GroupNorm", {"num_groups": ctx.p["num_groups"],
                                            "num_channels": ctx.ins["x"].shape[1],
                                            "eps": ctx.p["eps"], "affine": ctx.p["affine"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Splits the C channels into G groups of C/G and normalises each group of each "
                "sample over its channels and positions; then scales and shifts every channel "
                "with learned γ and β.",
        formula="μ[n, g], σ²[n, g] = mean and variance of x[n, c, …] over the channels c of "
                "group g and all positions\n"
                "y[n, c, …] = (x[n, c, …] − μ[n, g]) / √(σ²[n, g] + ε) · γ[c] + β[c]",
        use_case="Detection and segmentation, whose batches are too small for BatchNorm "
                 "(Wu and He 2018: Mask R-CNN with GroupNorm, G = 32). Example: C = 64, G = 32 "
                 "normalises channels in pairs.",
        notes="Independent of the batch size, the same in training and inference. G = 1 is "
              "LayerNorm over C × H × W; G = C is InstanceNorm with γ and β."))


def _rms_shape(ctx):
    t = need_float(ctx, "x")
    dims = ctx.p["normalized_shape"]
    if dims is None:
        if len(t.shape) < 2 or not isinstance(t.shape[-1], int):
            ctx.fail(f"needs a known last size (auto normalized_shape: the last dim) but "
                     f"'{ctx.src('x')}' gives {t}", "x")
        return same_as_input(ctx)
    if -1 in dims:
        ctx.fail(f"has normalized_shape {dims}: the sizes of the last dims, -1 is not one")
    if len(dims) > len(t.shape) - 1:
        ctx.fail(f"normalises over the last {len(dims)} dims {dims} but '{ctx.src('x')}' gives "
                 f"{t}, which has {len(t.shape) - 1} after the batch", "x")
    tail = list(t.shape[len(t.shape) - len(dims):])
    if tail != dims:
        why = "a known size is needed" if any(is_symbol(d) for d in tail) else "they differ"
        ctx.fail(f"normalises over the last dims {dims} (normalized_shape) but "
                 f"'{ctx.src('x')}' gives {t}, whose last dims are {tail}: {why}", "x")
    return same_as_input(ctx)


RMSNORM = NodeSpec(
    type="RMSNorm", title="RMSNorm", category=CAT, id_prefix="rms", inputs=_X, outputs=_Y,
    params=(Param("normalized_shape", "dims", None, "The last dims normalised together, e.g. "
                  "[512]; auto: the last dim of the input.", auto=True),
            Param("eps", "float", None, "ε added to the mean square; auto: the smallest step "
                  "of float32 (torch.finfo(float32).eps ≈ 1.19e-7).", min=0.0, auto=True),
            Param("elementwise_affine", "bool", True, "Learn a scale γ per normalised value.")),
    shape=_rms_shape,
    build=lambda ctx: Make("nn.RMSNorm", {
        "normalized_shape": list(ctx.ins["x"].shape[
            len(ctx.ins["x"].shape) - len(ctx.p["normalized_shape"] or [0]):]),
        "eps": ctx.p["eps"], "elementwise_affine": ctx.p["elementwise_affine"]}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Root-mean-square normalisation: divides each sample's last dims by their root "
                "mean square, then scales them by a learned γ. No mean is subtracted and there "
                "is no shift.",
        formula="RMS(x) = √(ε + (1/n) Σᵢ xᵢ²)        yᵢ = xᵢ / RMS(x) · γᵢ\n"
                "(over the n values of the last dims, normalized_shape)",
        use_case="The transformer blocks of T5 and LLaMA, in place of LayerNorm: cheaper, and "
                 "as stable. Example: x = [3, 4] has mean square 12.5, RMS ≈ 3.5355, so "
                 "y ≈ [0.8485, 1.1314] (γ = 1).",
        notes="The output's scale is fixed but not its mean. Usually before the attention and "
              "feed-forward sub-layers (pre-norm)."))


def _lrn_shape(ctx):
    need_rank(ctx, "x", tuple(range(3, 17)), "channels N × C × … (3 dims or more)")
    need_float(ctx, "x")
    return same_as_input(ctx)


LOCAL_RESPONSE_NORM = NodeSpec(
    type="LocalResponseNorm", title="LocalResponseNorm", category=CAT, id_prefix="lrn",
    inputs=_X, outputs=_Y,
    params=(Param("size", "int", 5, "Neighbouring channels n in each window (the channel "
                  "itself included).", min=1, max=4096),
            Param("alpha", "float", 1e-4, "Multiplier α of the windows' sum of squares.",
                  min=0.0),
            Param("beta", "float", 0.75, "Exponent β.", min=0.0),
            Param("k", "float", 1.0, "Additive constant k.", min=0.0)),
    shape=_lrn_shape,
    build=lambda ctx: Make("nn.LocalResponseNorm", {n: ctx.p[n] for n in
                                                    ("size", "alpha", "beta", "k")}),
    color=COLORS[CAT],
    doc=Doc(
        summary="Divides each value by a power of the sum of squares of the same position in "
                "the n neighbouring channels: a strong channel damps its neighbours (lateral "
                "inhibition).",
        formula="y[c] = x[c] / (k + (α/n) Σ x[c′]²)^β,   c′ from c − ⌊n/2⌋ to c + ⌊(n − 1)/2⌋ "
                "(channels outside count 0)",
        use_case="AlexNet (n = 5, α = 10⁻⁴, β = 0.75, k = 2) after its first two convolutions. "
                 "Example: channels [1, 2] at one position, n = 2, α = β = k = 1, give "
                 "1 / (1 + 1/2) ≈ 0.6667 and 2 / (1 + 5/2) ≈ 0.5714.",
        notes="No weights. Largely replaced by BatchNorm since 2015."))

SPECS = (*BATCHNORMS, *INSTANCENORMS, GROUPNORM, RMSNORM, LOCAL_RESPONSE_NORM)
