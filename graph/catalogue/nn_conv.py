"""torch.nn's convolutions and poolings over 1, 2 and 3 spatial axes (issue 26).

Each family is one table (a row per number of spatial axes: its help) and one generator: the
convolutions, transposed convolutions, max and average poolings come from conv.py's
generators, whose 2-d rows (Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d) stay in conv.py as
they were; the adaptive, power-average and fractional poolings are generated here. Each type
id is torch.nn's class name and builds that class, so a model's state_dict keys are torch's.
"""
from __future__ import annotations

from ..spec import Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import COLORS
from .conv import (conv_spec, conv_transpose_spec, its_input, pool_formula, pool_out, pool_spec,
                   spatial_input, spatial_out, whole_window, window)

_X, _Y = (Port("x"),), (Port("y"),)
_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}

# Convolutions ---------------------------------------------------------------------------------
_CONVS = (
    (conv_spec, 1, Doc(
        summary="Slides each learned filter along a sequence N × C × L (channels by time "
                "steps) and takes the dot product with the C × F values under it, giving one "
                "output channel per filter.",
        formula="y[o, t] = b[o] + Σ_c Σ_k W[o, c, k] · x[c, S·t + D·k − P]\n"
                "L_out = ⌊(L + 2P − D·(F − 1) − 1) / S⌋ + 1",
        use_case="Audio and time series (wav2vec 2.0's feature encoder, WaveNet's stacks of "
                 "dilated convolutions), and text CNNs over word embeddings turned to "
                 "N × E × T. Example: 40 mel bands × 100 frames through 64 filters of width 5 "
                 "with padding 2 (or 'same') gives 64 × 100.",
        notes="The channels come before the length: a sequence N × T × F needs a Permute to "
              "N × F × T first. D > 1 widens what each output sees (WaveNet doubles D per "
              "layer: 1, 2, 4, … reaches 2ᵏ steps back with k layers).")),
    (conv_spec, 3, Doc(
        summary="Slides each learned F × F × F filter through a volume N × C × D × H × W "
                "(frames or slices, height, width), giving one output volume per filter.",
        formula="y[o, z, i, j] = b[o] + Σ_c Σ_{a,m,n} W[o, c, a, m, n] · x[c, S·z + D·a − P, "
                "S·i + D·m − P, S·j + D·n − P]\n"
                "each output size = ⌊(I + 2P − D·(F − 1) − 1) / S⌋ + 1",
        use_case="Video (C3D and I3D learn motion with 3 × 3 × 3 kernels over frames × height × "
                 "width) and medical volumes (3D U-Net on CT and MRI). Example: 16 RGB frames "
                 "of 112 × 112 (N × 3 × 16 × 112 × 112) through 64 filters 3 × 3 × 3 with "
                 "padding 1 give N × 64 × 16 × 112 × 112.",
        notes="Costs F³ · C_in multiply-adds per output value: a (2+1)-D split, Conv3d over "
              "time after a per-frame Conv2d, is the cheaper alternative. One kernel size for "
              "all three axes here.")),
    (conv_transpose_spec, 1, Doc(
        summary="The transpose of Conv1d: each input step scatters a learned filter of F "
                "taps, scaled by its value, into the output, S steps apart. With F = S = 2 it "
                "doubles the length.",
        formula="y[o, S·t + D·k − P] += Σ_c x[c, t] · W[c, o, k]   (then + b)\n"
                "L_out = (L − 1)·S − 2P + D·(F − 1) + output_padding + 1",
        use_case="Up-sampling sequences: the decoders of audio autoencoders and vocoders "
                 "(MelGAN up-samples mel frames to samples with strided transposed 1-d convs). "
                 "Example: N × 32 × 50 through 16 filters, F = S = 2, gives N × 16 × 100.",
        notes="Its weight is in_channels × out_channels / groups × F, the transpose of "
              "Conv1d's. F a multiple of S avoids uneven overlaps (checkerboard artefacts).")),
    (conv_transpose_spec, 3, Doc(
        summary="The transpose of Conv3d: each input voxel scatters a learned F × F × F filter, "
                "scaled by its value, into the output, S voxels apart. With F = S = 2 it "
                "doubles depth, height and width.",
        formula="y[o, S·z + a, S·i + m, S·j + n] += Σ_c x[c, z, i, j] · W[c, o, a, m, n]\n"
                "each output size = (I − 1)·S − 2P + D·(F − 1) + output_padding + 1",
        use_case="The decoder of 3D U-Net and V-Net (volumetric segmentation): each level "
                 "doubles the volume back, e.g. N × 128 × 8 × 16 × 16 → N × 64 × 16 × 32 × 32 "
                 "with F = S = 2; video generators.",
        notes="F a multiple of S avoids checkerboard artefacts.")),
)

