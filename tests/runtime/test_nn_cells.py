"""torch.nn's recurrent cells, Transformer layers and EmbeddingBag (graph/catalogue/nn_cells.py):
compiled through runtime.compile they are torch's modules (same class, same state_dict keys,
same outputs with the same weights), they give the hand values of their formulas, and their
shape rules refuse misfits naming the port and the node that feeds it."""
import math

import pytest
import torch
from torch import nn

from graph import catalogue
from graph.analysis import analyse
from graph.model import Graph
from runtime.compile import compile_graph


def _graph(type_, params, inputs, wires, outputs):
    """One node 'n' of `type_`; `inputs`: Input id -> (shape, dtype); `wires`: (source node,
    its port, port of n), sources being Inputs ('out') or other nodes already added;
    `outputs`: ports of n, each to an Output."""
    g = Graph()
    for nid, (shape, dtype) in inputs.items():
        g.add_node("Input", nid, {"shape": list(shape), "dtype": dtype})
    g.add_node(type_, "n", params)
    for src, sport, port in wires:
        g.connect(src, sport, "n", port)
    for port in outputs:
        g.add_node("Output", f"out_{port}")
        g.connect("n", port, f"out_{port}", "x")
    return g


def _mask_node(g, type_, nid, src, params=None):
    g.add_node(type_, nid, params or {})
    g.connect(src, "out", nid, "x")


