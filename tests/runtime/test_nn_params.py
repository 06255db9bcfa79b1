"""A bare learned tensor and the tensor operations around it (graph/catalogue/nn_params.py):
Parameter, Expand to batch, Flatten dims, Transpose, Mean give torch's numbers and the help's
worked examples; the Parameter's weight is saved as <node>.weight and learns; misfits are
refused naming the port. (Their import: tests/runtime/test_import.py.)"""
import pytest
import torch

from graph import catalogue
from graph.analysis import analyse
from graph.model import Graph
from runtime.compile import compile_graph


def chain(shape, *layers):
    """Input of one sample's `shape` → the layers (type, params) in a row → Output."""
    g = Graph()
    g.add_node("Input", "x", {"shape": list(shape)})
    prev, port = "x", "out"
    for i, (type_, params) in enumerate(layers):
        g.add_node(type_, f"n{i}", params)
        g.connect(prev, port, f"n{i}", "x")
        prev, port = f"n{i}", "y"
    g.add_node("Output", "out")
    g.connect(prev, port, "out", "x")
    return g


def class_token_graph(d=4, t=3, init="ones"):
    """x (N × t × d) → [cls expanded to the batch, x] + pos: a ViT's front end."""
    g = Graph()
    g.add_node("Input", "x", {"shape": [t, d]})
    g.add_node("Parameter", "cls", {"shape": [1, 1, d], "init": init})
    g.add_node("Parameter", "pos", {"shape": [1, t + 1, d], "init": "normal", "std": 1.0})
    g.add_node("ExpandToBatch", "expand")
    g.add_node("Concat", "cat", {"dim": 1})
    g.add_node("Add", "add")
    g.add_node("Output", "out")
    g.connect("cls", "y", "expand", "x")
    g.connect("x", "out", "expand", "like")
    g.connect("expand", "y", "cat", "x")
    g.connect("x", "out", "cat", "x")
    g.connect("cat", "y", "add", "x")
    g.connect("pos", "y", "add", "x")
    g.connect("add", "y", "out", "x")
    return g


def test_class_token_and_position_embedding_are_torchs_numbers_with_node_keys():
    g = class_token_graph()
    a = analyse(g)
    assert not a.errors, a.errors
    assert a.types[("cls", "y")].shape == (1, 1, 4)
    assert a.types[("expand", "y")].shape == ("N", 1, 4)
    assert a.types[("add", "y")].shape == ("N", 4, 4)
    c = compile_graph(g)
    sd = c.modules.state_dict()
    assert set(sd) == {"cls.weight", "pos.weight"}
    assert torch.equal(sd["cls.weight"], torch.ones(1, 1, 4))
    assert 0.3 < sd["pos.weight"].std() < 3  # normal with std 1
    x = torch.randn(5, 3, 4)
    want = torch.cat([sd["cls.weight"].expand(5, -1, -1), x], 1) + sd["pos.weight"]
    assert torch.equal(c.model(x), want)
    # the class token learns: its gradient is the sum over the batch
    c.model(x).sum().backward()
    cls = c.modules.get_submodule("cls").weight
    assert torch.equal(cls.grad, torch.full((1, 1, 4), 5.0))


def test_parameter_inits_and_a_fixed_buffer():
    for init, check in [("zeros", lambda w: not w.any()), ("ones", lambda w: bool((w == 1).all())),
                        ("uniform", lambda w: bool((w.abs() <= 0.5).all()) and w.std() > 0.1),
                        ("normal", lambda w: 0.3 < w.std() < 0.7)]:
        g = Graph()
        g.add_node("Parameter", "p", {"shape": [200], "init": init, "std": 0.5})
        g.add_node("Output", "out")
        g.connect("p", "y", "out", "x")
        m = compile_graph(g).modules.get_submodule("p")
        assert check(m.weight), init
    g = Graph()
    g.add_node("Parameter", "p", {"shape": [2, 3], "learn": False, "init": "ones"})
    g.add_node("Output", "out")
    g.connect("p", "y", "out", "x")
    m = compile_graph(g).modules.get_submodule("p")
    assert not list(m.parameters()) and list(dict(m.named_buffers())) == ["weight"]


def test_flatten_dims_transpose_and_mean_are_torchs_and_the_help_examples_hold():
    x = torch.randn(2, 3, 4, 5)
    cases = [(("FlattenDims", {"start_dim": 2}), x.flatten(2)),
             (("FlattenDims", {"start_dim": 1, "end_dim": 2}), x.flatten(1, 2)),
             (("FlattenDims", {"start_dim": -2, "end_dim": -1}), x.flatten(-2)),
             (("Transpose", {"dim0": 1, "dim1": 2}), x.transpose(1, 2)),
             (("Transpose", {"dim0": -1, "dim1": 1}), x.transpose(-1, 1)),
             (("Mean", {"dim": 1}), x.mean(1)),
             (("Mean", {"dim": -1, "keepdim": True}), x.mean(-1, keepdim=True))]
    for layer, want in cases:
        g = chain((3, 4, 5), layer)
        a = analyse(g)
        assert not a.errors, (layer, a.errors)
        assert a.types[("n0", "y")].shape == ("N", *want.shape[1:]), layer
        assert torch.equal(compile_graph(g).model(x), want), layer
    # the help's examples
    one = torch.tensor([[[[1., 2.], [3., 4.]], [[5., 6.], [7., 8.]]]])
    assert compile_graph(chain((2, 2, 2), ("FlattenDims", {"start_dim": 2}))).model(one) \
        .tolist() == [[[1, 2, 3, 4], [5, 6, 7, 8]]]
    m = torch.tensor([[[1., 2., 3.], [4., 5., 6.]]])
    assert compile_graph(chain((2, 3), ("Transpose", {}))).model(m).tolist() == \
        [[[1, 4], [2, 5], [3, 6]]]
    s = torch.tensor([[[1., 2.], [3., 6.]]])
    assert compile_graph(chain((2, 2), ("Mean", {}))).model(s).tolist() == [[2, 4]]
    assert "[[2, 4]]" in catalogue.get("Mean").doc.use_case


@pytest.mark.parametrize("shape, layer, port, words", [
    ((3, 4), ("Transpose", {"dim0": 0, "dim1": 1}), "x", "which is the batch axis"),
    ((3, 4), ("Transpose", {"dim0": 1, "dim1": 3}), "x", "has dims 0 to 2"),
    ((3, 4, 5), ("FlattenDims", {"start_dim": 3, "end_dim": 2}), "x",
     "start_dim must not come after end_dim"),
    ((3,), ("Mean", {"dim": -2}), "x", "which is the batch axis"),
])
def test_misfits_are_refused_naming_the_port(shape, layer, port, words):
    a = analyse(chain(shape, layer))
    [issue] = [i for i in a.errors if i.node == "n0"]
    assert issue.port == port and words in issue.message, issue.message


def test_expand_to_batch_refuses_a_first_size_other_than_one_and_parameter_size_names():
    g = class_token_graph()
    g.set_param("cls", "shape", [2, 1, 4])
    [issue] = [i for i in analyse(g).errors if i.node == "expand"]
    assert issue.port == "x" and "first size is 1" in issue.message
    g = Graph()
    g.add_node("Parameter", "p", {"shape": ["T", 4]}, check_params=False)
    g.add_node("Output", "out")
    g.connect("p", "y", "out", "x")
    assert any("fixed sizes" in i.message for i in analyse(g).errors)
