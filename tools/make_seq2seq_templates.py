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
from graph.settings import DataSettings, TrainingSettings  # noqa: E402
from runtime.seq2seq import DATE_VOCAB  # noqa: E402
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


def _feed_forward(g: Graph, prefix: str, x: tuple[str, str], d: int, hidden: int):
    g.add_node("Linear", f"{prefix}_ff1", {"out_features": hidden})
    g.add_node("ReLU", f"{prefix}_relu")
    g.add_node("Linear", f"{prefix}_ff2", {"out_features": d})
    g.connect(*x, f"{prefix}_ff1", "x")
    wire(g, (f"{prefix}_ff1", "y"), (f"{prefix}_relu", "x"))
    wire(g, (f"{prefix}_relu", "y"), (f"{prefix}_ff2", "x"))
    return _sublayer(g, prefix + "_ff", x, (f"{prefix}_ff2", "y"))


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


def transformer(d: int = 64, heads: int = 4, hidden: int = 128) -> Project:
    g = Graph()
    _source(g, d)
    g.add_node("PositionalEncoding", "src_position", {"max_len": 64})
    g.add_node("PaddingMask", "src_padding", {"pad_id": 0})
    wire(g, ("src_embed", "y"), ("src_position", "x"))
    wire(g, ("date", "out"), ("src_padding", "x"))
    x = ("src_position", "y")
    a = _attend(g, "enc_self_attention", x, x, heads, mask=("src_padding", "mask"))
    x = _sublayer(g, "enc_attn", x, a)
    memory = _feed_forward(g, "enc", x, d, hidden)

    _target(g, d)
    g.add_node("PositionalEncoding", "tgt_position", {"max_len": 64})
    g.add_node("CausalMask", "causal")
    wire(g, ("tgt_embed", "y"), ("tgt_position", "x"))
    wire(g, ("prev", "tokens"), ("causal", "x"))
    y = ("tgt_position", "y")
    a = _attend(g, "dec_self_attention", y, y, heads, causal=("causal", "mask"))
    y = _sublayer(g, "dec_attn", y, a)
    g.add_node("MultiHeadAttention", "cross_attention", {"num_heads": heads})
    g.connect(*y, "cross_attention", "query")
    g.connect(*memory, "cross_attention", "key")
    g.connect(*memory, "cross_attention", "value")
    g.connect("src_padding", "mask", "cross_attention", "key_padding_mask")
    y = _sublayer(g, "dec_cross", y, ("cross_attention", "out"))
    y = _feed_forward(g, "dec", y, d, hidden)
    _head(g, y)
    return Project(
        graph=in_rows(g, [["date", "src_embed", "src_position", "enc_self_attention",
                           "enc_attn_add", "enc_attn_norm", "enc_ff1", "enc_relu", "enc_ff2",
                           "enc_ff_add", "enc_ff_norm"],
                          ["iso", "prev", "tgt_embed", "tgt_position", "dec_self_attention",
                           "dec_attn_add", "dec_attn_norm", "cross_attention", "dec_cross_add",
                           "dec_cross_norm"],
                          ["dec_ff1", "dec_relu", "dec_ff2", "dec_ff_add", "dec_ff_norm", "head",
                           "decode", "iso_date"]],
                      {"src_padding": "src_position", "causal": "tgt_position",
                       "loss": "decode"}),
        name="Transformer",
        description=("An encoder-decoder Transformer, built from its parts, translating dates "
                     "into ISO form. No recurrence: the Embeddings get a sinusoidal positional "
                     "encoding, and every layer is attention, softmax(Q Kᵀ / √d_k) V, run as "
                     f"{heads} heads whose results are concatenated (the Multi-head attention "
                     "nodes: their query, key and value ports are Q, K and V). The encoder's "
                     "self-attention sees the whole date; the decoder's is causal (the Causal "
                     "mask: position t sees positions ≤ t), then its cross-attention reads the "
                     "encoder's output. Each sub-layer is y = LayerNorm(x + Sublayer(x)). "
                     f"{PHASES}"),
        training=TrainingSettings(optimizer="adam", lr=0.001, batch_size=64, epochs=14,
                                  clip_norm=1.0, val_split=0.1),
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
