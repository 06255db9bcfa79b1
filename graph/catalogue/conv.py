"""Convolution and pooling: the feature extractors of a CNN."""
from __future__ import annotations

from ..spec import Call, Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import BIAS, COLORS, INIT, check_features, need_float, need_rank

_X, _Y = (Port("x"),), (Port("y"),)
_IMAGE = "an image-shaped input N × C × H × W"


def conv_padding(padding, kernel: int) -> int | str:
    """'valid' -> 0; 'same' -> (F − 1)/2 for odd kernels (any stride), torch's 'same' for even."""
    if padding == "valid":
        return 0
    if padding == "same":
        return (kernel - 1) // 2 if kernel % 2 else "same"
    return padding


def out_size(i: int, f: int, p: int, s: int) -> int:
    """Output size = (I − F + 2P) / S + 1, rounded down."""
    return (i - f + 2 * p) // s + 1


def _conv_shape(ctx):
    t = need_rank(ctx, "x", (4,), _IMAGE)
    need_float(ctx, "x")
    p = ctx.p
    check_features(ctx, "x", p["in_channels"], t.shape[1], "input channels")
    f, s = p["kernel_size"], p["stride"]
    pad = conv_padding(p["padding"], f)
    if pad == "same" and s != 1:
        ctx.fail(f"cannot keep the size ('same' padding) with an even kernel {f} and stride "
                 f"{s}: use an odd kernel or a number for the padding")
    sizes = []
    for i in t.shape[2:]:
        if pad == "same":
            sizes.append(i)
            continue
        o = out_size(i, f, pad, s)
        if o < 1:
            ctx.fail(f"kernel {f} × {f} does not fit its {t.shape[2]} × {t.shape[3]} input from "
                     f"'{ctx.src('x')}' (padding {pad}): (I − F + 2P)/S + 1 = "
                     f"({i} − {f} + {2 * pad})/{s} + 1 < 1", "x")
        sizes.append(o)
    return {"y": TensorType((t.shape[0], p["out_channels"], *sizes))}


def _conv_build(ctx):
    p = ctx.p
    return Make("nn.Conv2d", {
        "in_channels": ctx.ins["x"].shape[1], "out_channels": p["out_channels"],
        "kernel_size": p["kernel_size"], "stride": p["stride"],
        "padding": conv_padding(p["padding"], p["kernel_size"]), "bias": p["bias"]},
        init=p["init"])


CONV2D = NodeSpec(
    type="Conv2d", title="Conv2d", category="Convolution", id_prefix="conv",
    inputs=_X, outputs=_Y,
    params=(
        Param("out_channels", "int", 16, "Number of filters, each making one feature map.", min=1),
        Param("kernel_size", "int", 3, "Filter size F (F × F).", min=1, max=31),
        Param("stride", "int", 1, "How many pixels the filter moves each step (S).", min=1,
              max=16),
        Param("padding", "padding", "valid",
              "'valid' adds no border (the output shrinks); 'same' adds zeros so that the output "
              "keeps the input's size (at stride 1); or a number P of zero pixels per side."),
        Param("in_channels", "int", None, "Input channels; auto takes them from the input.",
              min=1, auto=True),
        BIAS, INIT),
    shape=_conv_shape, build=_conv_build, color=COLORS["Convolution"],
    doc=Doc(
        summary="Slides each learned filter (kernel) over the image and takes the dot product "
                "with the patch under it, giving one feature map per filter. Early filters find "
                "edges and textures, deeper ones shapes and objects.",
        formula="(I ∗ K)(i, j) = Σₘ Σₙ I(i + m, j + n) · K(m, n) + b\n"
                "output size = (I − F + 2P) / S + 1",
        use_case="Feature extraction from images: classification, detection (the backbone of "
                 "R-CNN), segmentation. Example: a 32 × 32 × 3 image through 16 filters of "
                 "3 × 3, stride 1, no padding, gives 16 feature maps of 30 × 30.",
        notes="Local connectivity and parameter sharing keep the weight count small: the same "
              "filter is applied at every position. Follow it with ReLU.",
    ),
    channels_last="gains",
)


def _deconv_shape(ctx):
    t = need_rank(ctx, "x", (4,), _IMAGE)
    need_float(ctx, "x")
    p = ctx.p
    check_features(ctx, "x", p["in_channels"], t.shape[1], "input channels")
    f, s, pad = p["kernel_size"], p["stride"], p["padding"]
    sizes = []
    for i in t.shape[2:]:
        o = (i - 1) * s - 2 * pad + f if isinstance(i, int) else i
        if isinstance(o, int) and o < 1:
            ctx.fail(f"padding {pad} leaves nothing of its {t.shape[2]} × {t.shape[3]} input "
                     f"from '{ctx.src('x')}': (I − 1)·S − 2P + F = ({i} − 1)·{s} − {2 * pad} + "
                     f"{f} < 1", "x")
        sizes.append(o)
    return {"y": TensorType((t.shape[0], p["out_channels"], *sizes))}


