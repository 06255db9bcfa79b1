"""Shape operations on tensors (issue 26), from one table: unsqueeze, squeeze, repeat, flip,
roll, slice, and chunk into 2, 3 or 4 outputs (a node has a fixed number of ports, so each
count is its own type). None of them touches the batch axis (dim 0): a node's output is a
batch like its input's. The importer maps torch's functions and tensor methods here
(graph/catalogue/torch_functions_generic.py)."""
from __future__ import annotations

from ..spec import Call, Doc, NodeSpec, Param, Port, TensorType
from .tensor_ops import CAT, COLOR, _MAX_RANK, axis

_X = (Port("x"),)


def _dim(name: str, default: int, help_: str) -> Param:
    return Param(name, "int", default, help_, min=-_MAX_RANK - 1, max=_MAX_RANK)


def _unsqueeze(ctx):
    t = ctx.ins["x"]
    d = axis(ctx, "x", t, ctx.p["dim"], "dim", extra=1)
    shape = list(t.shape)
    shape.insert(d, 1)
    return {"y": TensorType(tuple(shape), t.dtype)}


def _squeeze(ctx):
    t = ctx.ins["x"]
    d = axis(ctx, "x", t, ctx.p["dim"], "dim")
    size = t.shape[d]
    if not isinstance(size, int):
        ctx.fail(f"removes dim {ctx.p['dim']} of '{ctx.src('x')}''s {t} only if its size is 1, "
                 f"which {size} is not known to be", "x")
    shape = list(t.shape)
    if size == 1:
        del shape[d]
    return {"y": TensorType(tuple(shape), t.dtype)}


def _repeat(ctx):
    t, reps = ctx.ins["x"], ctx.p["repeats"]
    if len(reps) != len(t.shape) - 1:
        ctx.fail(f"has {len(reps)} repeats, but '{ctx.src('x')}' gives {t}: give one for every "
                 f"dim after the batch ({len(t.shape) - 1})", "x")
    shape = [t.shape[0], *(s * r if isinstance(s, int) else s if r == 1 else "?"
                           for s, r in zip(t.shape[1:], reps))]
    return {"y": TensorType(tuple(shape), t.dtype)}


def _dims(ctx, t, values, name):
    dims = [axis(ctx, "x", t, d, name) for d in values]
    if len(set(dims)) != len(dims):
        ctx.fail(f"has {name} {values}, which name one dim of '{ctx.src('x')}''s {t} twice", "x")
    return dims


def _flip(ctx):
    t = ctx.ins["x"]
    _dims(ctx, t, ctx.p["dims"], "dims")
    return {"y": t}


def _roll(ctx):
    t = ctx.ins["x"]
    if len(ctx.p["shifts"]) != len(ctx.p["dims"]):
        ctx.fail(f"has {len(ctx.p['shifts'])} shifts for {len(ctx.p['dims'])} dims: give one "
                 "shift per dim")
    _dims(ctx, t, ctx.p["dims"], "dims")
    return {"y": t}


def _slice(ctx):
    t, p = ctx.ins["x"], ctx.p
    d = axis(ctx, "x", t, p["dim"], "dim")
    size = t.shape[d]
    shape = list(t.shape)
    if isinstance(size, int):
        shape[d] = len(range(size)[p["start"]:p["end"]:p["step"]])
    elif not (p["start"] == 0 and p["end"] is None and p["step"] == 1):
        shape[d] = "?"
    return {"y": TensorType(tuple(shape), t.dtype)}


