"""Padding, resizing and structure layers of torch.nn (issue 26), each family from one table.
Every node builds nn.<its type id>, so state_dict keys are torch's. Sizes the output depends on
must be numbers; a symbolic size ("T") passes through where it does not matter."""
from __future__ import annotations

from itertools import zip_longest

from ..spec import Doc, Make, NodeSpec, Param, Port, TensorType, numel
from ._common import BIAS, COLORS, INIT, check_features, need_float, need_rank, same_as_input

CAT = "Structure"
_X, _Y = (Port("x"),), (Port("y"),)
_PAIR = (Port("x1", doc="the first input"), Port("x2", doc="the second input"))
_IMAGE = "an image-shaped input N × C × H × W"


def _known(ctx, port, t, axes, why):
    """The sizes of `t` on `axes`, refused in words if one is symbolic."""
    sizes = [t.shape[a] for a in axes]
    if not all(isinstance(s, int) for s in sizes):
        ctx.fail(f"needs known sizes on dims {', '.join(map(str, axes))} ({why}) but "
                 f"'{ctx.src(port)}' gives {t}", port)
    return sizes


def _arg(values):
    """One number for every side or axis (torch's int), else a tuple."""
    return values[0] if len(values) == 1 else tuple(values)


def _layer(type_, prefix, params, shape, kwargs, doc, inputs=_X, cat=CAT, **kw):
    """A node building nn.<type_>: with the params named in `kwargs`, or kwargs(ctx)."""
    def build(ctx):
        args = kwargs(ctx) if callable(kwargs) else {n: ctx.p[n] for n in kwargs}
        return Make(f"nn.{type_}", args, init=ctx.p.get("init", "default"))
    return NodeSpec(type=type_, title=kw.pop("title", type_), category=cat, id_prefix=prefix,
                    inputs=inputs, outputs=kw.pop("outputs", _Y), params=params, shape=shape,
                    build=build, color=COLORS[cat], doc=doc, **kw)


# Padding ------------------------------------------------------------------------------------
# torch's order of the sides: the last axis first (left, right), then the ones before
_SIDES = ("left, right", "left, right, top, bottom", "left, right, top, bottom, front, back")
_WHAT = ("N × C × L (or N × L)", "N × C × H × W (or N × H × W)",
         "N × C × D × H × W (or N × D × H × W)")
# mode, what fills the border, [1, 2, 3] padded by 2, use case, the most padding per side
_RULE = {"<": "less than", "≤": "at most"}  # (None: any)
_PAD_MODES = (
    ("Zero", "zeros", "[0, 0, 1, 2, 3, 0, 0]",
     "Uneven padding before a convolution: ZeroPad2d([0, 1, 0, 1]) before a stride-2 3 × 3 "
     "convolution gives TensorFlow's 'same' output size (EfficientNet, MobileNet ports).", None),
    ("Constant", "a constant value v", "[v, v, 1, 2, 3, v, v]",
     "Padding with a value other than 0: a grey 0.5 border on images in [0, 1], or a large "
     "negative number before a max pooling so the border never wins.", None),
    ("Reflection", "the values mirrored at the edge (the edge itself not repeated)",
     "[3, 2, 1, 2, 3, 2, 1]",
     "Image generators (CycleGAN, fast style transfer) pad with ReflectionPad2d(3) before a "
     "7 × 7 convolution: no dark frame appears where zeros would be.", "<"),
    ("Replication", "copies of the edge value", "[1, 1, 1, 2, 3, 3, 3]",
     "Signals, volumes and video, where the edge value is the best guess of what lies beyond: "
     "no artificial step at the border.", None),
    ("Circular", "the values from the opposite end (wrapping around)", "[2, 3, 1, 2, 3, 1, 2]",
     "Periodic data: angles, 360° panoramas, simulations on a torus; a convolution after it "
     "is a circular convolution.", "≤"),
)