def _deconv_build(ctx):
    p = ctx.p
    return Make("nn.ConvTranspose2d", {
        "in_channels": ctx.ins["x"].shape[1], "out_channels": p["out_channels"],
        "kernel_size": p["kernel_size"], "stride": p["stride"], "padding": p["padding"],
        "bias": p["bias"]}, init=p["init"])


CONV_TRANSPOSE2D = NodeSpec(
    type="ConvTranspose2d", title="ConvTranspose2d (up-convolution)", category="Convolution",
    id_prefix="deconv", inputs=_X, outputs=_Y,
    params=(
        Param("out_channels", "int", 16, "Number of output feature maps.", min=1),
        Param("kernel_size", "int", 2, "Filter size F (F × F).", min=1, max=31),
        Param("stride", "int", 2, "Output pixels per input pixel (S): 2 doubles the size.",
              min=1, max=16),
        Param("padding", "int", 0, "Pixels cropped from each side of the output (P).", min=0,
              max=31),
        Param("in_channels", "int", None, "Input channels; auto takes them from the input.",
              min=1, auto=True),
        BIAS, INIT),
    shape=_deconv_shape, build=_deconv_build, color=COLORS["Convolution"],
    doc=Doc(
        summary="The transpose of a convolution: each input pixel scatters a learned F × F "
                "filter, scaled by its value, into the output, S pixels apart. With F = S = 2 "
                "it doubles the map's height and width, learning how to fill in the detail.",
        formula="y(S·i + m, S·j + n) += x(i, j) · K(m, n)   (then + b)\n"
                "output size = (I − 1) · S − 2P + F",
        use_case="Up-sampling in a network: Mask R-CNN's mask head turns each RoI's 14 × 14 "
                 "features into a 28 × 28 mask with a 2 × 2, stride-2 transposed conv; also "
                 "the decoders of segmentation networks (U-Net) and DCGAN generators.",
        notes="F = S avoids the checkerboard artefacts of overlapping, uneven scatters. "
              "Follow it with ReLU."))


def _pool_shape(ctx):
    t = need_rank(ctx, "x", (4,), _IMAGE)
    f, p = ctx.p["kernel_size"], ctx.p["padding"]
    s = ctx.p["stride"] or f
    if p > f // 2:
        ctx.fail(f"padding {p} must be at most half the kernel ({f // 2})")
    sizes = []
    for i in t.shape[2:]:
        o = out_size(i, f, p, s)
        if o < 1:
            ctx.fail(f"window {f} × {f} does not fit its {t.shape[2]} × {t.shape[3]} input from "
                     f"'{ctx.src('x')}'", "x")
        sizes.append(o)
    return {"y": TensorType((*t.shape[:2], *sizes))}


def _pool(type_, title, target, doc, **kw):
    return NodeSpec(
        type=type_, title=title, category="Pooling", id_prefix=type_[:3].lower() + "pool",
        inputs=_X, outputs=_Y,
        params=(
            Param("kernel_size", "int", 2, "Window size (F × F).", min=1, max=31),
            Param("stride", "int", None, "Step between windows; auto = the window size.", min=1,
                  auto=True),
            Param("padding", "int", 0, "Zero pixels added on each side.", min=0),
        ),
        shape=_pool_shape,
        build=lambda ctx: Call(target, {"kernel_size": ctx.p["kernel_size"],
                                        "stride": ctx.p["stride"] or ctx.p["kernel_size"],
                                        "padding": ctx.p["padding"]}),
        color=COLORS["Pooling"], doc=doc, **kw)


MAXPOOL2D = _pool("MaxPool2d", "MaxPool2d", "F.max_pool2d", Doc(
    summary="Down-samples each feature map by keeping the largest value of every window.",
    formula="MaxPool(x) = max(x₁, x₂, x₃, x₄)   for each 2 × 2 window",
    use_case="After convolution + ReLU in a CNN: halves the spatial size, keeps the strongest "
             "responses and adds some translation invariance. Example (2 × 2, stride 2): "
             "[[1,3,2,4],[5,6,7,8],[9,2,3,1],[0,1,5,2]] → [[6,8],[9,5]]."), channels_last="gains")

AVGPOOL2D = _pool("AvgPool2d", "AvgPool2d", "F.avg_pool2d", Doc(
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