def _chunk(k):
    def shape(ctx):
        t = ctx.ins["x"]
        d = axis(ctx, "x", t, ctx.p["dim"], "dim")
        size = t.shape[d]
        if not isinstance(size, int):
            ctx.fail(f"splits dim {ctx.p['dim']} of '{ctx.src('x')}''s {t}, whose size must "
                     "be known", "x")
        c = -(-size // k)
        if size < k or -(-size // c) != k:
            ctx.fail(f"splits dim {ctx.p['dim']} of '{ctx.src('x')}''s {t} into {k}, but torch "
                     f"cuts size {size} into pieces of {c}, which makes {-(-size // c)}", "x")
        out = {}
        for i in range(k):
            s = list(t.shape)
            s[d] = c if i < k - 1 else size - c * (k - 1)
            out[f"y{i + 1}"] = TensorType(tuple(s), t.dtype)
        return out
    return shape


def _chunk_row(k):
    return (f"Chunk{k}", f"Chunk into {k}", "chunk",
            (_dim("dim", -1, "The dim cut (1 or later); negative counts from the end."),),
            _chunk(k), lambda ctx: Call("torch.chunk", {"chunks": k, "dim": ctx.p["dim"]}),
            Doc(summary=f"Cuts each sample into {k} pieces along a dim, as torch.chunk: pieces "
                        f"of ⌈size / {k}⌉, the last one what is left.",
                formula=f"y1, …, y{k} = x[…, 0:c], x[…, c:2c], …   c = ⌈size / {k}⌉\n"
                        f"dim −1: N × {2 * k} → {k} × (N × 2)",
                use_case="a, b = x.chunk(2, -1): a gated linear unit's halves (a · σ(b)), "
                         "a Linear's output split into mean and log-variance, q, k and v "
                         "from one projection (Chunk into 3). Example: [1, 2, 3, 4] in 2 "
                         "gives [1, 2] and [3, 4].",
                notes="A size that torch would cut into fewer pieces (5 into 4: 2, 2, 1) is "
                      "refused."),
            tuple(Port(f"y{i + 1}", path=(i,), doc=f"piece {i + 1}") for i in range(k)))


# type, title, id prefix, params, shape rule, build, doc[, outputs]
ROWS = (
    ("Unsqueeze", "Unsqueeze (add a dim)", "unsqueeze",
     (_dim("dim", -1, "Where the new dim of size 1 goes (1 or later: the batch stays "
                      "first); negative counts from the end of the output."),),
     _unsqueeze, lambda ctx: Call("torch.unsqueeze", {"dim": ctx.p["dim"]}),
     Doc(summary="Adds a dim of size 1, so the tensor broadcasts against another.",
         formula="dim 1: N × D → N × 1 × D;  dim −1: N × D → N × D × 1",
         use_case="x.unsqueeze(1) before adding per-sample values to every time step; a "
                  "mask N × T made N × 1 × T for attention scores. Example: dim −1 of "
                  "[[1, 2]] gives [[[1], [2]]].",
         notes="torch.unsqueeze(x, dim): a view, nothing copied.")),
    ("Squeeze", "Squeeze (drop a size-1 dim)", "squeeze",
     (_dim("dim", -1, "The dim removed if its size is 1 (1 or later)."),),
     _squeeze, lambda ctx: Call("torch.squeeze", {"dim": ctx.p["dim"]}),
     Doc(summary="Removes one dim of size 1; a dim of another size is left as it is (as "
                 "torch does).",
         formula="dim −1: N × T × 1 → N × T",
         use_case="A score head's N × T × 1 output as N × T; a pooled N × C × 1 × 1 as "
                  "N × C × 1. Example: dim −1 of [[[1], [2]]] gives [[1, 2]].",
         notes="torch.squeeze(x, dim). A dim whose size the data sets is refused: whether it "
               "goes would depend on the data.")),
    ("Repeat", "Repeat (tile)", "repeat",
     (Param("repeats", "ints", [1, 2], "How many times each dim after the batch is tiled, "
            "one number per dim."),),
     _repeat, lambda ctx: Call("ops.repeat_sample", {"repeats": list(ctx.p["repeats"])}),
     Doc(summary="Tiles each sample: every dim after the batch is repeated a number of times.",
         formula="size out = size in × repeats, per dim;  [2, 1]: N × 2 × 3 → N × 4 × 3",
         use_case="x.repeat(1, k, 1): one vector per sample copied to k time steps; a "
                   "pattern tiled over an image. Example: repeats [2] of [[1, 2]] give "
                   "[[1, 2, 1, 2]].",
         notes="x.repeat(1, *repeats): the batch is never repeated.")),
    ("Flip", "Flip (reverse dims)", "flip",
     (Param("dims", "intlist", [-1], "The dims reversed (1 or later); negative counts from "
            "the end."),),
     _flip, lambda ctx: Call("torch.flip", {"dims": list(ctx.p["dims"])}),
     Doc(summary="Reverses the order of the values along some dims.",
         formula="y[…, i, …] = x[…, n − 1 − i, …] on each flipped dim",
         use_case="A sequence read backwards (a hand-made bidirectional layer), an image "
                  "mirrored. Example: dims [−1] of [[1, 2, 3]] give [[3, 2, 1]].",
         notes="torch.flip(x, dims): a copy.")),
    ("Roll", "Roll (shift cyclically)", "roll",
     (Param("shifts", "intlist", [1], "How far each dim's values move (negative: back)."),
      Param("dims", "intlist", [-1], "The dims shifted, one per shift (1 or later).")),
     _roll, lambda ctx: Call("torch.roll", {"shifts": list(ctx.p["shifts"]),
                                            "dims": list(ctx.p["dims"])}),
     Doc(summary="Shifts the values along dims, those falling off one end coming back at "
                 "the other.",
         formula="y[…, (i + s) mod n, …] = x[…, i, …]",
         use_case="Swin Transformer's shifted windows (torch.roll of the feature map); a "
                  "sequence shifted by one step. Example: shift 1 of [[1, 2, 3]] gives "
                  "[[3, 1, 2]].",
         notes="torch.roll(x, shifts, dims).")),
    ("Slice", "Slice (a range of a dim)", "slice",
     (_dim("dim", -1, "The dim sliced (1 or later); negative counts from the end."),
      Param("start", "int", 0, "The first index kept; negative counts from the end.",
            min=-2**31, max=2**31),
      Param("end", "int", None, "The index where it stops, not kept (auto: the end); "
            "negative counts from the end.", auto=True, min=-2**31, max=2**31),
      Param("step", "int", 1, "Keep every step-th value.", min=1, max=2**31)),
     _slice, lambda ctx: Call("ops.slice_along", {"dim": ctx.p["dim"], "start": ctx.p["start"],
                                                   "end": ctx.p["end"], "step": ctx.p["step"]}),
     Doc(summary="Keeps a range of one dim, as Python's start:end:step.",
         formula="y = x[…, start:end:step, …] on that dim;  dim −1, 0:4: N × 10 → N × 4",
         use_case="x[..., :d] and x[..., d:]: the halves of a projection; x[:, :, ::2] every "
                  "other step; torch.narrow(x, dim, start, length). Example: 1:3 of "
                  "[[1, 2, 3, 4]] gives [[2, 3]].",
         notes="A view, nothing copied. Indices past the end are cut, as in Python.")),
    _chunk_row(2), _chunk_row(3), _chunk_row(4),
)


def _spec(type_, title, prefix, params, shape, build, doc, outputs=(Port("y"),)):
    return NodeSpec(type=type_, title=title, category=CAT, id_prefix=prefix, inputs=_X,
                    outputs=outputs, params=params, shape=shape, build=build, color=COLOR,
                    doc=doc)


SPECS = tuple(_spec(*row) for row in ROWS)
