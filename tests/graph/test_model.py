import pytest

from graph.model import (Edge, EdgeAdded, EdgeRemoved, Graph, GraphError, NodeAdded, NodeMoved,
                         NodeRemoved, NodeRenamed, ParamChanged, id_problem, to_identifier)
from graph.project import Project
from tests.graphs import cnn_graph


def test_mutators_emit_events_in_order():
    g = Graph()
    seen = []
    g.subscribe(seen.append)
    g.add_node("Input", "x", {"shape": [4]})
    g.add_node("Linear", "fc1")
    e = g.connect("x", "out", "fc1", "x")
    g.set_param("fc1", "out_features", 3)
    g.move_node("fc1", (10, 20))
    g.rename_node("fc1", "dense")
    assert seen == [NodeAdded("x"), NodeAdded("fc1"), EdgeAdded(e),
                    ParamChanged("fc1", "out_features", 10, 3),
                    NodeMoved("fc1", (0.0, 0.0), (10.0, 20.0)), NodeRenamed("fc1", "dense")]
    seen.clear()
    g.remove_node("x")
    assert seen == [EdgeRemoved(Edge("x", "out", "dense", "x")), NodeRemoved("x")]


def test_generated_ids_follow_the_type_prefix():
    g = Graph()
    assert [g.add_node("Conv2d") for _ in range(3)] == ["conv1", "conv2", "conv3"]
    assert g.add_node("Linear") == "fc1"


@pytest.mark.parametrize("bad, why", [
    ("1conv", "not a valid name"), ("conv 1", "not a valid name"), ("input", "reserved"),
    ("sum", "reserved"), ("torch", "reserved"), ("class", "reserved"), ("a__b", "'__'"),
    ("", "not a valid name"),
])
def test_ids_must_be_safe_python_identifiers(bad, why):
    assert why in id_problem(bad)
    g = Graph()
    with pytest.raises(GraphError, match=why):
        g.add_node("ReLU", bad)


def test_to_identifier():
    assert to_identifier("Conv 1") == "conv_1"
    assert to_identifier("1st layer") == "n_1st_layer"
    assert id_problem(to_identifier("input")) is None


def test_refused_edits_say_why_and_change_nothing():
    g = cnn_graph()
    before = Project(graph=g).to_json()
    cases = [
        (lambda: g.connect("softmax", "y", "conv1", "x"), "already comes from 'image'"),
        (lambda: g.connect("loss", "loss", "out", "x"), "gives a loss but input 'x'"),
        (lambda: g.connect("fc1", "y", "fc1", "x"), "cannot feed itself"),
        (lambda: g.connect("relu1", "nope", "fc1", "x"), "no output port 'nope'"),
        (lambda: g.set_param("conv1", "kernel_size", 0), "kernel size must be >= 1"),
        (lambda: g.set_param("conv1", "padding", "full"), "padding must be"),
        (lambda: g.set_param("conv1", "size", 3), "has no parameter 'size'"),
        (lambda: g.add_node("Conv4d"), "unknown node type"),
        (lambda: g.add_node("ReLU", "conv1"), "already exists"),
        (lambda: g.rename_node("conv1", "relu1"), "already exists"),
        (lambda: g.add_node("Linear", params={"out_features": -1}), "must be >= 1"),
    ]
    for act, msg in cases:
        with pytest.raises(GraphError, match=msg):
            act()
    assert Project(graph=g).to_json() == before


def test_cycle_refused():
    g = Graph()
    g.add_node("Input", "x", {"shape": [4]})
    g.add_node("Add", "a")
    g.add_node("ReLU", "r")
    g.connect("x", "out", "a", "x")
    g.connect("a", "y", "r", "x")
    assert "cycle" in g.connect_problem("r", "y", "a", "x")
    with pytest.raises(GraphError, match="cycle"):
        g.connect("r", "y", "a", "x")


def test_multi_port_keeps_wiring_order():
    g = Graph()
    for n in ("a", "b", "c"):
        g.add_node("Input", n, {"shape": [2]})
    g.add_node("Concat", "cat")
    for n in ("c", "a", "b"):
        g.connect(n, "out", "cat", "x")
    assert [e.src for e in g.in_edges("cat", "x")] == ["c", "a", "b"]


def test_remove_then_restore_is_the_identity():
    g = cnn_graph()
    g.set_subnet("features", ["conv1", "relu1", "pool1"])
    before = Project(graph=g).to_json()
    for node in ("relu1", "image", "loss", "softmax"):
        rec = g.remove_node(node)
        assert node not in g
        g.restore_node(rec)
        assert Project(graph=g).to_json() == before


def test_rename_keeps_edges_subnets_and_binding():
    p = Project(graph=cnn_graph())
    p.data.bind = {"image": "x", "label": "y"}
    p.graph.set_subnet("features", ["conv1", "relu1"])
    before = p.to_json()
    p.graph.rename_node("image", "pixels")
    p.graph.rename_node("conv1", "c1")
    assert {e.src for e in p.graph.out_edges("pixels")} == {"pixels"}
    assert p.graph.subnets["features"] == ["c1", "relu1"]
    assert p.data.bind == {"pixels": "x", "label": "y"}
    p.graph.rename_node("pixels", "image")
    p.graph.rename_node("c1", "conv1")
    assert p.to_json() == before


def test_set_param_copies_lists():
    g = Graph()
    g.add_node("Input", "x")
    shape = [3, 4]
    g.set_param("x", "shape", shape)
    shape.append(5)
    assert g.params("x")["shape"] == [3, 4]