def _pad_shape(d, mode, limit):
    constant = mode in ("Zero", "Constant")
    ranks = tuple(range(d + 1, 17)) if constant else (d + 1, d + 2)

    def shape(ctx):
        t = need_rank(ctx, "x", ranks, _WHAT[d - 1])
        if t.dtype == "bool" and not constant:
            ctx.fail(f"cannot pad true/false values ('{ctx.src('x')}' gives {t}): torch's "
                     f"{mode.lower()} padding takes numbers", "x")
        pad = list(ctx.p["padding"])
        if len(pad) == 1:
            pad *= 2 * d
        elif len(pad) != 2 * d:
            ctx.fail(f"has padding {ctx.p['padding']}: give one number (every side) or {2 * d} "
                     f"({_SIDES[d - 1]})")
        out = list(t.shape)
        for i in range(d):
            lo, hi = pad[2 * i], pad[2 * i + 1]
            ax = len(out) - 1 - i
            if lo == hi == 0:
                continue
            [size] = _known(ctx, "x", t, [ax], f"padded by {lo} + {hi}")
            if limit == "<" and max(lo, hi) >= size or limit == "≤" and max(lo, hi) > size:
                ctx.fail(f"pads dim {ax} by {lo} and {hi}, but '{ctx.src('x')}' gives {t}: "
                         f"{mode.lower()} padding must be {_RULE[limit]} the size there "
                         f"({size})", "x")
            out[ax] = size + lo + hi
        return {"y": TensorType(tuple(out), t.dtype)}
    return shape


def _pad(d, mode, fills, example, use, limit):
    type_ = f"{mode}Pad{d}d"
    value = (Param("value", "float", 0.0, "The value v the border is filled with."),) \
        if mode == "Constant" else ()
    limit_note = f" Each side's padding must be {_RULE[limit]} its axis's size." if limit else ""
    return _layer(
        type_, "pad", (Param("padding", "ints", [1], f"Values added: one number for every side, "
                             f"or {2 * d}, in torch's order ({_SIDES[d - 1]})."), *value),
        _pad_shape(d, mode, limit), lambda ctx: {"padding": _arg(ctx.p["padding"]),
                                                 **{p.name: ctx.p[p.name] for p in value}},
        Doc(summary=f"Pads the last {d} dim{'s' * (d > 1)} of each sample with {fills}.",
            formula=f"size out = size in + before + after, on each of the last {d} dims\n"
                    f"[1, 2, 3] padded by 2 on each side → {example}",
            use_case=use, notes="Padding order as torch's F.pad: the last dim first." + limit_note))


PADS = tuple(_pad(d, *row) for row in _PAD_MODES for d in (1, 2, 3))


# Resizing -----------------------------------------------------------------------------------
_MODE_RANKS = {"nearest": (3, 4, 5), "linear": (3,), "bilinear": (4,), "bicubic": (4,),
               "trilinear": (5,)}
_MODE_WHAT = {3: "N × C × L", 4: "N × C × H × W", 5: "N × C × D × H × W"}


def _resize_shape(fixed):
    def shape(ctx):
        p, mode = ctx.p, fixed or ctx.p["mode"]
        ranks = (4,) if fixed else _MODE_RANKS[mode]
        t = need_rank(ctx, "x", ranks, f"{' or '.join(_MODE_WHAT[r] for r in ranks)} ({mode})")
        need_float(ctx, "x")
        size, scale = p["size"], p["scale_factor"]
        if (size is None) == (scale is None):
            ctx.fail("needs exactly one of size and scale_factor (leave the other on auto)")
        if not fixed and mode == "nearest" and p["align_corners"] is not None:
            ctx.fail("has align_corners set, which only the interpolating modes (linear, "
                     "bilinear, bicubic, trilinear) take: leave it on auto for 'nearest'")
        axes = list(range(2, len(t.shape)))
        if size is not None:
            if -1 in size or len(size) not in (1, len(axes)):
                ctx.fail(f"has size {size}, but '{ctx.src('x')}' gives {t}: give one size "
                         f"(every axis) or {len(axes)}, one per axis after N × C", "x")
            out = size * len(axes) if len(size) == 1 else size
        else:
            sizes = _known(ctx, "x", t, axes, f"scaled by {scale}")
            out = [int(float(i) * float(scale)) for i in sizes]  # torch's ⌊size × factor⌋
            if min(out) < 1:
                ctx.fail(f"scales '{ctx.src('x')}''s {t} by {scale}: ⌊{sizes} × {scale}⌋ = "
                         f"{out}, and a size must be at least 1", "x")
        return {"y": TensorType((*t.shape[:2], *out))}
    return shape


_SIZE = Param("size", "dims", None, "The output's size: one number (every axis) or one per "
              "axis after N × C; auto: scale by scale_factor instead.", auto=True)
_SCALE = Param("scale_factor", "float", 2.0, "Multiplier of every axis after N × C (size out "
               "⌊size × factor⌋); auto: use size.", min=0.001, max=1000.0, auto=True)
