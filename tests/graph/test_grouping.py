"""Group into a block and ungroup (issue 25, item 3): the same types before and after, the
same model when compiled, exact undo and redo, and the refusals."""
from __future__ import annotations

import pytest

from graph.analysis import analyse
from graph.grouping import group, ungroup
from graph.model import Graph, GraphError
from graph.project import Project
from tests.graphs import basic_block


def residual() -> Graph:
    """img -> conv1 -> bn1 -> relu1 -> conv2 -> add(+conv1) -> relu2 -> fc chain, with a
    Concat fed from inside and outside the selection (its wires' order matters)."""
    g = Graph()
    g.add_node("Input", "img", {"shape": [3, 8, 8]}, (0, 0))
    g.add_node("Conv2d", "conv1", {"out_channels": 4, "kernel_size": 3, "padding": 1}, (200, 0))
    g.add_node("BatchNorm2d", "bn1", pos=(400, 0))
    g.add_node("ReLU", "relu1", pos=(600, 0))
    g.add_node("Conv2d", "conv2", {"out_channels": 4, "kernel_size": 3, "padding": 1},
               (800, 0))
    g.add_node("Add", "add", pos=(1000, 0))
    g.add_node("ReLU", "relu2", pos=(1200, 0))
    g.add_node("Concat", "cat", {"dim": 1}, (1400, 0))
    g.add_node("Flatten", "flat", pos=(1600, 0))
    g.add_node("Output", "out", pos=(1800, 0))
    g.connect("img", "out", "conv1", "x")
    for a, b in (("conv1", "bn1"), ("bn1", "relu1"), ("relu1", "conv2"), ("conv2", "add"),
                 ("conv1", "add"), ("add", "relu2")):
        g.connect(a, "y", b, "x")
    g.connect("conv1", "y", "cat", "x")  # outside the selection (conv1 is not selected)
    g.connect("relu2", "y", "cat", "x")  # from inside
    g.connect("bn1", "y", "cat", "x")  # from inside again, after
    g.connect("cat", "y", "flat", "x")
    g.connect("flat", "y", "out", "x")
    return g


SEL = ["bn1", "relu1", "conv2", "add", "relu2"]


def types(g: Graph) -> dict:
    a = analyse(g)
    assert a.ok, a.issues
    return {n: a.out_type(n, p.name) for n in g.nodes() if not g.node_type(n).startswith("block:")
            for p in g.spec(n).outputs}


def text(g: Graph) -> str:
    return Project(graph=g).to_json()


def test_group_makes_ports_from_the_crossing_wires_and_keeps_the_types():
    g = residual()
    before = types(g)
    j = group(g, SEL, "stage", "Stage")
    inst = j.result
    assert inst in g and g.node_type(inst) == "block:stage"
    d = g.blocks["stage"]
    assert d.inputs == ["x"]  # conv1's value, read by bn1 and add: one port
    assert d.outputs == ["y", "y2"]  # relu2's and bn1's values, read by cat
    assert [str(e) for e in g.in_edges("cat")] == [
        "conv1.y → cat.x", f"{inst}.y → cat.x", f"{inst}.y2 → cat.x"]
    assert {n: t for n, t in types(g).items() if n in g} == \
        {n: t for n, t in before.items() if n in g}
    assert g.pos(inst) == (800.0, 0.0)  # the selection's centre


def test_undo_and_redo_are_byte_identical():
    g = residual()
    before = text(g)
    j = group(g, SEL, "stage")
    done = text(g)
    j.undo()
    assert text(g) == before
    j.redo()
    assert text(g) == done
    u = ungroup(g, j.result)
    unpacked = text(g)
    u.undo()
    assert text(g) == done
    u.redo()
    assert text(g) == unpacked


def test_ungroup_of_group_has_the_same_analysis_and_ids():
    g = residual()
    before = types(g)
    j = group(g, SEL, "stage")
    ungroup(g, j.result)
    assert types(g) == before
    assert set(SEL) <= set(g.nodes())


def test_ungroup_applies_exposed_parameters_and_unpacks_repetitions():
    g = Graph()
    basic_block(g)
    g.add_node("Input", "img", {"shape": [8, 8, 8]})
    g.add_node("block:basic", "stage1", {"channels": 8, "repeat": 3})
    g.add_node("Output", "out")
    g.connect("img", "out", "stage1", "x")
    g.connect("stage1", "y", "out", "x")
    want = analyse(g).out_type("stage1", "y")
    j = ungroup(g, "stage1")
    assert "stage1" not in g and "conv1_3" in g
    a = analyse(g)
    assert a.ok, a.issues
    assert a.edge_type(g.in_edges("out")[0]) == want
    assert [e.src for e in g.in_edges("out")] == ["relu2_3"]
    j.undo()
    g.set_param("stage1", "repeat", 1)
    g.set_param("stage1", "channels", 16)
    ungroup(g, "stage1")
    assert g.params("conv2")["out_channels"] == 16


def test_grouped_and_plain_graphs_compile_to_the_same_model():
    torch = pytest.importorskip("torch")
    from runtime.compile import compile_graph
    g = residual()
    plain = compile_graph(g)
    j = group(g, SEL, "stage")
    grouped = compile_graph(g)
    sd = plain.model.state_dict()
    keys = list(grouped.model.state_dict())
    assert f"{j.result}.conv2.weight" in keys
    grouped.model.load_state_dict({k: sd[k.split(".", 1)[1] if k.startswith(j.result + ".")
                                         else k] for k in keys})
    plain.model.eval()
    grouped.model.eval()
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(plain.model(x), grouped.model(x), atol=1e-6)


@pytest.mark.parametrize("nodes, message", [
    ([], "select the nodes"),
    (["img", "conv1"], "a block holds layers"),
    (["out"], "a block holds layers"),
    (["bn1", "add"], "'conv2' lies between selected nodes|'relu1' lies between"),
    (["nope"], "there is no node"),
])
def test_refusals(nodes, message):
    g = residual()
    before = text(g)
    with pytest.raises(GraphError, match=message):
        group(g, nodes, "stage")
    assert text(g) == before


def test_refusals_of_names_and_subnets_and_ungroup():
    g = residual()
    g.add_block("stage")
    with pytest.raises(GraphError, match="already exists"):
        group(g, SEL, "stage")
    with pytest.raises(GraphError, match="block name"):
        group(g, SEL, "2bad")
    g.set_subnet("generator", ["relu1"])
    with pytest.raises(GraphError, match="sub-network 'generator'"):
        group(g, SEL, "other")
    with pytest.raises(GraphError, match="is not a block"):
        ungroup(g, "conv1")
    g.set_subnet("generator", None)
    j = group(g, SEL, "other")
    g.set_param(j.result, "repeat", 2)
    g.set_param(j.result, "share_weights", True)
    with pytest.raises(GraphError, match="share_weights"):
        ungroup(g, j.result)


def test_grouping_inside_a_definition_nests():
    g = Graph()
    basic_block(g)
    d = g.blocks["basic"]
    with pytest.raises(GraphError, match="block parameter 'channels' of 'basic' sets"):
        group(d.graph, ["conv1", "bn1", "relu1"], "front")
    j = group(d.graph, ["bn1", "relu1"], "front")
    assert d.graph.node_type(j.result) == "block:front"
    g.add_node("Input", "img", {"shape": [8, 8, 8]})
    g.add_node("block:basic", "b")
    g.connect("img", "out", "b", "x")
    a = analyse(g)
    assert a.ok, a.issues
    assert a.out_type("b", "y").shape == ("N", 8, 8, 8)
