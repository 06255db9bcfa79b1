"""Decoding and phases (issue 11): the nodes that make training and inference differ, drawn on
the canvas (graph/phases.py says how compile reads them).

A sequence-to-sequence decoder predicts y_t from its previous tokens. In training it is fed
the true previous tokens (teacher forcing), so every position trains at once; at inference
it feeds back its own predictions, one token at a time, until the end token. The Teacher
forcing node is where the decoder reads its previous tokens; the Greedy decode node is the
loop that feeds them back.
"""
from __future__ import annotations

from ..spec import BATCH, Call, Doc, Make, NodeSpec, Param, Port, TensorType
from ._common import COLORS

SEQ = "Sequence"

# The token ids runtime/data/seq2seq.py's vocabularies use: pad 0, start 1, end 2.
PAD_ID, START_ID, END_ID = 0, 1, 2


def _tf_shape(ctx):
    t = ctx.ins["target"]
    if t.dtype != "int64" or len(t.shape) != 2:
        ctx.fail(f"takes the target's token ids N × T (int64) but '{ctx.src('target')}' "
                 f"gives {t}", "target")
    return {"tokens": TensorType(t.shape, "int64")}


TEACHER_FORCING = NodeSpec(
    type="TeacherForcing", title="Teacher forcing (previous tokens)", category=SEQ,
    role="feedback", id_prefix="prev",
    inputs=(Port("target", phase="train",
                 doc="training only: the target's tokens y_1 … y_T (N × T int64)"),),
    outputs=(Port("tokens", doc="the decoder's previous tokens: <start>, y_1 … y_{T−1} in "
                                "training; at inference the tokens decoded so far"),),
    params=(Param("start_token", "int", START_ID, "The token id the decoder starts from "
                  "(the dataset's <s>).", min=0, max=10_000_000, role="start_token"),),
    shape=_tf_shape,
    build=lambda ctx: Call("ops.shift_right", {"start": ctx.p["start_token"]}),
    color=COLORS[SEQ],
    doc=Doc(
        summary="Where a decoder reads the tokens before the one it predicts. In training "
                "they are the true ones, the target shifted right behind a start token "
                "(teacher forcing), so every position trains at once; at inference they are "
                "the decoder's own predictions, fed back by a Greedy decode node one token "
                "at a time.",
        formula="training:   ỹ = (<s>, y_1, …, y_{T−1})\n"
                "inference:  ỹ = (<s>, ŷ_1, …, ŷ_{t−1})   (ŷ from the Greedy decode)\n"
                "the decoder: s_t = f_dec(ỹ_t, s_{t−1}, c),  y_t = softmax(W s_t + b)",
        use_case="The decoder's input in every sequence-to-sequence template: wire the "
                 "Target's tokens to it, its tokens to the decoder's Embedding, and the "
                 "decoder's logits to a Greedy decode node.",
        notes="Its target wire (dashed) exists in training only: the model that exports "
              "has no target. Training on true tokens is fast and stable, but the decoder "
              "never sees its own mistakes ('exposure bias'): exact match measured by "
              "greedy decoding is lower than the teacher-forced accuracy.",
    ),
)


def _decode_shape(ctx):
    x = ctx.ins["logits"]
    if x.dtype != "float32" or len(x.shape) != 3 or not isinstance(x.shape[-1], int):
        ctx.fail(f"takes the decoder's scores over the vocabulary, N × T × V, but "
                 f"'{ctx.src('logits')}' gives {x}", "logits")
    if ctx.p["end_token"] >= x.shape[-1]:
        ctx.fail(f"stops at token {ctx.p['end_token']} (end_token), but the scores from "
                 f"'{ctx.src('logits')}' cover tokens 0 to {x.shape[-1] - 1}", None)
    return {"tokens": TensorType((BATCH, ctx.p["max_len"]), "int64")}


GREEDY_DECODE = NodeSpec(
    type="GreedyDecode", title="Greedy decode", category=SEQ, role="decode", phase="infer",
    id_prefix="decode",
    inputs=(Port("logits", doc="the decoder's scores N × T × V; the last step's are read"),),
    outputs=(Port("tokens", doc="the decoded tokens N × max_len (int64), padding after the "
                                "end token"),),
    params=(Param("max_len", "int", 20, "The most tokens to produce (the end token "
                  "included).", min=1, max=100_000),
            Param("end_token", "int", END_ID, "The token id that ends a sequence (the "
                  "dataset's </s>).", min=0, max=10_000_000, role="end_token"),
            Param("pad_token", "int", PAD_ID, "What fills a sequence after its end token.",
                  min=0, max=10_000_000, role="pad_token")),
    shape=_decode_shape,
    build=lambda ctx: Make("ops.GreedyDecode", {"max_len": ctx.p["max_len"],
                                                "end": ctx.p["end_token"],
                                                "pad": ctx.p["pad_token"]}),
    color=COLORS[SEQ],
    doc=Doc(
        summary="Inference for a decoder: starting from the start token, it runs the "
                "decoder (every node between the Teacher forcing node and this one), takes "
                "the most likely next token, appends it to the tokens fed back, and repeats "
                "until every sequence has produced the end token or max_len tokens.",
        formula="ỹ_0 = <s>\n"
                "ŷ_t = argmax_v softmax(W s_t + b)_v,   s_t = f_dec(ỹ_{<t}, c)\n"
                "ỹ_t = ŷ_t,  until ŷ_t = </s> or t = max_len",
        use_case="The inference half of every sequence-to-sequence template: its tokens go "
                 "to the Output, so the exported model translates on its own.",
        notes="Exists in the inference graph only (the training graph feeds the true "
              "tokens). Each step reruns the decoder on the whole prefix: exact for any "
              "causal decoder (an RNN, a masked Transformer); the encoder runs once. Greedy "
              "takes the best token at each step, not the best sequence (beam search would "
              "keep several candidates).",
    ),
)


def _pass_shape(ctx):
    return {"y": ctx.ins["x"]}


def _phase_node(type_, title, phase, summary, use_case):
    return NodeSpec(
        type=type_, title=title, category="Structure", phase=phase, id_prefix=type_.lower(),
        inputs=(Port("x"),), outputs=(Port("y", doc="x, unchanged"),), params=(),
        shape=_pass_shape, build=lambda ctx: Call("ops.identity", {}),
        color=COLORS["Structure"],
        doc=Doc(summary=summary, formula="y = x", use_case=use_case,
                notes="Everything after it shares its phase. Targets and losses are in the "
                      "training graph only without one."))


TRAINING_ONLY = _phase_node(
    "TrainingOnly", "Training only", "train",
    "Marks a wire as training-only: this node and everything after it are in the training "
    "graph only, not in the model that exports.",
    "A branch that helps training but is not part of the product: an auxiliary head, a "
    "teacher-forced view to plot.")

INFERENCE_ONLY = _phase_node(
    "InferenceOnly", "Inference only", "infer",
    "Marks a wire as inference-only: this node and everything after it are in the model "
    "that exports and that the Try panel runs, never in training.",
    "Post-processing the exported model should do (an argmax, a softmax for probabilities) "
    "that the loss must not see.")

SPECS = (TEACHER_FORCING, GREEDY_DECODE, TRAINING_ONLY, INFERENCE_ONLY)
