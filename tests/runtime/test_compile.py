import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graph import catalogue
from graph.model import Graph
from graph.spec import Call, Doc, NodeSpec, Port
from runtime.compile import CompileError, compile_graph
from tests.graphs import chain, classifier_head, cnn_graph, mlp_graph, two_inputs_concat


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        return torch.softmax(self.fc1(torch.flatten(x, 1)), 1)


def test_compiled_cnn_equals_hand_written_with_same_weights():
    torch.manual_seed(0)
    c = compile_graph(cnn_graph())
    ref = HandCNN()
    ref.load_state_dict(c.model.state_dict())  # node ids are the state_dict prefixes
    x = torch.randn(16, 1, 8, 8)
    assert torch.allclose(c.model(x), ref(x), atol=1e-6, rtol=0)
    # Gradients agree too.
    c.model(x).square().sum().backward()
    ref(x).square().sum().backward()
    for name, p in ref.named_parameters():
        assert torch.allclose(c.model.get_parameter(name).grad, p.grad, atol=1e-6)


def test_generated_code_reads_like_pytorch():
    c = compile_graph(cnn_graph())
    code = c.model.code
    for line in ("def forward(self, image):", "conv1 = self.conv1(image)",
                 "relu1 = torch.relu(conv1)", "flatten = torch.flatten(pool2, start_dim = 1)",
                 "softmax = torch.softmax(fc1, dim = 1)", "return softmax"):
        assert line in code, line
    assert "label" not in code and "loss" not in code  # the objective is not in the model
    assert sorted(c.model.state_dict()) == ["conv1.bias", "conv1.weight", "conv2.bias",
                                            "conv2.weight", "fc1.bias", "fc1.weight"]
    assert c.inputs == ["image"] and c.outputs == ["out"]
    assert c.targets == ["label"] and c.losses == ["loss"]


def test_model_and_objective_share_weights():
    c = compile_graph(mlp_graph((4, 8, 3)))
    assert c.objective.fc1 is c.model.fc1
    with torch.no_grad():
        c.model.fc1.weight.zero_()
    assert c.objective.fc1.weight.abs().sum() == 0


def test_several_inputs_and_outputs():
    g = Graph()
    two_inputs_concat(g)
    chain(g, "cat", [("Linear", "fc", {"out_features": 2})], first_port="y")
    g.add_node("Output", "joined")
    g.add_node("Output", "scores")
    g.connect("cat", "y", "joined", "x")
    g.connect("fc", "y", "scores", "x")
    c = compile_graph(g)
    assert c.inputs == ["a", "b"] and c.outputs == ["joined", "scores"]
    a, b = torch.randn(4, 3), torch.randn(4, 5)
    joined, scores = c.model(a, b)
    assert torch.equal(joined, torch.cat([a, b], 1))
    assert torch.allclose(scores, c.model.fc(torch.cat([a, b], 1)))


