"""Blocks compiled (issue 25): nested modules and state_dict keys, repetitions as a
ModuleList or one shared module, and a block-built network equal to a hand-written one."""
from __future__ import annotations

import torch
from torch import nn

from graph.blocks import Exposed
from graph.model import Graph
from runtime.compile import Block, compile_graph
from tests.graphs import basic_block


class HandBasicBlock(nn.Module):
    """torchvision's BasicBlock, written out."""

    def __init__(self, c_in, c, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.proj = None
        if stride != 1 or c_in != c:
            self.proj = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False),
                                      nn.BatchNorm2d(c))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.proj is None else self.proj(x)))


def _stages() -> Graph:
    """Three deep: a network of stages, a stage of basic blocks, a block of layers."""
    g = Graph()
    basic_block(g)
    basic_block(g, "down", downsample=True)
    st = g.add_block("stage", "Stage")
    s = st.graph
    s.add_node("BlockInput", "x")
    s.add_node("block:down", "b0", {"stride": 2})
    s.add_node("block:basic", "b1")
    s.add_node("BlockOutput", "y")
    s.connect("x", "out", "b0", "x")
    s.connect("b0", "y", "b1", "x")
    s.connect("b1", "y", "y", "x")
    g.set_block_info("stage", exposed=[Exposed("width", ("b0.channels", "b1.channels"), 8)])
    g.add_node("Input", "img", {"shape": [3, 16, 16]})
    g.add_node("block:stage", "layer1", {"width": 8})
    g.add_node("block:stage", "layer2", {"width": 16, "repeat": 2})
    g.add_node("Output", "out")
    g.connect("img", "out", "layer1", "x")
    g.connect("layer1", "y", "layer2", "x")
    g.connect("layer2", "y", "out", "x")
    return g


def test_state_dict_keys_follow_the_nesting():
    c = compile_graph(_stages())
    keys = list(c.model.state_dict())
    assert "layer1.b0.conv1.weight" in keys
    assert "layer1.b0.proj_bn.running_mean" in keys
    assert "layer2.0.b1.conv2.weight" in keys and "layer2.1.b0.proj.weight" in keys
    assert isinstance(c.model.layer2, nn.ModuleList) and len(c.model.layer2) == 2
    assert isinstance(c.model.layer1, Block) and c.model.layer1.definition == "stage"
    assert isinstance(c.model.layer2[1].b0, Block) and c.model.layer2[1].b0.definition == "down"
    assert c.model.layer2[0].b1.conv1.weight.shape == (16, 16, 3, 3)
    assert c.model(torch.randn(2, 3, 16, 16)).shape == (2, 16, 2, 2)


def test_a_block_built_basic_block_equals_a_hand_written_one():
    g = Graph()
    basic_block(g, "down", downsample=True)
    g.add_node("Input", "img", {"shape": [4, 12, 12]})
    g.add_node("block:down", "blk", {"channels": 6, "stride": 2})
    g.add_node("Output", "out")
    g.connect("img", "out", "blk", "x")
    g.connect("blk", "y", "out", "x")
    c = compile_graph(g)
    hand = HandBasicBlock(4, 6, stride=2)
    ours = {k.removeprefix("blk."): v for k, v in c.model.state_dict().items()}
    theirs = hand.state_dict()
    mapping = {k: k.replace("proj.0.", "proj.").replace("proj.1.", "proj_bn.")
               for k in theirs}
    assert sorted(mapping.values()) == sorted(ours)
    with torch.no_grad():
        for k, v in theirs.items():
            v.copy_(torch.randn_like(v.float()).abs().to(v.dtype) if "var" in k
                    else torch.randn_like(v.float()).to(v.dtype))
    c.model.load_state_dict({f"blk.{mapping[k]}": v for k, v in theirs.items()})
    x = torch.randn(5, 4, 12, 12)
    for train in (True, False):
        c.model.train(train)
        hand.train(train)
        torch.testing.assert_close(c.model(x), hand(x), rtol=0, atol=1e-6)


def test_share_weights_with_repeat_4_has_one_blocks_parameters():
    def count(share):
        g = Graph()
        basic_block(g)
        g.add_node("Input", "img", {"shape": [8, 8, 8]})
        g.add_node("block:basic", "s", {"repeat": 4, "share_weights": share})
        g.add_node("Output", "out")
        g.connect("img", "out", "s", "x")
        g.connect("s", "y", "out", "x")
        c = compile_graph(g)
        return c, sum(p.numel() for p in c.model.parameters())

    shared, n_shared = count(True)
    own, n_own = count(False)
    one = 2 * (8 * 8 * 9) + 2 * (2 * 8)  # two 3 × 3 convs, two batch norms
    assert n_shared == one and n_own == 4 * one
    assert sorted(k for k in shared.model.state_dict() if k.endswith("weight")) == [
        "s.bn1.weight", "s.bn2.weight", "s.conv1.weight", "s.conv2.weight"]
    # applied four times: the same conv module is called at each repetition
    calls = [n.target for n in shared.model.graph.nodes if n.op == "call_module"]
    assert calls.count("s.conv1") == 4


def test_a_model_with_blocks_trains_a_step():
    g = _stages()
    g.add_node("Target", "t", {"shape": [16, 2, 2]})
    g.add_node("MSELoss", "loss")
    g.connect("layer2", "y", "loss", "pred")
    g.connect("t", "out", "loss", "target")
    c = compile_graph(g)
    opt = torch.optim.SGD(c.modules.parameters(), lr=0.1)
    x, t = torch.randn(4, 3, 16, 16), torch.randn(4, 16, 2, 2)
    out = c.objective(x, t)
    out["loss"].backward()
    before = c.model.layer2[1].b1.conv2.weight.detach().clone()
    opt.step()
    assert not torch.equal(before, c.model.layer2[1].b1.conv2.weight)
    assert c.layers[0] == "layer1.b0.conv1"  # per-layer statistics name inner nodes


def test_one_value_into_two_block_inputs_meeting_on_one_port_is_said_not_crashed():
    import pytest
    from runtime.compile import CompileError
    g = Graph()
    d = g.add_block("twice")
    for n in ("a", "b"):
        d.graph.add_node("BlockInput", n)
    d.graph.add_node("Add", "add")
    d.graph.add_node("BlockOutput", "y")
    d.graph.connect("a", "out", "add", "x")
    d.graph.connect("b", "out", "add", "x")
    d.graph.connect("add", "y", "y", "x")
    g.add_node("Input", "v", {"shape": [4]})
    g.add_node("block:twice", "t")
    g.add_node("Output", "out")
    g.connect("v", "out", "t", "a")
    g.connect("v", "out", "t", "b")
    g.connect("t", "y", "out", "x")
    with pytest.raises(CompileError, match="reaches input 'x' of 't.add' twice"):
        compile_graph(g)


def test_a_non_finite_value_inside_a_block_is_named_by_its_inner_node():
    from runtime.diagnosis import first_non_finite_node
    g = _stages()
    g.add_node("Target", "t", {"shape": [16, 2, 2]})
    g.add_node("MSELoss", "loss")
    g.connect("layer2", "y", "loss", "pred")
    g.connect("t", "out", "loss", "target")
    c = compile_graph(g)
    with torch.no_grad():
        c.model.layer2[1].b0.conv1.weight.fill_(float("inf"))
    batch = (torch.randn(2, 3, 16, 16), torch.randn(2, 16, 2, 2))
    assert first_non_finite_node(c, batch) == "layer2.1.b0.conv1"
