"""The shipped block library (issue 25, item 5) compiled: each block inserted into a fresh
project, instantiated on an input that fits, analysed, compiled and run; the block-built
Transformer encoder layer equals nn.TransformerEncoderLayer with copied weights; the basic
block analyses as tests/graphs.py's does."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from graph import library
from graph.analysis import analyse
from graph.project import Project
from runtime.compile import compile_graph
from tests.graphs import basic_block

# block -> (its instance's parameters, input shapes (without N), output shape (without N))
CASES = {
    "conv_bn_relu": ({"channels": 8, "stride": 2}, [[3, 16, 16]], (8, 8, 8)),
    "resnet_basic": ({"channels": 8}, [[8, 16, 16]], (8, 16, 16)),
    "resnet_basic_down": ({"channels": 16}, [[8, 16, 16]], (16, 8, 8)),
    "resnet_bottleneck": ({"width": 4, "channels": 16}, [[16, 8, 8]], (16, 8, 8)),
    "resnet_bottleneck_down": ({"width": 4, "channels": 16}, [[8, 8, 8]], (16, 4, 4)),
    "transformer_encoder_layer": ({"d_model": 16, "heads": 4, "ffn": 32}, [[5, 16]],
                                  (5, 16)),
    "transformer_decoder_layer": ({"d_model": 16, "heads": 2, "ffn": 32},
                                  [[6, 16], [5, 16]], (6, 16)),
    "mlp_block": ({"features": 12}, [[20]], (12,)),
    "inverted_residual": ({"expanded": 48, "channels": 8}, [[8, 8, 8]], (8, 8, 8)),
}


def instance(name: str, params: dict, shapes: list) -> Project:
    p = Project()
    g = p.graph
    block = library.insert(g, library.find(f"shipped/{name}.json"))
    g.add_node(f"block:{block}", "blk", params)
    ports = [x.name for x in g.spec("blk").inputs]
    assert len(ports) == len(shapes)
    for i, (port, shape) in enumerate(zip(ports, shapes)):
        g.add_node("Input", f"in{i}", {"shape": shape})
        g.connect(f"in{i}", "out", "blk", port)
    g.add_node("Output", "out")
    g.connect("blk", "y", "out", "x")
    return p


def test_every_shipped_block_has_a_case():
    assert sorted(CASES) == sorted(e.name for e in library.shipped())


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_shipped_block_analyses_compiles_and_runs(name):
    params, shapes, out = CASES[name]
    g = instance(name, params, shapes).graph
    a = analyse(g)
    assert a.ok, a.issues
    assert a.out_type("blk", "y").shape == ("N", *out)
    c = compile_graph(g)
    c.model.eval()
    y = c.model(*(torch.randn(2, *s) for s in shapes))
    assert y.shape == (2, *out) and torch.isfinite(y).all()


def test_the_basic_block_analyses_as_the_hand_wired_one():
    g = instance("resnet_basic", {"channels": 8}, [[8, 16, 16]]).graph
    ref = Project().graph
    basic_block(ref)
    ref.add_node("Input", "in0", {"shape": [8, 16, 16]})
    ref.add_node("block:basic", "blk", {"channels": 8})
    ref.connect("in0", "out", "blk", "x")
    ours, theirs = analyse(g), analyse(ref)
    assert ours.out_type("blk", "y") == theirs.out_type("blk", "y")
    inner = g.blocks["resnet_basic"].graph
    # the same layers, wired the same way
    assert sorted(inner.nodes()) == sorted(ref.blocks["basic"].graph.nodes())
    assert sorted(map(str, inner.edges())) == sorted(map(str, ref.blocks["basic"].graph.edges()))


def test_the_encoder_layer_block_equals_torchs_transformer_encoder_layer():
    torch.manual_seed(0)
    d, h, f = 16, 4, 32
    g = instance("transformer_encoder_layer", {"d_model": d, "heads": h, "ffn": f,
                                               "dropout": 0.0}, [[7, d]]).graph
    c = compile_graph(g)
    ref = nn.TransformerEncoderLayer(d, h, f, dropout=0.0, batch_first=True)
    ours = {k.removeprefix("blk."): v for k, v in c.model.state_dict().items()}
    assert sorted(ours) == sorted(ref.state_dict())  # torch's own names
    c.model.load_state_dict({f"blk.{k}": v for k, v in ref.state_dict().items()})
    c.model.eval()
    ref.eval()
    x = torch.randn(3, 7, d)
    with torch.no_grad():
        torch.testing.assert_close(c.model(x), ref(x), rtol=0, atol=1e-5)


def test_the_decoder_layer_block_equals_torchs_transformer_decoder_layer():
    torch.manual_seed(1)
    d, h, f = 16, 2, 24
    g = instance("transformer_decoder_layer", {"d_model": d, "heads": h, "ffn": f,
                                               "dropout": 0.0}, [[6, d], [5, d]]).graph
    c = compile_graph(g)
    ref = nn.TransformerDecoderLayer(d, h, f, dropout=0.0, batch_first=True)
    ours = {k.removeprefix("blk."): v for k, v in c.model.state_dict().items()}
    assert sorted(ours) == sorted(ref.state_dict())
    c.model.load_state_dict({f"blk.{k}": v for k, v in ref.state_dict().items()})
    c.model.eval()
    ref.eval()
    x, mem = torch.randn(3, 6, d), torch.randn(3, 5, d)
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    with torch.no_grad():
        torch.testing.assert_close(c.model(x, mem), ref(x, mem, tgt_mask=mask,
                                                         tgt_is_causal=True),
                                   rtol=0, atol=1e-5)
