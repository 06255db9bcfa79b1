"""Convolution and pooling: the feature extractors of a CNN.

Conv1d/2d/3d, ConvTranspose1d/2d/3d, MaxPool1d/2d/3d and AvgPool1d/2d/3d are generated from
one table each (a row per number of spatial axes) by one function per kind. The 2-d members
keep the params, titles, docs and builds they had before issue 26 (the new params come last,
with defaults that build what was built before); the 1-d and 3-d members are listed by
graph/catalogue/nn_conv.py with the rest of the torch.nn convolution and pooling layers.
"""
from __future__ import annotations

from ..spec import Call, Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import BIAS, COLORS, INIT, check_features, need_float, need_rank

_X, _Y = (Port("x"),), (Port("y"),)
_IMAGE = "an image-shaped input N × C × H × W"
INPUT = {1: "a sequence-shaped input N × C × L", 2: _IMAGE,
         3: "a volume-shaped input N × C × D × H × W"}


def conv_padding(padding, kernel: int, dilation: int = 1) -> int | str:
    """'valid' -> 0; 'same' -> D·(F − 1)/2 when that is whole (any stride: odd kernels), else
    torch's own 'same' (stride 1 only), which pads the odd pixel on the far side."""
    if padding == "valid":
        return 0
    if padding == "same":
        total = dilation * (kernel - 1)
        return total // 2 if total % 2 == 0 else "same"
    return padding


def out_size(i: int, f: int, p: int, s: int) -> int:
    """Output size = (I − F + 2P) / S + 1, rounded down."""
    return (i - f + 2 * p) // s + 1


def spatial_input(ctx, dims: int) -> TensorType:
    """The input N × C × (dims spatial sizes), real numbers."""
    t = need_rank(ctx, "x", (dims + 2,), INPUT[dims])
    need_float(ctx, "x")
    return t


def sizes_text(t: TensorType) -> str:
    return " × ".join(str(d) for d in t.shape[2:])


def window(f: int, dims: int) -> str:
    return " × ".join([str(f)] * dims)


def its_input(ctx, t: TensorType, dims: int) -> str:
    """'its 4 × 4 input from 'x'' (the length, for one axis)."""
    if dims == 1:
        return f"the length {t.shape[2]} of its input from '{ctx.src('x')}'"
    return f"its {sizes_text(t)} input from '{ctx.src('x')}'"


def spatial_out(ctx, t: TensorType, size, keeps: bool, formula: str) -> list:
    """Each spatial size through `size(i)`, which returns (output size, formula with the
    numbers, or None where it fits). A symbolic size passes through where `keeps` (the
    output equals the input whatever its size), else it is refused: the output needs it."""
    out = []
    for axis, i in enumerate(t.shape[2:], 2):
        if not isinstance(i, int):
            if keeps:
                out.append(i)
                continue
            ctx.fail(f"needs a known size on axis {axis} but '{ctx.src('x')}' gives {t}: the "
                     f"output's size {formula} needs a number for I", "x")
        o, why = size(i)
        if why:
            ctx.fail(why, "x")
        out.append(o)
    return out


def groups_fit(ctx, channels: int, out_channels: int, groups: int) -> None:
    if channels % groups:
        ctx.fail(f"groups {groups} must divide the input channels, but '{ctx.src('x')}' gives "
                 f"{channels} (not a multiple of {groups})", "x")
    if out_channels % groups:
        ctx.fail(f"groups {groups} must divide out_channels {out_channels}")


def _new_kwargs(p, names_defaults) -> dict:
    """The params added after the first release, given to torch only when not their defaults,
    so that a node set as before builds exactly what it built before."""
    return {k: p[k] for k, d in names_defaults if p[k] != d}


# Convolution ----------------------------------------------------------------------------------
_CONV_FORMULA = "⌊(I + 2P − D·(F − 1) − 1) / S⌋ + 1"