# Max and average poolings -----------------------------------------------------------------------
_POOLS = (
    ("Max", 1, Doc(
        summary="Down-samples each channel of a sequence by keeping the largest value of "
                "every window of F steps.",
        formula="y[c, t] = max_{k < F} x[c, S·t + D·k − P]\n"
                "L_out = ⌊(L + 2P − D·(F − 1) − 1) / S⌋ + 1",
        use_case="Text and signal CNNs: after a Conv1d + ReLU it halves the length and keeps "
                 "the strongest responses. Example (F = S = 2): [1, 3, 2, 5, 4, 0] → [3, 5, 4]. "
                 "A window as long as the sequence is Kim's max-over-time pooling.")),
    ("Max", 3, Doc(
        summary="Down-samples each channel of a volume N × C × D × H × W by keeping the "
                "largest value of every F × F × F window.",
        formula="y[c, z, i, j] = max over the window of x\n"
                "each output size = ⌊(I + 2P − D·(F − 1) − 1) / S⌋ + 1",
        use_case="Between the Conv3d stages of video and volume networks (C3D, 3D U-Net's "
                 "encoder): F = S = 2 halves depth, height and width; 16 × 112 × 112 → "
                 "8 × 56 × 56.",
        notes="One window size for all three axes here (C3D's first pool, 1 × 2 × 2, keeps "
              "the frames: not expressible).")),
    ("Avg", 1, Doc(
        summary="Down-samples each channel of a sequence by averaging every window of F "
                "steps.",
        formula="y[c, t] = (1/F) Σ_{k < F} x[c, S·t + k − P]\n"
                "L_out = ⌊(L + 2P − F) / S⌋ + 1",
        use_case="Smoothing and down-sampling time series and audio features (a moving "
                 "average with stride). Example (F = S = 2): [1, 3, 2, 6] → [2, 4].",
        notes="With padding, count_include_pad = False divides each edge window by the "
              "values that are really there instead of F.")),
    ("Avg", 3, Doc(
        summary="Down-samples each channel of a volume by averaging every F × F × F window.",
        formula="y[c, z, i, j] = (1/F³) Σ over the window of x\n"
                "each output size = ⌊(I + 2P − F) / S⌋ + 1",
        use_case="Smooth down-sampling of video clips and CT or MRI volumes; the last pooling "
                 "of 3D ResNets and I3D before their classifier.")),
)


# Adaptive poolings ------------------------------------------------------------------------------
def _output_sizes(ctx, dims: int) -> list[int]:
    sizes = ctx.p["output_size"]
    if len(sizes) not in (1, dims):
        ctx.fail(f"output_size lists {len(sizes)} sizes but this pool has {dims} spatial "
                 f"ax{'is' if dims == 1 else 'es'} ({_AXES[dims]}): give 1 (for all) or "
                 f"{dims}")
    if 0 in sizes:
        ctx.fail(f"output_size {', '.join(map(str, sizes))} must be >= 1 on every axis")
    return sizes * dims if len(sizes) == 1 else list(sizes)


def _as_torch(sizes: list[int]):
    return sizes[0] if len(sizes) == 1 else tuple(sizes)


def _output_size_param(default):
    return Param("output_size", "ints", default, "The output's size: one number per spatial "
                 "axis, or one number for all of them.")