@pytest.fixture
def split_node(monkeypatch):
    """A node with two output ports (as an RNN has its output and hidden state)."""
    spec = NodeSpec(
        type="TestSplit", title="Split", category="Structure", id_prefix="split",
        inputs=(Port("x"),), outputs=(Port("first"), Port("second")), params=(),
        shape=lambda ctx: {p: dataclasses.replace(ctx.ins["x"], shape=(
            "N", ctx.ins["x"].shape[1] // 2)) for p in ("first", "second")},
        build=lambda ctx: Call("torch.chunk", {"chunks": 2, "dim": 1}),
        doc=Doc("test"))
    monkeypatch.setitem(catalogue.SPECS, "TestSplit", spec)


def test_node_with_several_output_ports(split_node):
    g = Graph()
    g.add_node("Input", "x", {"shape": [6]})
    g.add_node("TestSplit", "split")
    g.connect("x", "out", "split", "x")
    g.add_node("Linear", "head", {"out_features": 2})
    g.connect("split", "second", "head", "x")
    g.add_node("Output", "o1")
    g.add_node("Output", "o2")
    g.connect("split", "first", "o1", "x")
    g.connect("head", "y", "o2", "x")
    c = compile_graph(g)
    x = torch.randn(5, 6)
    first, out = c.model(x)
    assert torch.equal(first, x[:, :3])
    assert torch.allclose(out, c.model.head(x[:, 3:]))
    assert "split_second = split[1]" in c.model.code


def test_weighted_losses_are_summed():
    """Multi-task: L = 1·L_cls + 2.5·L_box, as a detector's objective."""
    g = Graph()
    g.add_node("Input", "x", {"shape": [8]})
    chain(g, "x", [("Linear", "trunk", {"out_features": 16}), ("ReLU", "r", {})])
    chain(g, "r", [("Linear", "cls", {"out_features": 3}), ("Softmax", "probs", {})],
          first_port="y")
    chain(g, "r", [("Linear", "box", {"out_features": 4})], first_port="y")
    g.add_node("Target", "label", {"shape": [], "dtype": "int64"})
    g.add_node("Target", "coords", {"shape": [4], "dtype": "float32"})
    g.add_node("CategoricalCrossEntropyLoss", "l_cls")
    g.add_node("SmoothL1Loss", "l_box", {"weight": 2.5})
    g.connect("probs", "y", "l_cls", "pred")
    g.connect("label", "out", "l_cls", "target")
    g.connect("box", "y", "l_box", "pred")
    g.connect("coords", "out", "l_box", "target")
    for n in ("probs", "box"):
        g.add_node("Output", f"{n}_out")
        g.connect(n, "y", f"{n}_out", "x")
    c = compile_graph(g)
    x, y, b = torch.randn(6, 8), torch.randint(0, 3, (6,)), torch.randn(6, 4)
    out = c.objective(x, y, b)
    probs, boxes = c.model(x)
    l_cls = F.nll_loss(torch.log(probs.clamp(1e-7, 1)), y)
    l_box = F.smooth_l1_loss(boxes, b)
    assert torch.allclose(out["losses"]["l_cls"], l_cls)
    assert torch.allclose(out["loss"], l_cls + 2.5 * l_box)
    assert c.targets == ["label", "coords"] and c.model.code.count("loss") == 0


def test_subnets_compile_separately():
    """A GAN's generator and discriminator: one project, two models."""
    g = Graph()
    g.add_node("Input", "z", {"shape": [4]})
    chain(g, "z", [("Linear", "g_fc", {"out_features": 2}), ("Tanh", "fake", {})])
    chain(g, "fake", [("Linear", "d_fc", {"out_features": 1}), ("Sigmoid", "d_prob", {})],
          first_port="y")
    g.add_node("Output", "verdict")
    g.connect("d_prob", "y", "verdict", "x")
    g.set_subnet("generator", ["z", "g_fc", "fake"])
    g.set_subnet("discriminator", ["d_fc", "d_prob", "verdict"])
    gen = compile_graph(g, subnet="generator")
    disc = compile_graph(g, subnet="discriminator")
    assert gen.inputs == ["z"] and gen.outputs == ["fake"]
    assert disc.inputs == ["fake"] and disc.outputs == ["verdict"]
    assert sorted(gen.model.state_dict()) == ["g_fc.bias", "g_fc.weight"]
    assert sorted(disc.model.state_dict()) == ["d_fc.bias", "d_fc.weight"]
    disc.model.load_state_dict(compile_graph(g).model.state_dict(), strict=False)
    whole = compile_graph(g)
    whole.model.load_state_dict({**gen.model.state_dict(), **disc.model.state_dict()})
    z = torch.randn(3, 4)
    assert torch.allclose(disc.model(gen.model(z)), whole.model(z))


def test_graph_with_problems_does_not_compile():
    g = cnn_graph(flatten_to=512)
    with pytest.raises(CompileError, match="expects 512 input features but 'flatten' gives 128"):
        compile_graph(g)


def test_no_loss_means_no_objective():
    g = Graph()
    g.add_node("Input", "x", {"shape": [3]})
    chain(g, "x", [("Linear", "fc", {})])
    c = compile_graph(g)
    assert c.objective is None and c.model(torch.randn(2, 3)) == ()


def test_dropout_and_batchnorm_follow_train_and_eval():
    g = Graph()
    g.add_node("Input", "x", {"shape": [6]})
    last = chain(g, "x", [("BatchNorm1d", "bn", {}), ("Dropout", "drop", {"p": 0.5})])
    classifier_head(g, last, loss="MSELoss", target_shape=(6,), target_dtype="float32")
    c = compile_graph(g)
    x = torch.randn(32, 6) * 3 + 5
    c.model.train()
    a, b = c.model(x), c.model(x)
    assert not torch.equal(a, b)  # dropout masks differ
    c.model.eval()
    assert torch.equal(c.model(x), c.model(x))
    assert "bn.running_mean" in c.model.state_dict()