_UPSAMPLE_PARAMS = (
    Param("mode", "choice", "nearest", "How new values are computed: 'nearest' copies the "
          "closest input value (any of 1 to 3 axes); 'linear' (N × C × L), 'bilinear' and "
          "'bicubic' (N × C × H × W) and 'trilinear' (N × C × D × H × W) interpolate.",
          choices=tuple(_MODE_RANKS)),
    Param("align_corners", "bool", None, "Interpolating modes: on, the corner pixels of input "
          "and output line up exactly; off, their edges do (torch's default, auto).",
          auto=True))
# type id, fixed mode (None: a param), summary, formula, use case
_RESIZE = (
    ("Upsample", None,
     "Resizes each sample's feature maps (1, 2 or 3 axes after N × C) to a given size or by a "
     "factor, filling in values by the nearest neighbour or by interpolation.",
     "size out = ⌊size in × scale_factor⌋ on each axis (or size)\nnearest: y[i] = x[⌊i / s⌋]; "
     "linear: y[i] = (1 − λ) x[k] + λ x[k + 1],  k + λ = max(0, (i + ½)/s − ½) (align_corners "
     "off)",
     "The decoders of segmentation networks (FCN, U-Net) and feature pyramids (FPN: a 2× "
     "nearest upsample of the coarser map is added to the finer one). Example: nearest, "
     "factor 2: [[1, 2]] → [[1, 1, 2, 2], [1, 1, 2, 2]]."),
    ("UpsamplingNearest2d", "nearest",
     "Upsample with mode 'nearest' on images N × C × H × W: each output pixel copies the "
     "nearest input pixel.",
     "size out = ⌊size in × scale_factor⌋ (or size)\ny[i, j] = x[⌊i / s⌋, ⌊j / s⌋]",
     "Older models' 2× upsampling (torch marks the class deprecated in favour of Upsample). "
     "Example, factor 2: [[1, 2]] → [[1, 1, 2, 2], [1, 1, 2, 2]]."),
    ("UpsamplingBilinear2d", "bilinear",
     "Upsample with mode 'bilinear' and align_corners on: interpolates linearly along H and "
     "W, keeping the corner pixels where they are.",
     "size out = ⌊size in × scale_factor⌋ (or size)\ny[i] = (1 − λ) x[k] + λ x[k + 1],  "
     "k + λ = i · (I − 1)/(O − 1) on each axis",
     "Older segmentation models' smooth 2× upsampling (torch marks the class deprecated in "
     "favour of Upsample). Example: [[0, 3]] to size 2 × 4 → [[0, 1, 2, 3], [0, 1, 2, 3]]."),
)


def _resize(type_, fixed, summary, formula, use):
    def kwargs(ctx):
        size = ctx.p["size"]
        return {"size": None if size is None else _arg(size),
                "scale_factor": ctx.p["scale_factor"] if size is None else None,
                **({} if fixed else {n: ctx.p[n] for n in ("mode", "align_corners")})}
    return _layer(type_, "up", (_SIZE, _SCALE, *(() if fixed else _UPSAMPLE_PARAMS)),
                  _resize_shape(fixed), kwargs,
                  Doc(summary=summary, formula=formula, use_case=use,
                      notes="No weights. Set exactly one of size and scale_factor. To learn "
                            "the upsampling instead, use ConvTranspose2d."))


RESIZES = tuple(_resize(*row) for row in _RESIZE)