def _adaptive_spec(kind: str, dims: int, doc: Doc) -> NodeSpec:
    type_ = f"Adaptive{kind}Pool{dims}d"

    def shape(ctx):
        t = spatial_input(ctx, dims)  # the output's size does not depend on the input's
        return {"y": TensorType((*t.shape[:2], *_output_sizes(ctx, dims)))}
    return NodeSpec(
        type=type_, title=type_, category="Pooling", id_prefix=f"adapt{kind.lower()}",
        inputs=_X, outputs=_Y, params=(_output_size_param([1]),), shape=shape,
        build=lambda ctx: Make(f"nn.{type_}",
                               {"output_size": _as_torch(ctx.p["output_size"])}),
        color=COLORS["Pooling"], doc=doc)


_WINDOWS = ("output i reads x[⌊i·I/O⌋ … ⌈(i + 1)·I/O⌉ − 1] along each axis "
            "(I the input's size, O the output's)")
_ADAPTIVE = (
    ("Avg", 1, Doc(
        summary="Averages each channel of a sequence down (or up) to a fixed length O, "
                "whatever the input's length: the windows are sized to fit.",
        formula="y[c, i] = mean of x[c, ⌊i·L/O⌋ … ⌈(i + 1)·L/O⌉ − 1]",
        use_case="A fixed-size summary of sequences of any length before a Linear layer; "
                 "O = 1 is global average pooling over time. Example: [1, 2, 3, 4, 5] to "
                 "O = 2 reads [1, 2, 3] and [3, 4, 5]: [2, 4].")),
    ("Avg", 2, Doc(
        summary="Averages each feature map down to a fixed H_out × W_out grid, whatever the "
                "image's size: the windows are sized to fit.",
        formula=f"y[c, i, j] = mean of x[c] over the window: {_WINDOWS}",
        use_case="torchvision's ResNet ends with AdaptiveAvgPool2d((1, 1)) (global average "
                 "pooling) and VGG with AdaptiveAvgPool2d((7, 7)), so any input size reaches "
                 "the classifier with the same number of features. Example: [[1, 2], [3, 6]] "
                 "to 1 × 1 gives 3.",
        notes="Windows overlap when O does not divide I, and repeat values when O > I.")),
    ("Avg", 3, Doc(
        summary="Averages each channel of a volume down to a fixed D_out × H_out × W_out "
                "grid, whatever its size.",
        formula=f"y[c, z, i, j] = mean of x[c] over the window: {_WINDOWS}",
        use_case="The head of video networks (torchvision's r3d_18 and MViT end with "
                 "AdaptiveAvgPool3d(1)): clips of any length and size give one feature per "
                 "channel.")),
    ("Max", 1, Doc(
        summary="Keeps the largest value of each of O windows sized to fit the sequence: a "
                "fixed-length output from any length.",
        formula="y[c, i] = max of x[c, ⌊i·L/O⌋ … ⌈(i + 1)·L/O⌉ − 1]",
        use_case="Max-over-time pooling of text CNNs (O = 1: the strongest response of each "
                 "filter anywhere in the sentence). Example: [1, 2, 3, 4, 5] to O = 2 reads "
                 "[1, 2, 3] and [3, 4, 5]: [3, 5].")),
    ("Max", 2, Doc(
        summary="Keeps the largest value of each window of a fixed H_out × W_out grid laid "
                "over the map, whatever its size.",
        formula=f"y[c, i, j] = max of x[c] over the window: {_WINDOWS}",
        use_case="Spatial pyramid pooling (SPP-net pools the last feature map to 1 × 1, "
                 "2 × 2 and 4 × 4 and concatenates them); RoI pooling in Fast R-CNN is this "
                 "pooling applied to each region, to 7 × 7.")),
    ("Max", 3, Doc(
        summary="Keeps the largest value of each window of a fixed D_out × H_out × W_out grid "
                "laid over the volume, whatever its size.",
        formula=f"y[c, z, i, j] = max of x[c] over the window: {_WINDOWS}",
        use_case="A fixed-size summary of clips or volumes of any size, e.g. to 1 × 1 × 1 "
                 "before a classifier, where the strongest response matters (a lesion "
                 "anywhere in a scan).")),
)