def _conv_shape(dims):
    def shape(ctx):
        t = spatial_input(ctx, dims)
        p = ctx.p
        c = check_features(ctx, "x", p["in_channels"], t.shape[1], "input channels")
        groups_fit(ctx, c, p["out_channels"], p["groups"])
        f, s, d, mode = p["kernel_size"], p["stride"], p["dilation"], p["padding_mode"]
        pad = conv_padding(p["padding"], f, d)
        if pad == "same" and s != 1:
            dil = f" and dilation {d}" if d != 1 else ""
            ctx.fail(f"cannot keep the size ('same' padding) with an even kernel {f}{dil} and "
                     f"stride {s}: use an odd kernel or a number for the padding")
        if pad == "same":
            sides = ((d * (f - 1)) // 2, d * (f - 1) - (d * (f - 1)) // 2)
        else:
            sides = (pad, pad)

        def size(i):
            if mode == "reflect" and max(sides) >= i:
                return 0, (f"padding {max(sides)} in 'reflect' mode must be less than each input "
                           f"size, but '{ctx.src('x')}' gives {t}")
            if mode == "circular" and max(sides) > i:
                return 0, (f"padding {max(sides)} in 'circular' mode must be at most each input "
                           f"size (it wraps around once), but '{ctx.src('x')}' gives {t}")
            if pad == "same":
                return i, None
            o = (i + 2 * pad - d * (f - 1) - 1) // s + 1
            if o >= 1:
                return o, None
            if d == 1:
                sums = f"(I − F + 2P)/S + 1 = ({i} − {f} + {2 * pad})/{s} + 1 < 1"
            else:
                sums = (f"{_CONV_FORMULA} = ⌊({i} + {2 * pad} − {d * (f - 1)} − 1) / {s}⌋ + 1 "
                        "< 1")
            dil = f", dilation {d}" if d != 1 else ""
            return 0, (f"kernel {window(f, dims)} does not fit {its_input(ctx, t, dims)} "
                       f"(padding {pad}{dil}): {sums}")
        keeps = pad == "same" or (s == 1 and 2 * pad == d * (f - 1))
        return {"y": TensorType((t.shape[0], p["out_channels"],
                                 *spatial_out(ctx, t, size, keeps, _CONV_FORMULA)))}
    return shape


def _conv_build(dims):
    def build(ctx):
        p = ctx.p
        kw = {"in_channels": ctx.ins["x"].shape[1], "out_channels": p["out_channels"],
              "kernel_size": p["kernel_size"], "stride": p["stride"],
              "padding": conv_padding(p["padding"], p["kernel_size"], p["dilation"]),
              **_new_kwargs(p, (("dilation", 1), ("groups", 1))), "bias": p["bias"],
              **_new_kwargs(p, (("padding_mode", "zeros"),))}
        return Make(f"nn.Conv{dims}d", kw, init=p["init"])
    return build


_DILATION = Param("dilation", "int", 1, "Spacing D between the kernel's taps: D = 2 spreads a "
                  "3-wide kernel over 5 inputs (a dilated, or atrous, convolution), widening "
                  "what each output sees at no extra weights.", min=1)
_GROUPS = Param("groups", "int", 1, "Split the input and output channels into this many groups, "
                "each convolved on its own; both channel counts must be multiples of it. "
                "groups = in_channels is a depthwise convolution (MobileNet).", min=1)


def conv_spec(dims: int, doc: Doc, channels_last: str = "") -> NodeSpec:
    """Conv1d, Conv2d or Conv3d (torch.nn's class of that name)."""
    axes = window("F", dims)
    return NodeSpec(
        type=f"Conv{dims}d", title=f"Conv{dims}d", category="Convolution", id_prefix="conv",
        inputs=_X, outputs=_Y,
        params=(
            Param("out_channels", "int", 16, "Number of filters, each making one feature map.",
                  min=1),
            Param("kernel_size", "int", 3, f"Filter size F ({axes})." if dims > 1 else
                  "Filter size F (taps along the length).", min=1, max=31),
            Param("stride", "int", 1, "How many pixels the filter moves each step (S)." if
                  dims > 1 else "How many steps the filter moves each time (S).", min=1, max=16),
            Param("padding", "padding", "valid",
                  "'valid' adds no border (the output shrinks); 'same' adds zeros so that the "
                  "output keeps the input's size (at stride 1); or a number P of zero pixels per "
                  "side." if dims == 2 else
                  "'valid' adds no border (the output shrinks); 'same' pads so that the output "
                  "keeps the input's size (at stride 1); or a number P of values per side."),
            Param("in_channels", "int", None, "Input channels; auto takes them from the input.",
                  min=1, auto=True),
            BIAS, INIT, _DILATION, _GROUPS,
            Param("padding_mode", "choice", "zeros",
                  "What the border holds: 'zeros'; 'reflect' mirrors the input without "
                  "repeating the edge (P must be less than the size); 'replicate' repeats the "
                  "edge value; 'circular' wraps around (P at most the size).",
                  choices=("zeros", "reflect", "replicate", "circular"))),
        shape=_conv_shape(dims), build=_conv_build(dims), color=COLORS["Convolution"], doc=doc,
        channels_last=channels_last)


# Transposed convolution -----------------------------------------------------------------------
_DECONV_FORMULA = "(I − 1)·S − 2P + D·(F − 1) + output_padding + 1"


def _deconv_shape(dims):
    def shape(ctx):
        t = spatial_input(ctx, dims)
        p = ctx.p
        c = check_features(ctx, "x", p["in_channels"], t.shape[1], "input channels")
        groups_fit(ctx, c, p["out_channels"], p["groups"])
        f, s, pad = p["kernel_size"], p["stride"], p["padding"]
        d, op = p["dilation"], p["output_padding"]
        if op >= s and op >= d:
            ctx.fail(f"output_padding {op} must be smaller than the stride ({s}) or the "
                     f"dilation ({d})")

        def size(i):
            o = (i - 1) * s - 2 * pad + d * (f - 1) + op + 1
            if o >= 1:
                return o, None
            if d == 1 and op == 0:
                sums = f"(I − 1)·S − 2P + F = ({i} − 1)·{s} − {2 * pad} + {f} < 1"
            else:
                sums = (f"{_DECONV_FORMULA} = ({i} − 1)·{s} − {2 * pad} + {d * (f - 1)} + {op}"
                        " + 1 < 1")
            if dims == 1:
                return 0, (f"padding {pad} leaves nothing of the length {i} of its input from "
                           f"'{ctx.src('x')}': {sums}")
            return 0, (f"padding {pad} leaves nothing of its {sizes_text(t)} input from "
                       f"'{ctx.src('x')}': {sums}")
        keeps = s == 1 and d * (f - 1) + op == 2 * pad
        return {"y": TensorType((t.shape[0], p["out_channels"],
                                 *spatial_out(ctx, t, size, keeps, _DECONV_FORMULA)))}
    return shape


def _deconv_build(dims):
    def build(ctx):
        p = ctx.p
        return Make(f"nn.ConvTranspose{dims}d", {
            "in_channels": ctx.ins["x"].shape[1], "out_channels": p["out_channels"],
            "kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
            **_new_kwargs(p, (("output_padding", 0), ("groups", 1))), "bias": p["bias"],
            **_new_kwargs(p, (("dilation", 1),))}, init=p["init"])
    return build


def conv_transpose_spec(dims: int, doc: Doc, title: str = "") -> NodeSpec:
    """ConvTranspose1d, ConvTranspose2d or ConvTranspose3d."""
    what = window("F", dims) if dims > 1 else "taps along the length"
    return NodeSpec(
        type=f"ConvTranspose{dims}d", title=title or f"ConvTranspose{dims}d",
        category="Convolution", id_prefix="deconv", inputs=_X, outputs=_Y,
        params=(
            Param("out_channels", "int", 16, "Number of output feature maps.", min=1),
            Param("kernel_size", "int", 2, f"Filter size F ({what}).", min=1, max=31),
            Param("stride", "int", 2, "Output pixels per input pixel (S): 2 doubles the size."
                  if dims > 1 else "Output steps per input step (S): 2 doubles the length.",
                  min=1, max=16),
            Param("padding", "int", 0, "Pixels cropped from each side of the output (P)." if
                  dims > 1 else "Values cropped from each end of the output (P).", min=0,
                  max=31),
            Param("in_channels", "int", None, "Input channels; auto takes them from the input.",
                  min=1, auto=True),
            BIAS, INIT,
            Param("output_padding", "int", 0, "Extra size added on one side of the output, to "
                  "reach an exact size (a stride-2 convolution maps both 2k and 2k + 1 to k: 1 "
                  "here gives back 2k + 1). Must be smaller than the stride or the dilation.",
                  min=0),
            _DILATION, _GROUPS),
        shape=_deconv_shape(dims), build=_deconv_build(dims), color=COLORS["Convolution"],
        doc=doc)


# Max and average pooling ----------------------------------------------------------------------


def pool_formula(ceil: bool, i="I", p="2P", d="D·(F − 1)", s="S") -> str:
    """The output size of a window pooling, rounded down (up with ceil_mode)."""
    a, b = ("⌈", "⌉") if ceil else ("⌊", "⌋")
    return f"{a}({i} + {p} − {d} − 1) / {s}{b} + 1"


def pool_out(i: int, f: int, p: int, s: int, d: int = 1, ceil: bool = False) -> int:
    """torch's pooling output size (ceil_mode: a last window may start in the padding on the
    right only if it starts inside the input or its left padding)."""
    o = (i + 2 * p - d * (f - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= i + p:
        o -= 1
    return o


def whole_window(ctx, t: TensorType, f: int) -> str:
    """torch's 3-d average pooling (AvgPool3d, LPPool3d) needs each window inside the input,
    its padding not counted."""
    return (f"window {window(f, 3)} must fit inside its {sizes_text(t)} input from "
            f"'{ctx.src('x')}' (3-d average pooling does not count the padding): each size "
            f"must be at least {f}")


def _pool_shape(kind, dims):
    def shape(ctx):
        t = spatial_input(ctx, dims)
        f, p = ctx.p["kernel_size"], ctx.p["padding"]
        s = ctx.p["stride"] or f
        d, ceil = ctx.p.get("dilation", 1), ctx.p["ceil_mode"]
        if p > f // 2:
            ctx.fail(f"padding {p} must be at most half the kernel ({f // 2})")

        def size(i):
            if kind == "Avg" and dims == 3 and i < f:
                return 0, whole_window(ctx, t, f)
            o = pool_out(i, f, p, s, d, ceil)
            if o >= 1:
                return o, None
            dil = f" (dilation {d})" if d != 1 else ""
            return 0, (f"window {window(f, dims)}{dil} does not fit {its_input(ctx, t, dims)}: "
                       f"{pool_formula(ceil)} = "
                       f"{pool_formula(ceil, i, 2 * p, d * (f - 1), s)} < 1")
        keeps = s == 1 and 2 * p == d * (f - 1)
        return {"y": TensorType((*t.shape[:2],
                                 *spatial_out(ctx, t, size, keeps, pool_formula(ceil))))}
    return shape


def _pool_build(kind, dims, new):
    def build(ctx):
        p = ctx.p
        kw = {"kernel_size": p["kernel_size"], "stride": p["stride"] or p["kernel_size"],
              "padding": p["padding"], **_new_kwargs(p, new)}
        if dims == 2:  # as built before issue 26: the function, no module
            return Call(f"F.{kind.lower()}_pool2d", kw)
        return Make(f"nn.{kind}Pool{dims}d", kw)
    return build


def pool_spec(kind: str, dims: int, doc: Doc, channels_last: str = "") -> NodeSpec:
    """MaxPool1d/2d/3d or AvgPool1d/2d/3d (`kind` "Max" or "Avg")."""
    extra = ((Param("dilation", "int", 1, "Spacing D between the window's taps (1: a solid "
                    "window).", min=1),) if kind == "Max" else ()) + (
        Param("ceil_mode", "bool", False, "Round the output size up, not down: a last, partial "
              "window at the end is kept (it must start inside the input or its left "
              "padding)."),)
    if kind == "Avg":
        extra += (Param("count_include_pad", "bool", True, "Whether the zeros of the padding "
                        "count in each window's average (True divides by F always)."),)
    new = (("dilation", 1), ("ceil_mode", False)) if kind == "Max" else (
        ("ceil_mode", False), ("count_include_pad", True))
    side = window("F", dims) if dims > 1 else "F values along the length"
    return NodeSpec(
        type=f"{kind}Pool{dims}d", title=f"{kind}Pool{dims}d", category="Pooling",
        id_prefix=kind.lower() + "pool", inputs=_X, outputs=_Y,
        params=(
            Param("kernel_size", "int", 2, f"Window size ({side}).", min=1, max=31),
            Param("stride", "int", None, "Step between windows; auto = the window size.", min=1,
                  auto=True),
            Param("padding", "int", 0, "Zero pixels added on each side." if dims > 1 else
                  "Values added at each end (at most half the window).", min=0),
            *extra),
        shape=_pool_shape(kind, dims), build=_pool_build(kind, dims, new), color=COLORS["Pooling"],
        doc=doc, channels_last=channels_last)


# The 2-d members, as they were ------------------------------------------------------------------
CONV2D = conv_spec(2, Doc(
    summary="Slides each learned filter (kernel) over the image and takes the dot product "
            "with the patch under it, giving one feature map per filter. Early filters find "
            "edges and textures, deeper ones shapes and objects.",
    formula="(I ∗ K)(i, j) = Σₘ Σₙ I(i + m, j + n) · K(m, n) + b\n"
            "output size = (I − F + 2P) / S + 1\n"
            "with dilation D: ⌊(I + 2P − D·(F − 1) − 1) / S⌋ + 1",
    use_case="Feature extraction from images: classification, detection (the backbone of "
             "R-CNN), segmentation. Example: a 32 × 32 × 3 image through 16 filters of "
             "3 × 3, stride 1, no padding, gives 16 feature maps of 30 × 30.",
    notes="Local connectivity and parameter sharing keep the weight count small: the same "
          "filter is applied at every position. Follow it with ReLU. With groups = G each "
          "filter sees C_in / G channels: MobileNet's depthwise 3 × 3 (G = C_in) then a "
          "1 × 1 pointwise conv costs about 1/9 of a full 3 × 3.",
), channels_last="gains")

CONV_TRANSPOSE2D = conv_transpose_spec(2, Doc(
    summary="The transpose of a convolution: each input pixel scatters a learned F × F "
            "filter, scaled by its value, into the output, S pixels apart. With F = S = 2 "
            "it doubles the map's height and width, learning how to fill in the detail.",
    formula="y(S·i + m, S·j + n) += x(i, j) · K(m, n)   (then + b)\n"
            "output size = (I − 1) · S − 2P + F\n"
            "in general: (I − 1)·S − 2P + D·(F − 1) + output_padding + 1",
    use_case="Up-sampling in a network: Mask R-CNN's mask head turns each RoI's 14 × 14 "
             "features into a 28 × 28 mask with a 2 × 2, stride-2 transposed conv; also "
             "the decoders of segmentation networks (U-Net) and DCGAN generators.",
    notes="F = S avoids the checkerboard artefacts of overlapping, uneven scatters. "
          "Follow it with ReLU."), title="ConvTranspose2d (up-convolution)")

MAXPOOL2D = pool_spec("Max", 2, Doc(
    summary="Down-samples each feature map by keeping the largest value of every window.",
    formula="MaxPool(x) = max(x₁, x₂, x₃, x₄)   for each 2 × 2 window",
    use_case="After convolution + ReLU in a CNN: halves the spatial size, keeps the strongest "
             "responses and adds some translation invariance. Example (2 × 2, stride 2): "
             "[[1,3,2,4],[5,6,7,8],[9,2,3,1],[0,1,5,2]] → [[6,8],[9,5]]."), channels_last="gains")

AVGPOOL2D = pool_spec("Avg", 2, Doc(
    summary="Down-samples each feature map by averaging every window.",
    formula="AvgPool(x) = (x₁ + x₂ + x₃ + x₄) / 4   for each 2 × 2 window",
    use_case="Smoother down-sampling than max pooling; global average pooling before a "
             "classifier."), channels_last="gains")


def _global_pool_shape(ctx):
    t = need_rank(ctx, "x", (4,), _IMAGE)
    need_float(ctx, "x")
    return {"y": TensorType(t.shape[:2])}


GLOBAL_AVGPOOL2D = NodeSpec(
    type="GlobalAvgPool2d", title="Global average pool", category="Pooling", id_prefix="gap",
    inputs=_X, outputs=(Port("y", doc="one value per channel: N × C"),), params=(),
    shape=_global_pool_shape, build=lambda ctx: Call("torch.mean", {"dim": (2, 3)}),
    color=COLORS["Pooling"],
    doc=Doc(
        summary="Global average pooling: averages each feature map over all its positions, "
                "leaving one number per channel (N × C × H × W → N × C).",
        formula="y[n, c] = (1 / (H·W)) Σᵢ Σⱼ x[n, c, i, j]",
        use_case="The head of a ResNet: after the last residual stage, global average pooling "
                 "turns the C feature maps into C features for the final Linear classifier, "
                 "whatever the image's size. Example: the 2 × 2 map [[1, 2], [3, 6]] gives 3.",
        notes="It has no weights, where Flatten → Linear would learn one per position and "
              "channel, and it works for any H and W. The same as AvgPool2d with a window the "
              "size of the map, then Flatten."),
    channels_last="safe")

SPECS = (CONV2D, CONV_TRANSPOSE2D, MAXPOOL2D, AVGPOOL2D, GLOBAL_AVGPOOL2D)