# Rearranging pixels and channels -----------------------------------------------------------
def _pixel_shape(up):
    name = "upscale_factor" if up else "downscale_factor"

    def shape(ctx):
        t = need_rank(ctx, "x", tuple(range(4, 17)), _IMAGE)
        r = ctx.p[name]
        if r == 1:
            return same_as_input(ctx)
        c, h, w = _known(ctx, "x", t, range(len(t.shape) - 3, len(t.shape)), f"{name} {r}")
        if up and c % (r * r):
            ctx.fail(f"moves r² = {r * r} channels into each {r} × {r} block, but "
                     f"'{ctx.src('x')}' gives {t}: C = {c} is not divisible by {r * r}", "x")
        if not up and (h % r or w % r):
            ctx.fail(f"cuts H × W into {r} × {r} blocks, but '{ctx.src('x')}' gives {t}: "
                     f"{h} × {w} is not divisible by {r}", "x")
        out = (c // (r * r), h * r, w * r) if up else (c * r * r, h // r, w // r)
        return {"y": TensorType((*t.shape[:-3], *out), t.dtype)}
    return shape


# type id, its factor's name and help, up (True) or down, summary, formula, use case
_PIXEL = (
    ("PixelShuffle", "upscale_factor", "r: each group of r² channels becomes one channel r "
     "times higher and wider.", True,
     "Rearranges channels into space: N × C·r² × H × W → N × C × H·r × W·r, each group of r² "
     "channels filling the r × r block of one pixel.",
     "y[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w]",
     "Sub-pixel convolution for super-resolution (ESPCN, Shi et al. 2016): a convolution makes "
     "C·r² channels at low resolution, PixelShuffle turns them into the high-resolution image, "
     "without the checkerboard of a transposed convolution. Example, r = 2: channels [1], [2], "
     "[3], [4] of a 1 × 1 map → [[1, 2], [3, 4]]."),
    ("PixelUnshuffle", "downscale_factor", "r: each r × r block of a channel becomes r² "
     "channels of one pixel.", False,
     "Rearranges space into channels: N × C × H·r × W·r → N × C·r² × H × W, the r × r block "
     "of each pixel becoming r² channels.",
     "y[n, c·r² + i·r + j, h, w] = x[n, c, h·r + i, w·r + j]",
     "Down-sampling without losing anything: the stem of some super-resolution and denoising "
     "networks, space-to-depth before a detector's head. Example, r = 2: [[1, 2], [3, 4]] → "
     "channels [1], [2], [3], [4]."),
)
PIXEL_SHUFFLE, PIXEL_UNSHUFFLE = (
    _layer(t, "p" + t[5:].lower(), (Param(name, "int", 2, help_, min=1, max=64),),
           _pixel_shape(up), (name,), Doc(summary, formula, use, "No weights; PixelShuffle "
                                          "and PixelUnshuffle undo each other."))
    for t, name, help_, up, summary, formula, use in _PIXEL)


def _channel_shuffle_shape(ctx):
    t = need_rank(ctx, "x", tuple(range(3, 17)), "channels N × C × … (3 dims or more)")
    g = ctx.p["groups"]
    [c] = _known(ctx, "x", t, [1], f"split into {g} groups")
    if c % g:
        ctx.fail(f"splits the channels into {g} groups, but '{ctx.src('x')}' gives {t}: "
                 f"C = {c} is not divisible by {g}", "x")
    return same_as_input(ctx)


CHANNEL_SHUFFLE = _layer(
    "ChannelShuffle", "cshuffle", (Param("groups", "int", 2, "Groups g (C divisible by g).",
                                         min=1),), _channel_shuffle_shape, ("groups",),
    Doc(summary="Interleaves the channels of g groups: reads them as a g × (C/g) grid and "
                "transposes it, so that each group after it holds channels of every group "
                "before.",
        formula="y[n, j·g + i, …] = x[n, i·(C/g) + j, …],   i < g, j < C/g",
        use_case="ShuffleNet (Zhang et al. 2018): between grouped convolutions, so information "
                 "flows across groups. Example, g = 2, channels [a, b, c, d] → [a, c, b, d].",
        notes="No weights."))


# Structure ----------------------------------------------------------------------------------
IDENTITY = _layer(
    "Identity", "identity", (), same_as_input, (),
    Doc(summary="Passes its input through unchanged.", formula="y = x",
        use_case="A placeholder where a model has an optional layer switched off: torchvision "
                 "replaces a ResNet's classifier fc by Identity to get its 512 features; a "
                 "Dropout of p = 0 or a norm left out in a configurable block.",
        notes="No weights, no cost."))


def _unflatten_shape(ctx):
    t = ctx.ins["x"]
    r, dim, sizes = len(t.shape), ctx.p["dim"], list(ctx.p["unflattened_size"])
    ax = dim + r if dim < 0 else dim
    if not 1 <= ax < r:
        ctx.fail(f"unflattens dim {dim}, but '{ctx.src('x')}' gives {t}, whose dims after the "
                 f"batch are 1 to {r - 1} (or −1 to −{r - 1} from the end)", "x")
    [have] = _known(ctx, "x", t, [ax], f"split into {sizes}")
    known = numel([s for s in sizes if s != -1])
    if -1 in sizes and have % known == 0:
        sizes[sizes.index(-1)] = have // known
    elif -1 in sizes or known != have:
        ctx.fail(f"splits dim {ax} of '{ctx.src('x')}''s {t} into {ctx.p['unflattened_size']}, "
                 f"but {have} values do not make {' × '.join(map(str, sizes))}", "x")
    return {"y": TensorType((*t.shape[:ax], *sizes, *t.shape[ax + 1:]), t.dtype)}


UNFLATTEN = _layer(
    "Unflatten", "unflatten",
    (Param("dim", "int", 1, "The dim split (1 = the first after the batch; negative counts "
           "from the end).", min=-16, max=16),
     Param("unflattened_size", "dims", [1, -1], "The sizes it is split into; their product is "
           "its size (one may be -1: inferred).")),
    _unflatten_shape,
    lambda ctx: {"dim": ctx.p["dim"], "unflattened_size": tuple(ctx.p["unflattened_size"])},
    Doc(summary="Splits one dim into several whose sizes multiply to it: the inverse of "
                "Flatten on that dim.",
        formula="… × (s₁·s₂·…·sₖ) × …  →  … × s₁ × s₂ × … × sₖ × …",
        use_case="A generator's dense output N × 6272 into feature maps N × 128 × 7 × 7 "
                 "(dim 1, [128, 7, 7]); heads N × T × (h·d) into N × T × h × d for attention "
                 "(dim −1, [h, -1])."))


# Sliding blocks -----------------------------------------------------------------------------
_BLOCK_PARAMS = (
    Param("kernel_size", "ints", [2], "Block size: one number (square) or kH, kW."),
    Param("dilation", "ints", [1], "Spacing of a block's elements: one number or dH, dW."),
    Param("padding", "ints", [0], "Zeros added on both sides: one number or pH, pW."),
    Param("stride", "ints", [1], "Step between blocks: one number or sH, sW."))
_BLOCKS = tuple(p.name for p in _BLOCK_PARAMS)
_BLOCK_FORMULA = "L = Πₐ ⌊(Iₐ + 2Pₐ − Dₐ (Kₐ − 1) − 1) / Sₐ⌋ + 1   (a = H, W)"


def _blocks(ctx, sizes, where, port):
    """The kernel pair and the number of blocks along each of `sizes` (H, W)."""
    p = {}
    for name in _BLOCKS:
        v = ctx.p[name]
        if len(v) > 2 or name != "padding" and 0 in v:
            ctx.fail(f"has {name} {v}: give one or two numbers"
                     + ("" if name == "padding" else ", each at least 1"))
        p[name] = v * 2 if len(v) == 1 else v
    k, d, pad, s = p.values()
    blocks = [(i + 2 * pad[a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a, i in enumerate(sizes)]
    if min(blocks) < 1:
        ctx.fail(f"slides {k[0]} × {k[1]} blocks (dilation {d}, padding {pad}, stride {s}) "
                 f"over {where}: ⌊(I + 2P − D(K − 1) − 1)/S⌋ + 1 gives {blocks[0]} × "
                 f"{blocks[1]} blocks, and each must be at least 1", port)
    return k, blocks


def _block_args(ctx):  # Fold's output_size too
    return {n: _arg(ctx.p[n]) for n in ("output_size", *_BLOCKS) if n in ctx.p}


def _unfold_shape(ctx):
    t = need_rank(ctx, "x", (4,), _IMAGE)
    need_float(ctx, "x")
    c, h, w = _known(ctx, "x", t, [1, 2, 3], "the blocks' size and count depend on them")
    k, (bh, bw) = _blocks(ctx, (h, w), f"the {h} × {w} maps of '{ctx.src('x')}' ({t})", "x")
    return {"y": TensorType((t.shape[0], c * k[0] * k[1], bh * bw))}


def _fold_shape(ctx):
    t = need_rank(ctx, "x", (3,), "blocks N × (C·kH·kW) × L, as Unfold gives")
    need_float(ctx, "x")
    out = ctx.p["output_size"]
    if -1 in out or len(out) > 2:
        ctx.fail(f"has output_size {out}: give one size (square) or H, W")
    out = out * 2 if len(out) == 1 else out
    k, (bh, bw) = _blocks(ctx, out, f"its {out[0]} × {out[1]} output (output_size)", None)
    ck, n_blocks = _known(ctx, "x", t, [1, 2], "C·kH·kW and the number of blocks L")
    if ck % (k[0] * k[1]) or n_blocks != bh * bw:
        ctx.fail(f"needs N × (C·{k[0]}·{k[1]}) × {bh * bw} ({bh} × {bw} blocks make its "
                 f"{out[0]} × {out[1]} output) but '{ctx.src('x')}' gives {t}", "x")
    return {"y": TensorType((t.shape[0], ck // (k[0] * k[1]), *out))}


UNFOLD = _layer(
    "Unfold", "unfold", _BLOCK_PARAMS, _unfold_shape, _block_args,
    Doc(summary="Cuts each image into the sliding kH × kW blocks a convolution would see and "
                "lays each block out as a column: N × C × H × W → N × (C·kH·kW) × L.",
        formula="y[n, (c, i, j), l] = x[n, c, S·hₗ − P + D·i, S·wₗ − P + D·j]   (zero "
                "outside)\n" + _BLOCK_FORMULA,
        use_case="Convolution as one matrix product (im2col): W (C_out × C·k²) times the "
                 "columns; the patches of a vision transformer (kernel = stride = 16: a "
                 "3 × 224 × 224 image gives 768 × 196). Example: a 1 × 3 × 3 image, kernel 2, "
                 "gives 4 × 4: four blocks of four values.",
        notes="No weights. Fold puts the columns back."),
    title="Unfold (im2col)", outputs=(Port("y", doc="one column per block: N × (C·kH·kW) × L"),))

FOLD = _layer(
    "Fold", "fold", (Param("output_size", "dims", [4, 4], "The image's H × W: one size (square) "
                           "or H, W."), *_BLOCK_PARAMS),
    _fold_shape, _block_args,
    Doc(summary="Puts columns of blocks back into an image: N × (C·kH·kW) × L → N × C × H × W "
                "(output_size), adding up the values where blocks overlap.",
        formula="y[n, c, S·hₗ − P + D·i, S·wₗ − P + D·j] += x[n, (c, i, j), l]\n"
                + _BLOCK_FORMULA + ",  I = output_size",
        use_case="The second half of a convolution written as im2col; overlap-add of patches "
                 "(denoising, in-painting). Fold(Unfold(x)) is x when the blocks do not "
                 "overlap (stride = kernel); with overlaps each pixel is multiplied by the "
                 "number of blocks covering it: output 3 × 3, kernel 2, stride 1 counts the "
                 "centre 4 times.",
        notes="No weights. L must equal the number of blocks that fit in output_size."),
    title="Fold (col2im)", inputs=(Port("x", doc="one column per block: N × (C·kH·kW) × L"),))


# Two inputs ---------------------------------------------------------------------------------
def _bilinear_shape(ctx):
    a, b = need_float(ctx, "x1"), need_float(ctx, "x2")
    for port, t in (("x1", a), ("x2", b)):
        need_rank(ctx, port, tuple(range(2, 17)), "features N × F (or N × … × F)")
    if a.shape[:-1] != b.shape[:-1]:
        ctx.fail(f"needs x1 and x2 alike but for their last dim, but '{ctx.src('x1')}' gives "
                 f"{a} and '{ctx.src('x2')}' gives {b}", "x2")
    check_features(ctx, "x1", ctx.p["in1_features"], a.shape[-1], "features")
    check_features(ctx, "x2", ctx.p["in2_features"], b.shape[-1], "features")
    return {"y": TensorType((*a.shape[:-1], ctx.p["out_features"]))}


BILINEAR = _layer(
    "Bilinear", "bilinear",
    (Param("out_features", "int", 10, "Outputs per sample.", min=1),
     *(Param(f"in{i}_features", "int", None, f"Features of x{i}; auto takes them from the "
             "input.", min=1, auto=True) for i in (1, 2)), BIAS, INIT),
    _bilinear_shape,
    lambda ctx: {"in1_features": ctx.ins["x1"].shape[-1], "out_features": ctx.p["out_features"],
                 "in2_features": ctx.ins["x2"].shape[-1], "bias": ctx.p["bias"]},
    Doc(summary="A learned bilinear form of two inputs: every output is a weighted sum of the "
                "products of one feature of x1 with one feature of x2, plus a bias.",
        formula="yₖ = x₁ᵀ Aₖ x₂ + bₖ = Σᵢ Σⱼ x₁ᵢ Aₖᵢⱼ x₂ⱼ + bₖ",
        use_case="Fusing two representations multiplicatively: bilinear pooling of two CNN "
                 "streams for fine-grained recognition, question–image fusion, scoring a "
                 "relation between two embeddings. Example: out_features = 1, A₁ the 2 × 2 "
                 "identity, b = 0: y = x₁ · x₂, so [1, 2] and [3, 4] give 11.",
        notes="Its weight A is out × in1 × in2: it grows fast. x1 and x2 share every dim but "
              "their last."), inputs=_PAIR, cat="Core")


def _broadcast(ctx):
    a, b = need_float(ctx, "x1"), need_float(ctx, "x2")
    out = []
    for x, y in zip_longest(reversed(a.shape), reversed(b.shape), fillvalue=1):
        if x != y and 1 not in (x, y):
            ctx.fail(f"cannot broadcast '{ctx.src('x1')}''s {a} with '{ctx.src('x2')}''s {b} "
                     f"(sizes {x} and {y}: equal, or one of them 1)", "x2")
        out.append(y if x == 1 else x)
    return a, b, tuple(reversed(out))


def _cosine_shape(ctx):
    a, b, shape = _broadcast(ctx)
    r, dim = len(shape), ctx.p["dim"]
    ax = dim + r if dim < 0 else dim
    if not 1 <= ax < r:
        ctx.fail(f"compares along dim {dim}, but its inputs ({a} and {b}) broadcast to "
                 f"{TensorType(shape)}, whose dims after the batch are 1 to {r - 1} (or −1 to "
                 f"−{r - 1})", "x1")
    return {"y": TensorType(shape[:ax] + shape[ax + 1:])}


def _distance_shape(ctx):
    a, b, shape = _broadcast(ctx)
    if len(shape) < 2:
        ctx.fail(f"needs vectors N × F but its inputs ({a} and {b}) have no dim after the "
                 "batch", "x1")
    return {"y": TensorType(shape[:-1] + ((1,) if ctx.p["keepdim"] else ()))}


COSINE_SIMILARITY = _layer(
    "CosineSimilarity", "cosine",
    (Param("dim", "int", 1, "The dim holding the vectors compared (removed from the output; "
           "negative counts from the end).", min=-16, max=16),
     Param("eps", "float", 1e-8, "ε: the smallest denominator.", min=0.0)),
    _cosine_shape, ("dim", "eps"),
    Doc(summary="The cosine of the angle between x1 and x2 along one dim: 1 for the same "
                "direction, 0 at right angles, −1 opposite; their lengths do not count.",
        formula="cos(x₁, x₂) = Σᵢ x₁ᵢ x₂ᵢ / max(‖x₁‖₂ · ‖x₂‖₂, ε)",
        use_case="Comparing embeddings: sentence and image retrieval, Siamese networks, "
                 "CLIP's image–text scores. Example: [1, 0] and [1, 1] give 1/√2 ≈ 0.7071.",
        notes="x1 and x2 broadcast to a common shape; dim is counted in it. No weights."),
    inputs=_PAIR)

PAIRWISE_DISTANCE = _layer(
    "PairwiseDistance", "distance",
    (Param("p", "float", 2.0, "The norm's order p (2: Euclidean, 1: Manhattan).", min=0.0),
     Param("eps", "float", 1e-6, "ε added to each difference (avoids a zero norm's infinite "
           "gradient).", min=0.0),
     Param("keepdim", "bool", False, "Keep the last dim, of size 1.")),
    _distance_shape, ("p", "eps", "keepdim"),
    Doc(summary="The p-norm distance between x1 and x2 along their last dim, one number per "
                "pair of vectors.",
        formula="d(x₁, x₂) = ‖x₁ − x₂ + ε‖ₚ = (Σᵢ |x₁ᵢ − x₂ᵢ + ε|ᵖ)^(1/p)",
        use_case="Metric learning: the distances of a triplet or contrastive loss between "
                 "Siamese embeddings (face verification). Example, p = 2, ε = 0: [0, 0] and "
                 "[3, 4] are 5 apart.",
        notes="x1 and x2 broadcast to a common shape; the last dim is summed over. No "
              "weights."), inputs=_PAIR)

SPECS = (*PADS, *RESIZES, PIXEL_SHUFFLE, PIXEL_UNSHUFFLE, CHANNEL_SHUFFLE, IDENTITY, UNFLATTEN,
         UNFOLD, FOLD, BILINEAR, COSINE_SIMILARITY, PAIRWISE_DISTANCE)