# Power-average (Lp) poolings --------------------------------------------------------------------
def _lp_spec(dims: int, doc: Doc) -> NodeSpec:
    type_ = f"LPPool{dims}d"

    def shape(ctx):
        t = spatial_input(ctx, dims)
        f, ceil = ctx.p["kernel_size"], ctx.p["ceil_mode"]
        s = ctx.p["stride"] or f

        def size(i):
            if dims == 3 and i < f:
                return 0, whole_window(ctx, t, f)
            o = pool_out(i, f, 0, s, 1, ceil)
            if o >= 1:
                return o, None
            return 0, (f"window {window(f, dims)} does not fit {its_input(ctx, t, dims)}: "
                       f"{pool_formula(ceil, p='0', d='(F − 1)')} = "
                       f"{pool_formula(ceil, i, 0, f - 1, s)} < 1")
        keeps = f == 1 and s == 1
        formula = pool_formula(ceil, p="0", d="(F − 1)")
        return {"y": TensorType((*t.shape[:2], *spatial_out(ctx, t, size, keeps, formula)))}
    return NodeSpec(
        type=type_, title=type_, category="Pooling", id_prefix="lppool", inputs=_X,
        outputs=_Y,
        params=(
            Param("norm_type", "float", 2.0, "The power p: 1 sums each window, 2 takes the "
                  "root of the sum of squares; a large p approaches max pooling.", min=1.0),
            Param("kernel_size", "int", 2, f"Window size ({window('F', dims)})." if dims > 1
                  else "Window size (F steps).", min=1, max=31),
            Param("stride", "int", None, "Step between windows; auto = the window size.", min=1,
                  auto=True),
            Param("ceil_mode", "bool", False, "Round the output size up, not down: a last, "
                  "partial window at the end is kept.")),
        shape=shape,
        build=lambda ctx: Make(f"nn.{type_}", {
            "norm_type": ctx.p["norm_type"], "kernel_size": ctx.p["kernel_size"],
            "stride": ctx.p["stride"] or ctx.p["kernel_size"], "ceil_mode": ctx.p["ceil_mode"]}),
        color=COLORS["Pooling"], doc=doc)


_LP_NOTES = ("torch computes it as (Fᵏ · average of xᵖ)^(1/p) (k spatial axes), the same for "
             "whole windows. Meant for non-negative inputs (after a ReLU) or an even p: where "
             "a window's sum of xᵖ is negative (odd p, negative values) the root gives NaN. "
             "No padding.")
_LP = (
    (1, Doc(
        summary="Pools each window of F steps by its p-norm: the p-th root of the sum of "
                "the p-th powers, between sum pooling (p = 1) and max pooling (p → ∞).",
        formula="y[c, t] = (Σ_{k < F} x[c, S·t + k]ᵖ)^(1/p)\nL_out = ⌊(L − F) / S⌋ + 1",
        use_case="Energy pooling of audio and sensor features (p = 2: the root of the "
                 "window's energy). Example (p = 2, F = S = 2): [3, 4, 0, 0] → [5, 0].",
        notes=_LP_NOTES)),
    (2, Doc(
        summary="Pools each F × F window of a feature map by its p-norm: the p-th root of the "
                "sum of the p-th powers, between sum pooling (p = 1) and max pooling (p → ∞).",
        formula="y[c, i, j] = (Σ_{window} xᵖ)^(1/p)\n"
                "each output size = ⌊(I − F) / S⌋ + 1",
        use_case="L2 pooling (p = 2) in early CNNs, e.g. Sermanet et al.'s house-number "
                 "reader, which found it better than max or average pooling there. Example "
                 "(p = 2, 2 × 2): [[3, 0], [0, 4]] → 5.",
        notes=_LP_NOTES)),
    (3, Doc(
        summary="Pools each F × F × F window of a volume by its p-norm, between sum (p = 1) "
                "and max (p → ∞) pooling.",
        formula="y[c, z, i, j] = (Σ_{window} xᵖ)^(1/p)\n"
                "each output size = ⌊(I − F) / S⌋ + 1",
        use_case="L2 (energy) pooling of video or volume features, where a window's overall "
                 "strength matters more than its single largest value.",
        notes=_LP_NOTES)),
)


