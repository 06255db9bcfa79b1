from graph.analysis import analyse
from graph.model import Graph
from graph.project import loads
from tests.graphs import chain, classifier_head, cnn_graph


def messages(g):
    return [str(i) for i in analyse(g).issues]


def test_cnn_shapes():
    a = analyse(cnn_graph())
    assert a.ok, a.issues
    t = {k: str(v) for k, v in a.types.items()}
    assert t[("conv1", "y")] == "N × 16 × 8 × 8"
    assert t[("pool1", "y")] == "N × 16 × 4 × 4"
    assert t[("flatten", "y")] == "N × 128"
    assert t[("softmax", "y")] == "N × 10"
    assert t[("loss", "loss")] == "scalar"
    assert t[("label", "out")] == "N (int64)"


def test_linear_mismatch_message_names_both_nodes():
    g = Graph()
    g.add_node("Input", "x", {"shape": [1, 28, 28]})
    last = chain(g, "x", [("Conv2d", "conv1", {"out_channels": 64, "padding": "same"}),
                          ("MaxPool2d", "pool", {}), ("Flatten", "flatten", {}),
                          ("Linear", "fc1", {"out_features": 10, "in_features": 512})])
    classifier_head(g, last)
    a = analyse(g)
    [issue] = a.errors
    assert issue.message == "Linear 'fc1' expects 512 input features but 'flatten' gives 12544"
    assert (issue.node, issue.port) == ("fc1", "x")
    # No cascade: the nodes after fc1 are unknown, not in error.
    assert a.out_type("fc1", "y") is None and a.issues_for("loss") == []


def test_conv_output_size_formula():
    g = Graph()
    g.add_node("Input", "img", {"shape": [3, 32, 32]})
    chain(g, "img", [("Conv2d", "c", {"out_channels": 16, "kernel_size": 3})], "out")
    a = analyse(g)
    assert str(a.out_type("c", "y")) == "N × 16 × 30 × 30"  # the seed's 32×32×3 example
    for k, s, p, want in [(5, 2, 2, 16), (3, 2, "same", 16), (3, 1, "same", 32), (4, 1, "same", 32),
                          (7, 3, 0, 9)]:
        g.set_param("c", "kernel_size", k)
        g.set_param("c", "stride", s)
        g.set_param("c", "padding", p)
        assert analyse(g).out_type("c", "y").shape[2:] == (want, want), (k, s, p)


def test_conv_too_big_kernel():
    g = Graph()
    g.add_node("Input", "img", {"shape": [1, 4, 4]})
    chain(g, "img", [("Conv2d", "c", {"kernel_size": 5})])
    [msg] = [m for m in messages(g) if "c:" in m]
    assert "kernel 5 × 5 does not fit its 4 × 4 input from 'img'" in msg


def test_unconnected_required_input():
    g = Graph()
    g.add_node("ReLU", "r")
    issues = analyse(g).errors
    assert [(i.node, i.port, i.message) for i in issues] == [
        ("r", "x", "ReLU 'r' needs an input on port 'x'")]


def test_missing_input_and_output_are_warnings():
    g = Graph()
    g.add_node("ReLU", "r")
    warnings = [i.message for i in analyse(g).issues if i.severity == "warning"]
    assert any("no Input node" in w for w in warnings)
    assert any("no Output node" in w for w in warnings)


def test_image_into_linear_suggests_flatten():
    g = Graph()
    g.add_node("Input", "img", {"shape": [1, 8, 8]})
    chain(g, "img", [("Linear", "fc", {})])
    assert any("put a Flatten before it" in m for m in messages(g))


def test_loss_shape_messages():
    g = Graph()
    g.add_node("Input", "x", {"shape": [4]})
    last = chain(g, "x", [("Linear", "fc", {"out_features": 3}), ("Softmax", "sm", {})])
    classifier_head(g, last, target_shape=(2,), target_dtype="int64")
    [issue] = analyse(g).errors
    assert issue.node == "loss" and issue.port == "target"
    assert "class indices must be N (int64)" in issue.message
    g.set_param("label", "shape", [3])
    g.set_param("label", "dtype", "float32")
    assert analyse(g).ok  # one-hot targets


SIMPLE = """{{"format": "layerloom.project", "schema": 1,
 "nodes": [{{"id": "x", "type": "Input", "params": {{"shape": [4]}}}},
           {{"id": "a", "type": "Linear"}}, {{"id": "b", "type": "ReLU"}},
           {{"id": "c", "type": "MSELoss", "params": {params}}}],
 "edges": [{edges}]}}"""


def test_cycles_from_a_file_are_reported_on_their_nodes():
    text = SIMPLE.format(params="{}", edges='{"from": "x.out", "to": "a.x"}, '
                                          '{"from": "a.y", "to": "b.x"}, '
                                          '{"from": "b.y", "to": "a.x"}')
    # a.x has two wires: one from x and the back edge from b (a cycle).
    a = analyse(loads(text).graph)
    cyc = [i for i in a.errors if "cycle" in i.message]
    assert {i.node for i in cyc} == {"a", "b"}
    assert "a → b → a" in cyc[0].message


def test_port_kind_mismatch_and_bad_params_from_a_file():
    text = SIMPLE.format(params='{"weight": -2}',
                         edges='{"from": "x.out", "to": "a.x"}, {"from": "c.loss", "to": "b.x"}')
    msgs = [str(i) for i in analyse(loads(text).graph).errors]
    assert any("input 'x' takes a tensor but 'c' gives a loss" in m for m in msgs)
    assert any("MSE loss 'c': weight must be >= 0 (got -2)" in m for m in msgs)


def test_a_sequence_length_may_be_a_size_name():
    from graph.catalogue import get
    shape = get("Input").param("shape")
    assert shape.check(["T", 2]) is None and shape.check(["T"]) is None
    assert "size names" in shape.check(["zero", 2])  # a typo is not taken for a size
    assert shape.check(["N", 2]) is not None  # N is the batch
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 2]})
    g.add_node("Linear", "fc", {"out_features": 3})
    g.connect("x", "out", "fc", "x")
    a = analyse(g)
    assert a.ok and str(a.out_type("fc", "y")) == "N × T × 3"