def _same_module(compiled, cls, **kwargs):
    """The compiled node's module is torch's `cls` with torch's state_dict keys; a fresh
    `cls(**kwargs)` loaded with its weights (strictly) is returned to compare outputs."""
    mine = compiled.module("n")
    assert type(mine) is cls
    ref = cls(**kwargs)
    assert list(mine.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(mine.state_dict())
    return ref


# Recurrent cells --------------------------------------------------------------------------

@pytest.mark.parametrize("type_, extra", [("RNNCell", {"nonlinearity": "relu"}),
                                          ("GRUCell", {})])
def test_a_cell_with_its_state_wired_is_torchs_cell(type_, extra):
    torch.manual_seed(0)
    g = _graph(type_, {"hidden_size": 5, **extra}, {"x": ((3,), "float32"),
                                                    "h": ((5,), "float32")},
               [("x", "out", "x"), ("h", "out", "hx")], ["h"])
    c = compile_graph(g)
    ref = _same_module(c, getattr(nn, type_), input_size=3, hidden_size=5, **extra)
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    args = {"x": x, "h": h}
    assert torch.allclose(c.model(*(args[i] for i in c.inputs)), ref(x, h), atol=1e-6)


def test_an_lstm_cell_gives_h_and_c_from_a_zero_state():
    torch.manual_seed(0)
    g = _graph("LSTMCell", {"hidden_size": 4, "bias": False}, {"x": ((3,), "float32")},
               [("x", "out", "x")], ["h", "c"])
    c = compile_graph(g)
    ref = _same_module(c, nn.LSTMCell, input_size=3, hidden_size=4, bias=False)
    assert list(ref.state_dict()) == ["weight_ih", "weight_hh"]
    x = torch.randn(6, 3)
    h, cell = c.model(x)
    want_h, want_c = ref(x)
    assert torch.allclose(h, want_h, atol=1e-6) and torch.allclose(cell, want_c, atol=1e-6)


def test_cells_hand_values():
    """The worked examples of the help: h′ = tanh(0.5·2 + 0.1 − 1·1 + 0.2) = tanh(0.3);
    the LSTM's c′ = σ(1)·tanh(2), h′ = σ(1)·tanh(c′); a GRU with zero weights halves h."""
    g = _graph("RNNCell", {"hidden_size": 1},
               {"x": ((1,), "float32"), "h": ((1,), "float32")},
               [("x", "out", "x"), ("h", "out", "hx")], ["h"])
    c = compile_graph(g)
    cell = c.module("n")
    with torch.no_grad():
        cell.weight_ih.fill_(0.5), cell.weight_hh.fill_(-1.0)
        cell.bias_ih.fill_(0.1), cell.bias_hh.fill_(0.2)
        args = {"x": torch.tensor([[2.0]]), "h": torch.tensor([[1.0]])}
        got = c.model(*(args[i] for i in c.inputs)).item()
    assert got == pytest.approx(math.tanh(0.3), abs=1e-6)
    assert got == pytest.approx(0.2913, abs=1e-4)

    g = _graph("LSTMCell", {"hidden_size": 1, "bias": False}, {"x": ((1,), "float32")},
               [("x", "out", "x")], ["h", "c"])
    c = compile_graph(g)
    with torch.no_grad():
        c.module("n").weight_ih.copy_(torch.tensor([[1.0], [0.0], [2.0], [1.0]]))  # i f g o
        h, cell = (v.item() for v in c.model(torch.tensor([[1.0]])))
    sig = 1 / (1 + math.exp(-1))
    assert cell == pytest.approx(sig * math.tanh(2), abs=1e-6)
    assert h == pytest.approx(sig * math.tanh(sig * math.tanh(2)), abs=1e-6)
    assert (round(cell, 4), round(h, 4)) == (0.7048, 0.444)
    for type_, words in (("RNNCell", "= tanh(0.3) = 0.2913"), ("LSTMCell", "= 0.7048 and h′"),
                         ("LSTMCell", "= 0.4440"), ("GRUCell", "h′ = h / 2")):
        assert words in catalogue.get(type_).doc.use_case  # the help says what was computed

    g = _graph("GRUCell", {"hidden_size": 2},
               {"x": ((3,), "float32"), "h": ((2,), "float32")},
               [("x", "out", "x"), ("h", "out", "hx")], ["h"])
    c = compile_graph(g)
    with torch.no_grad():
        for p in c.module("n").parameters():
            p.zero_()
        args = {"x": torch.randn(1, 3), "h": torch.tensor([[0.5, -3.0]])}
        assert c.model(*(args[i] for i in c.inputs)).tolist() == [[0.25, -1.5]]


# Transformer layers -----------------------------------------------------------------------

def test_an_encoder_layer_with_masks_from_token_ids_is_torchs_layer():
    """ids → Embedding → TransformerEncoderLayer, with a Padding mask of the ids on
    src_key_padding_mask and a Causal mask on src_mask: torch's layer, same weights, same
    output."""
    torch.manual_seed(0)
    p = {"nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "activation": "gelu",
         "norm_first": True}
    g = _graph("TransformerEncoderLayer", p, {"ids": ((6,), "int64")}, [], ["y"])
    g.add_node("Embedding", "emb", {"num_embeddings": 10, "embedding_dim": 8})
    g.connect("ids", "out", "emb", "x")
    g.connect("emb", "y", "n", "src")
    _mask_node(g, "PaddingMask", "pad", "ids")
    _mask_node(g, "CausalMask", "causal", "ids")
    g.connect("pad", "mask", "n", "src_key_padding_mask")
    g.connect("causal", "mask", "n", "src_mask")
    c = compile_graph(g)
    ref = _same_module(c, nn.TransformerEncoderLayer, d_model=8, batch_first=True, **p)
    assert "self_attn.in_proj_weight" in ref.state_dict()
    ids = torch.tensor([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    got = c.model(ids)
    with torch.no_grad():
        emb = c.module("emb")(ids)
    want = ref(emb, src_mask=torch.triu(torch.ones(6, 6, dtype=torch.bool), 1),
               src_key_padding_mask=ids == 0)
    assert got.shape == (2, 6, 8)
    assert torch.allclose(got, want, atol=1e-5)


def test_a_decoder_layer_reading_an_encoders_memory_is_torchs_layer():
    torch.manual_seed(0)
    p = {"nhead": 4, "dim_feedforward": 12, "dropout": 0.0}
    g = _graph("TransformerDecoderLayer", p, {"tgt": ((5, 8), "float32"),
                                              "mem": ((7, 8), "float32")},
               [("tgt", "out", "tgt"), ("mem", "out", "memory")], ["y"])
    _mask_node(g, "CausalMask", "causal", "tgt")
    g.connect("causal", "mask", "n", "tgt_mask")
    c = compile_graph(g)
    ref = _same_module(c, nn.TransformerDecoderLayer, d_model=8, batch_first=True, **p)
    assert "multihead_attn.out_proj.weight" in ref.state_dict()
    tgt, mem = torch.randn(3, 5, 8), torch.randn(3, 7, 8)
    args = {"tgt": tgt, "mem": mem}
    got = c.model(*(args[i] for i in c.inputs))
    want = ref(tgt, mem, tgt_mask=torch.triu(torch.ones(5, 5, dtype=torch.bool), 1))
    assert torch.allclose(got, want, atol=1e-5)


def test_a_sequence_length_name_passes_through_the_transformer_layers():
    g = _graph("TransformerDecoderLayer", {"nhead": 2}, {"tgt": (("T", 4), "float32"),
                                                         "mem": (("S", 4), "float32")},
               [("tgt", "out", "tgt"), ("mem", "out", "memory")], ["y"])
    _mask_node(g, "CausalMask", "causal", "tgt")
    g.connect("causal", "mask", "n", "tgt_mask")
    a = analyse(g)
    assert not a.errors, a.errors
    assert str(a.out_type("n", "y")) == "N × T × 4"


# EmbeddingBag -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode, want", [("mean", [2.0, 1.0]), ("sum", [4.0, 2.0]),
                                        ("max", [3.0, 2.0])])
def test_embedding_bag_hand_values(mode, want):
    """The help's example: E[0] = [1, 2], E[2] = [3, 0]; the bag [0, 2]."""
    g = _graph("EmbeddingBag", {"num_embeddings": 3, "embedding_dim": 2, "mode": mode},
               {"ids": ((2,), "int64")}, [("ids", "out", "x")], ["y"])
    c = compile_graph(g)
    ref = _same_module(c, nn.EmbeddingBag, num_embeddings=3, embedding_dim=2, mode=mode)
    assert list(ref.state_dict()) == ["weight"]
    with torch.no_grad():
        c.module("n").weight.copy_(torch.tensor([[1.0, 2.0], [9.0, 9.0], [3.0, 0.0]]))
        assert c.model(torch.tensor([[0, 2]])).tolist() == [want]
    help_ = catalogue.get("EmbeddingBag").doc.use_case
    assert f"[{want[0]:g}, {want[1]:g}] in mode '{mode}'" in help_ or \
        f"[{want[0]:g}, {want[1]:g}] in '{mode}'" in help_


def test_embedding_bag_with_weights_per_id_is_torchs():
    torch.manual_seed(0)
    g = _graph("EmbeddingBag", {"num_embeddings": 9, "embedding_dim": 4, "mode": "sum",
                                "padding_idx": 0},
               {"ids": ((5,), "int64"), "w": ((5,), "float32")},
               [("ids", "out", "x"), ("w", "out", "per_sample_weights")], ["y"])
    c = compile_graph(g)
    ref = _same_module(c, nn.EmbeddingBag, num_embeddings=9, embedding_dim=4, mode="sum",
                       padding_idx=0)
    ids, w = torch.randint(0, 9, (4, 5)), torch.rand(4, 5)
    args = {"ids": ids, "w": w}
    got = c.model(*(args[i] for i in c.inputs))
    assert torch.allclose(got, ref(ids, per_sample_weights=w), atol=1e-6)


# Refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("type_, params, inputs, wires, port, words", [
    ("RNNCell", {"hidden_size": 5}, {"x": ((3,), "float32"), "h": ((4,), "float32")},
     [("x", "x"), ("h", "hx")], "hx",
     "takes the previous hidden state h as N × 5 (hidden_size 5) on 'hx' but 'h' gives N × 4"),
    ("GRUCell", {}, {"seq": ((7, 3), "float32")}, [("seq", "x")], "x",
     "needs one step's features N × input_size on 'x' but 'seq' gives N × 7 × 3"),
    ("LSTMCell", {"input_size": 4}, {"x": ((3,), "float32")}, [("x", "x")], "x",
     "expects 4 input features (input_size) on 'x' but 'x' gives 3"),
    ("GRUCell", {}, {"x": (("F",), "float32")}, [("x", "x")], "x",
     "needs a known number of input features (input_size) on 'x' but 'x' gives N × F"),
    ("TransformerEncoderLayer", {"nhead": 4}, {"x": ((5, 6), "float32")}, [("x", "src")],
     "src", "splits the 6 features of 'x' on 'src' into 4 heads"),
    ("TransformerEncoderLayer", {"nhead": 2}, {"ids": ((5,), "int64")}, [("ids", "src")],
     "src", "needs real numbers (float32) on 'src' but 'ids' gives N × 5 (int64)"),
    ("TransformerDecoderLayer", {"nhead": 2}, {"t": ((5, 6), "float32"),
                                               "m": ((7, 4), "float32")},
     [("t", "tgt"), ("m", "memory")], "memory",
     "with the same d_model = 6 and batch, but 'm' gives N × 7 × 4"),
    ("TransformerEncoderLayer", {"nhead": 2}, {"x": ((5, 6), "float32"),
                                               "k": ((4,), "int64")},
     [("x", "src"), ("k", "src_key_padding_mask")], "src_key_padding_mask",
     "or a float one (added to the scores) on 'src_key_padding_mask' but 'k' gives"),
    ("EmbeddingBag", {}, {"x": ((5,), "float32")}, [("x", "x")], "x",
     "takes bags of token ids N × L (int64) on 'x' but 'x' gives N × 5"),
    ("EmbeddingBag", {"mode": "mean"}, {"x": ((5,), "int64"), "w": ((5,), "float32")},
     [("x", "x"), ("w", "per_sample_weights")], "per_sample_weights",
     "weights each id only in mode 'sum'"),
])
def test_misfits_are_refused_naming_the_port_and_its_source(type_, params, inputs, wires,
                                                            port, words):
    g = _graph(type_, params, inputs, [(s, "out", p) for s, p in wires], ["y"]
               if type_.startswith(("Transformer", "Embedding")) else ["h"])
    [issue] = [i for i in analyse(g).errors if i.node == "n"]
    assert issue.port == port
    assert words in issue.message, issue.message


