"""Writes the sequence-to-sequence templates (templates/encoder_decoder.json,
attention_seq2seq.json, transformer.json) through the Graph API. Re-run after changing them
here; the files are what ships (and what the tests train).

    .venv/bin/python tools/make_seq2seq_templates.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.layout import DX, DY, ROW_GAP  # noqa: E402
from graph.model import Graph  # noqa: E402
from graph.project import Project  # noqa: E402
from graph.settings import DataSettings, OptimizerRecord, TrainingSettings  # noqa: E402
from runtime.data.seq2seq import DATE_VOCAB  # noqa: E402
from tools.make_recurrent_templates import CLIP, placed, wire  # noqa: E402

V = len(DATE_VOCAB)
DATES = DataSettings(dataset="dates", options={"n_samples": 10000},
                     bind={"date": "x", "iso": "y"})
PHASES = ("Training feeds the decoder the true previous characters (the Teacher forcing "
          "node, its target wire dashed: training only); the exported model and the Try "
          "panel feed it its own, one character at a time (the Greedy decode node), and exact "
          "match is measured that way on held-out dates.")


def in_rows(g: Graph, rows: list[list[str]], below: dict[str, str]) -> Graph:
    """The encoder on the first row, the decoder on the rows under it, each left to right as
    data flows (in one row, 20-odd columns are too small to read when fitted to the view);
    `below`: a side node (a mask, the loss) -> the node it sits under."""
    x: dict[str, float] = {}
    top = 0.0
    for row in rows:
        for i, n in enumerate(row):
            g.move_node(n, (i * DX, top))
            x[n] = i * DX
        for n, anchor in below.items():
            if anchor in row:
                g.move_node(n, (x[anchor], top + DY))
        top += 2 * DY + ROW_GAP
    placed_ = {n for r in rows for n in r} | set(below)
    assert placed_ == set(g.nodes()), set(g.nodes()) ^ placed_
    return g


def _source(g: Graph, embed: int) -> None:
    g.add_node("Input", "date", {"shape": ["S"], "dtype": "int64"})
    g.add_node("Embedding", "src_embed", {"num_embeddings": V, "embedding_dim": embed})
    wire(g, ("date", "out"), ("src_embed", "x"))


def _target(g: Graph, embed: int) -> None:
    g.add_node("Target", "iso", {"shape": ["T"], "dtype": "int64"})
    g.add_node("TeacherForcing", "prev")
    g.add_node("Embedding", "tgt_embed", {"num_embeddings": V, "embedding_dim": embed})
    wire(g, ("iso", "out"), ("prev", "target"))
    wire(g, ("prev", "tokens"), ("tgt_embed", "x"))


def _head(g: Graph, src: tuple[str, str]) -> None:
    g.add_node("Linear", "head", {"out_features": V})
    g.add_node("CategoricalCrossEntropyLoss", "loss", {"from_logits": True, "ignore_index": 0})
    g.add_node("GreedyDecode", "decode", {"max_len": 11})
    g.add_node("Output", "iso_date")
    wire(g, src, ("head", "x"))
    wire(g, ("head", "y"), ("loss", "pred"))
    wire(g, ("iso", "out"), ("loss", "target"))
    wire(g, ("head", "y"), ("decode", "logits"))
    wire(g, ("decode", "tokens"), ("iso_date", "x"))


def encoder_decoder() -> Project:
    g = Graph()
    _source(g, 32)
    g.add_node("GRU", "encoder", {"hidden_size": 128})
    wire(g, ("src_embed", "y"), ("encoder", "x"))
    _target(g, 32)
    g.add_node("GRU", "decoder", {"hidden_size": 128})
    wire(g, ("tgt_embed", "y"), ("decoder", "x"))
    g.connect("encoder", "h", "decoder", "h0")  # the context vector c = h_T
    _head(g, ("decoder", "y"))
    return Project(
        graph=placed(g), name="Encoder-decoder",
        description=("Translates dates as people write them ('the 29th of August 1958', "
                     "'08/29/1958', 'Aug 29, 1958') into ISO form (1958-08-29), character by "
                     "character. The encoder GRU reads the input and compresses it into its "
                     "last hidden state, the context vector c = h_T; the decoder GRU starts "
                     "from c and generates y_t from s_t = f_dec(y_(t−1), s_(t−1), c), "
                     f"y_t = softmax(W s_t + b). {PHASES} {CLIP} The seed notes: one fixed "
                     "context vector 'can suffer from limitations when handling long "
                     "sequences' (compare the attention_seq2seq template)."),
        training=TrainingSettings(optimizer="adam", lr=0.003, batch_size=64, epochs=8,
                                  clip_norm=1.0, val_split=0.1),
        data=DATES)


def attention_seq2seq(score: str = "general") -> Project:
    g = Graph()
    _source(g, 32)
    # Bidirectional: the state h_j at a day's digit also knows the character after it, so
    # the decoder can tell '2,' (write 02) from '21'.
    g.add_node("GRU", "encoder", {"hidden_size": 64, "bidirectional": True})
    g.add_node("Reshape", "both_ways", {"shape": [1, 128]})
    g.add_node("PaddingMask", "src_padding", {"pad_id": 0})
    wire(g, ("src_embed", "y"), ("encoder", "x"))
    wire(g, ("encoder", "h"), ("both_ways", "x"))
    wire(g, ("date", "out"), ("src_padding", "x"))
    _target(g, 32)
    g.add_node("GRU", "decoder", {"hidden_size": 128})
    wire(g, ("tgt_embed", "y"), ("decoder", "x"))
    g.connect("both_ways", "y", "decoder", "h0")
    g.add_node("Attention", "attention", {"score": score})
    g.connect("decoder", "y", "attention", "query")
    g.connect("encoder", "y", "attention", "key")
    g.connect("src_padding", "mask", "attention", "key_padding_mask")
    g.add_node("Concat", "join", {"dim": 2})
    g.connect("decoder", "y", "join", "x")
    g.connect("attention", "context", "join", "x")
    g.add_node("Linear", "combine", {"out_features": 128})
    g.add_node("Tanh", "tanh")
    wire(g, ("join", "y"), ("combine", "x"))
    wire(g, ("combine", "y"), ("tanh", "x"))
    _head(g, ("tanh", "y"))
    return Project(
        graph=in_rows(g, [["date", "src_embed", "encoder", "both_ways"],
                          ["iso", "prev", "tgt_embed", "decoder", "attention", "join", "combine",
                           "tanh", "head", "decode", "iso_date"]],
                      {"src_padding": "src_embed", "loss": "decode"}),
        name="Encoder-decoder with attention",
        description=("The encoder-decoder of the encoder_decoder template, with a "
                     "bidirectional encoder (its two final states, joined, start the decoder) "
                     "and attention: at "
                     "each output step t the decoder state s_t scores every encoder state h_j, "
                     "e_tj = score(s_t, h_j) (the Attention node's score: dot, general "
                     "(multiplicative) or additive), α = softmax(e) and the context "
                     "c_t = Σ_j α_tj h_j replaces the fixed c; y_t = softmax(W tanh(W_c [s_t, "
                     "c_t]) + b). The padding of shorter dates gets no weight (the Padding "
                     f"mask). {PHASES} {CLIP} The Try panel shows the weights α as a heatmap: "
                     "which input characters each output character read."),
        training=TrainingSettings(optimizer="adam", lr=0.003, batch_size=64, epochs=6,
                                  clip_norm=1.0, val_split=0.1),
        data=DATES)


def _sublayer(g: Graph, prefix: str, x: tuple[str, str], out: tuple[str, str]) -> tuple[str, str]:
    """y = LayerNorm(x + Sublayer(x)): the residual connection and its norm."""
    g.add_node("Add", f"{prefix}_add")
    g.add_node("LayerNorm", f"{prefix}_norm")
    g.connect(*x, f"{prefix}_add", "x")
    g.connect(*out, f"{prefix}_add", "x")
    g.connect(f"{prefix}_add", "y", f"{prefix}_norm", "x")
    return f"{prefix}_norm", "y"


def _feed_forward(g: Graph, x: tuple[str, str], d: int, hidden: int):
    g.add_node("Linear", "ff1", {"out_features": hidden})
    g.add_node("ReLU", "relu")
    g.add_node("Linear", "ff2", {"out_features": d})
    g.connect(*x, "ff1", "x")
    wire(g, ("ff1", "y"), ("relu", "x"))
    wire(g, ("relu", "y"), ("ff2", "x"))
    return _sublayer(g, "ff", x, ("ff2", "y"))


def _attend(g: Graph, name: str, q, kv, heads: int, mask=None, causal=None):
    g.add_node("MultiHeadAttention", name, {"num_heads": heads})
    g.connect(*q, name, "query")
    g.connect(*kv, name, "key")
    g.connect(*kv, name, "value")
    if mask is not None:
        g.connect(*mask, name, "key_padding_mask")
    if causal is not None:
        g.connect(*causal, name, "attn_mask")
    return name, "out"


def _passed(b: Graph, pairs) -> None:
    """Inputs a repeated layer passes on unchanged to the next repetition (the memory and
    the masks): each Block input wired straight to a Block output at its place."""
    for i, o in pairs:
        b.add_node("BlockOutput", o)
        b.connect(i, "out", o, "x")


def _layer_exposed(g: Graph, name: str, attention: tuple[str, ...], d: int, heads: int,
                   hidden: int) -> None:
    from graph.blocks import Exposed
    g.set_block_info(name, exposed=[
        Exposed("heads", tuple(f"{a}.num_heads" for a in attention), heads,
                "Attention heads (the model width must divide by it)."),
        Exposed("d_ff", ("ff1.out_features",), hidden, "Width of the feed-forward hidden layer."),
        Exposed("d_model", ("ff2.out_features",), d,
                "The model width: the feed-forward's output (the same as its input).")])


def encoder_layer(g: Graph, d: int, heads: int, hidden: int) -> None:
    """x -> LayerNorm(x + SelfAttention(x)) -> LayerNorm(. + FeedForward(.)); the padding
    mask passes through to the next layer."""
    b = g.add_block("encoder_layer", "Encoder layer",
                    "One Transformer encoder layer (Vaswani et al., 2017): multi-head "
                    "self-attention over the whole input (padding masked), then a position-wise "
                    "feed-forward network, each sub-layer y = LayerNorm(x + Sublayer(x)). The "
                    "padding mask passes on to the next layer.").graph
    b.add_node("BlockInput", "x")
    b.add_node("BlockInput", "padding")
    a = _attend(b, "self_attention", ("x", "out"), ("x", "out"), heads, mask=("padding", "out"))
    x = _sublayer(b, "attn", ("x", "out"), a)
    y = _feed_forward(b, x, d, hidden)
    b.add_node("BlockOutput", "y")
    b.connect(*y, "y", "x")
    _passed(b, [("padding", "padding_out")])
    placed(b)
    _layer_exposed(g, "encoder_layer", ("self_attention",), d, heads, hidden)


def decoder_layer(g: Graph, d: int, heads: int, hidden: int) -> None:
    """y -> causal self-attention -> cross-attention to the encoder's memory -> feed-forward,
    each with its residual and norm; memory and masks pass through to the next layer."""
    b = g.add_block("decoder_layer", "Decoder layer",
                    "One Transformer decoder layer: causal multi-head self-attention (position "
                    "t sees positions ≤ t), cross-attention whose queries are the decoder's "
                    "and whose keys and values are the encoder's output (the memory), then a "
                    "position-wise feed-forward network, each sub-layer "
                    "y = LayerNorm(x + Sublayer(x)). The memory and the masks pass on to the "
                    "next layer.").graph
    for n in ("x", "memory", "padding", "causal"):
        b.add_node("BlockInput", n)
    a = _attend(b, "self_attention", ("x", "out"), ("x", "out"), heads, causal=("causal", "out"))
    y = _sublayer(b, "attn", ("x", "out"), a)
    b.add_node("MultiHeadAttention", "cross_attention", {"num_heads": heads})
    b.connect(*y, "cross_attention", "query")
    b.connect("memory", "out", "cross_attention", "key")
    b.connect("memory", "out", "cross_attention", "value")
    b.connect("padding", "out", "cross_attention", "key_padding_mask")
    y = _sublayer(b, "cross", y, ("cross_attention", "out"))
    y = _feed_forward(b, y, d, hidden)
    b.add_node("BlockOutput", "y")
    b.connect(*y, "y", "x")
    _passed(b, [("memory", "memory_out"), ("padding", "padding_out"), ("causal", "causal_out")])
    placed(b)
    _layer_exposed(g, "decoder_layer", ("self_attention", "cross_attention"), d, heads, hidden)


def transformer(d: int = 64, heads: int = 4, hidden: int = 128, layers: int = 1) -> Project:
    g = Graph()
    encoder_layer(g, d, heads, hidden)
    decoder_layer(g, d, heads, hidden)
    _source(g, d)
    g.add_node("PositionalEncoding", "src_position", {"max_len": 64})
    g.add_node("PaddingMask", "src_padding", {"pad_id": 0})
    wire(g, ("src_embed", "y"), ("src_position", "x"))
    wire(g, ("date", "out"), ("src_padding", "x"))
    g.add_node("block:encoder_layer", "encoder", {"repeat": layers})
    g.connect("src_position", "y", "encoder", "x")
    g.connect("src_padding", "mask", "encoder", "padding")

    _target(g, d)
    g.add_node("PositionalEncoding", "tgt_position", {"max_len": 64})
    g.add_node("CausalMask", "causal")
    wire(g, ("tgt_embed", "y"), ("tgt_position", "x"))
    wire(g, ("prev", "tokens"), ("causal", "x"))
    g.add_node("block:decoder_layer", "decoder", {"repeat": layers})
    g.connect("tgt_position", "y", "decoder", "x")
    g.connect("encoder", "y", "decoder", "memory")
    g.connect("src_padding", "mask", "decoder", "padding")
    g.connect("causal", "mask", "decoder", "causal")
    _head(g, ("decoder", "y"))
    return Project(
        graph=in_rows(g, [["date", "src_embed", "src_position", "encoder"],
                          ["iso", "prev", "tgt_embed", "tgt_position", "decoder", "head",
                           "decode", "iso_date"]],
                      {"src_padding": "src_position", "causal": "tgt_position",
                       "loss": "decode"}),
        name="Transformer",
        description=("An encoder-decoder Transformer, built from an Encoder layer block and a "
                     "Decoder layer block (double-click one to see its parts; its repeat "
                     "stacks more layers), translating dates into ISO form. No recurrence: "
                     "the Embeddings get a sinusoidal positional encoding, and every layer is "
                     "attention, softmax(Q Kᵀ / √d_k) V, run as "
                     f"{heads} heads whose results are concatenated (the Multi-head attention "
                     "nodes: their query, key and value ports are Q, K and V). The encoder's "
                     "self-attention sees the whole date; the decoder's is causal (the Causal "
                     "mask: position t sees positions ≤ t), then its cross-attention reads the "
                     "encoder's output. Each sub-layer is y = LayerNorm(x + Sublayer(x)). "
                     f"{PHASES} The learning rate falls from 0.001 to 0.00001 along a "
                     "cosine (the optimizer record's lr_end): the last epochs settle."),
        training=TrainingSettings(
            optimizer="adam", lr=0.001, batch_size=64, epochs=14, clip_norm=1.0, val_split=0.1,
            # Adam over every weight with the rate falling along a cosine to 1e-5: at a
            # constant 0.001 the last epochs' exact match swings by several points (0.91-0.99
            # from one epoch to the next); decayed, it settles where it is best
            optimizers=[OptimizerRecord(name="all", losses=["loss"], optimizer="adam",
                                        lr=0.001, lr_end=1e-5)]),
        data=DATES)


def main() -> None:
    out = ROOT / "templates"
    for name, project in (("encoder_decoder", encoder_decoder()),
                          ("attention_seq2seq", attention_seq2seq()),
                          ("transformer", transformer())):
        project.save(out / f"{name}.json")
        print("wrote", out / f"{name}.json")


if __name__ == "__main__":
    main()