# Fractional max poolings ------------------------------------------------------------------------
def _fractional_spec(dims: int, doc: Doc) -> NodeSpec:
    type_ = f"FractionalMaxPool{dims}d"

    def shape(ctx):
        t = spatial_input(ctx, dims)
        f = ctx.p["kernel_size"]
        sizes = _output_sizes(ctx, dims)
        for axis, (i, o) in enumerate(zip(t.shape[2:], sizes), 2):
            need = o + f - 1 if dims == 2 else o + f  # torch's 3-d check is strict
            if isinstance(i, int) and need > i:
                rule = "O + F − 1" if dims == 2 else "O + F"
                ctx.fail(f"output size {o} with kernel {f} needs {rule} = {need} input values "
                         f"on axis {axis}, but '{ctx.src('x')}' gives {t}", "x")
        return {"y": TensorType((*t.shape[:2], *sizes))}
    return NodeSpec(
        type=type_, title=type_, category="Pooling", id_prefix="fracpool", inputs=_X,
        outputs=_Y,
        params=(Param("kernel_size", "int", 2, f"Window size ({window('F', dims)}).", min=1,
                      max=31),
                _output_size_param([14])),
        shape=shape,
        build=lambda ctx: Make(f"nn.{type_}", {
            "kernel_size": ctx.p["kernel_size"],
            "output_size": _as_torch(ctx.p["output_size"])}),
        color=COLORS["Pooling"], doc=doc)


_FRACTIONAL_NOTES = (
    "Random even at inference: torch draws new window positions at every call, in eval mode "
    "too, so the same input gives slightly different outputs (Graham averages several "
    "passes at test time). Each output size O needs O + F − 1 ≤ I (2-d) or O + F ≤ I "
    "(3-d: torch's check).")
_FRACTIONAL = (
    (2, Doc(
        summary="Max pooling by a non-integer factor: F × F windows at pseudo-random, "
                "increasing positions give any output size between about I/2 and I, drawn "
                "anew for each sample and channel.",
        formula="along each axis, with α = (I − F)/(O − 1) and u ~ U(0, 1):\n"
                "window i starts at ⌊α·(i + u)⌋ − ⌊α·u⌋ (the last at I − F);  "
                "y[i] = max of its F values",
        use_case="Graham's fractional max-pooling (2014): shrinking by 1/√2 per layer instead "
                 "of 1/2 allows twice as many pooling layers, and the randomness regularises "
                 "like dropout. Example: 32 × 32 maps to output_size 22 with F = 2.",
        notes=_FRACTIONAL_NOTES)),
    (3, Doc(
        summary="Max pooling of a volume by a non-integer factor: F × F × F windows at "
                "pseudo-random, increasing positions give any output size between about I/2 "
                "and I.",
        formula="along each axis, with α = (I − F)/(O − 1) and u ~ U(0, 1):\n"
                "window i starts at ⌊α·(i + u)⌋ − ⌊α·u⌋ (the last at I − F);  "
                "y[i] = max of its F values",
        use_case="Gentle, randomised down-sampling of video clips or medical volumes, "
                 "e.g. 16 × 64 × 64 to 11 × 45 × 45 with F = 2.",
        notes=_FRACTIONAL_NOTES)),
)

SPECS = (
    *(make(dims, doc) for make, dims, doc in _CONVS),
    *(pool_spec(kind, dims, doc) for kind, dims, doc in _POOLS),
    *(_adaptive_spec(kind, dims, doc) for kind, dims, doc in _ADAPTIVE),
    *(_lp_spec(dims, doc) for dims, doc in _LP),
    *(_fractional_spec(dims, doc) for dims, doc in _FRACTIONAL),
)