def test_a_mask_per_sample_needs_one_head_and_mask_kinds_must_match():
    """torch takes an N × T × T attention mask only as (N·nhead) × T × T, and warns that a
    bool mask beside a float one is deprecated: refused in words."""
    g = _graph("TransformerEncoderLayer", {"nhead": 2},
               {"x": ((5, 6), "float32"), "m": ((5, 5), "float32")},
               [("x", "out", "src"), ("m", "out", "src_mask")], ["y"])
    [issue] = [i for i in analyse(g).errors if i.node == "n"]
    assert issue.port == "src_mask" and "works with nhead = 1 only" in issue.message
    g = _graph("TransformerEncoderLayer", {"nhead": 1},
               {"x": ((5, 6), "float32"), "m": ((5, 5), "float32")},
               [("x", "out", "src"), ("m", "out", "src_mask")], ["y"])
    assert not analyse(g).errors  # one head: N × T × T is torch's (N·1) × T × T
    g2 = _graph("TransformerEncoderLayer", {"nhead": 1},
                {"x": ((5, 6), "float32"), "ids": ((5,), "int64"), "m": ((5, 5), "float32")},
                [("x", "out", "src"), ("m", "out", "src_mask")], ["y"])
    _mask_node(g2, "PaddingMask", "pad", "ids")  # a bool mask beside the float one
    g2.connect("pad", "mask", "n", "src_key_padding_mask")
    [issue] = [i for i in analyse(g2).errors if i.node == "n"]
    assert issue.port == "src_key_padding_mask" and "of the same kind" in issue.message
