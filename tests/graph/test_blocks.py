"""Blocks (issue 25): definitions in the project file, instances as nodes, analysis through
the definition, nesting, repetition, and the refusals."""
from __future__ import annotations

from pathlib import Path

import pytest

from graph.analysis import analyse
from graph.blocks import Exposed
from graph.flatten import flatten
from graph.model import Graph, GraphError
from graph.project import SCHEMA, Project, ProjectError, loads
from tests.graphs import basic_block

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def resnet_stub(repeat: int = 1, share: bool = False) -> Graph:
    g = Graph()
    basic_block(g)
    g.add_node("Input", "img", {"shape": [8, 16, 16]})
    g.add_node("block:basic", "stage1", {"channels": 8, "repeat": repeat,
                                         "share_weights": share})
    g.add_node("Output", "out")
    g.connect("img", "out", "stage1", "x")
    g.connect("stage1", "y", "out", "x")
    return g


def test_an_instance_has_the_definitions_ports_and_exposed_parameters():
    g = resnet_stub()
    spec = g.spec("stage1")
    assert [p.name for p in spec.inputs] == ["x"] and [p.name for p in spec.outputs] == ["y"]
    assert [p.name for p in spec.params] == ["channels", "stride", "repeat", "share_weights"]
    assert spec.param("channels").kind == "int" and spec.param("channels").default == 8
    assert spec.category == "Blocks" and spec.title == "Basic block"


def test_shape_inference_runs_through_the_definition_with_the_instance_parameters():
    g = resnet_stub()
    a = analyse(g)
    assert a.ok, a.issues
    assert a.out_type("stage1", "y").shape == ("N", 8, 16, 16)
    g.set_param("stage1", "stride", 2)  # the residual no longer fits: named inside
    a = analyse(g)
    [issue] = a.errors
    assert issue.node == "stage1"
    assert issue.message.startswith("Basic block 'stage1' > Add 'add' cannot add"), \
        issue.message


def test_a_problem_inside_names_the_inner_node_and_repetition():
    g = Graph()
    basic_block(g, "down", downsample=True)
    g.add_node("Input", "img", {"shape": [3, 16, 16]})
    g.add_node("block:down", "stage2", {"channels": 16, "stride": 2, "repeat": 3})
    g.connect("img", "out", "stage2", "x")
    a = analyse(g)
    assert a.ok, a.issues  # each repetition halves the size and keeps 16 channels
    assert a.out_type("stage2", "y").shape == ("N", 16, 2, 2)
    g.blocks["down"].graph.set_param("conv1", "in_channels", 3)  # fits the first only
    [issue] = analyse(g).errors
    assert issue.node == "stage2"
    assert issue.message.startswith(
        "Basic block (downsample) 'stage2' (repetition 2 of 3) > Conv2d 'conv1' "), issue.message
    assert issue.message.endswith(
        "— its inputs are repetition 1's outputs: 'x' ← 'y' N × 16 × 8 × 8"), issue.message


def test_repeat_chains_outputs_to_inputs_and_names_the_port_where_types_do_not_chain():
    g = Graph()
    d = g.add_block("widen")
    d.graph.add_node("BlockInput", "x")
    d.graph.add_node("Linear", "fc", {"out_features": 6})
    d.graph.add_node("BlockOutput", "y")
    d.graph.connect("x", "out", "fc", "x")
    d.graph.connect("fc", "y", "y", "x")
    g.add_node("Input", "v", {"shape": [4]})
    g.add_node("block:widen", "w", {"repeat": 3})
    g.connect("v", "out", "w", "x")
    a = analyse(g)
    assert a.ok and a.out_type("w", "y").shape == ("N", 6)
    # two inputs, one output: cannot repeat
    d.graph.add_node("BlockInput", "x2")
    g.connect("v", "out", "w", "x2")
    [issue] = analyse(g).errors
    assert "needs as many outputs as inputs" in issue.message
    assert "1 output" in issue.message


def test_share_weights_needs_every_repetition_to_read_what_the_first_reads():
    g = resnet_stub(repeat=4, share=True)
    assert analyse(g).ok
    basic_block(g, "down", downsample=True)
    g.remove_node("stage1")
    g.add_node("block:down", "stage1", {"repeat": 4, "share_weights": True})
    g.connect("img", "out", "stage1", "x")
    g.connect("stage1", "y", "out", "x")
    g.set_param("img", "shape", [3, 16, 16])  # the first repetition widens 3 → 8 channels
    [issue] = analyse(g).errors
    assert "repetition 2's input 'x' is N × 8 × 16 × 16" in issue.message
    assert issue.port == "x"


def test_nesting_and_the_flattened_ids_and_module_paths():
    g = Graph()
    basic_block(g)
    stage = g.add_block("stage", "Stage")
    s = stage.graph
    s.add_node("BlockInput", "x")
    s.add_node("block:basic", "b0")
    s.add_node("block:basic", "b1")
    s.add_node("BlockOutput", "y")
    s.connect("x", "out", "b0", "x")
    s.connect("b0", "y", "b1", "x")
    s.connect("b1", "y", "y", "x")
    g.set_block_info("stage", exposed=[Exposed("width", ("b0.channels", "b1.channels"), 8)])
    g.add_node("Input", "img", {"shape": [4, 8, 8]})
    g.add_node("block:stage", "layer1", {"width": 4, "repeat": 2})
    g.connect("img", "out", "layer1", "x")
    a = analyse(g)
    assert a.ok, a.issues
    assert a.out_type("layer1", "y").shape == ("N", 4, 8, 8)
    flat = flatten(g)
    convs = [n for n in flat.graph.nodes() if flat.graph.node_type(n) == "Conv2d"]
    assert convs == ["layer1.0.b0.conv1", "layer1.0.b0.conv2", "layer1.0.b1.conv1",
                     "layer1.0.b1.conv2", "layer1.1.b0.conv1", "layer1.1.b0.conv2",
                     "layer1.1.b1.conv1", "layer1.1.b1.conv2"]
    assert flat.graph.params("layer1.1.b1.conv2")["out_channels"] == 4  # width → channels
    assert {str(e) for e in flat.graph.in_edges("layer1.1.b0.conv1")} == {
        "layer1.0.b1.relu2.y → layer1.1.b0.conv1.x"}
    assert flat.containers["layer1"] == ("list", "stage")
    assert flat.containers["layer1.0.b1"] == ("block", "basic")
    assert flat.origin["layer1.1.b1.relu2"] == "layer1"


def test_shared_repetitions_keep_one_module_path():
    flat = flatten(resnet_stub(repeat=3, share=True))
    assert flat.graph.module_path("stage1.2.conv1") == "stage1.conv1"
    assert flat.containers == {"stage1": ("block", "basic")}


def test_a_block_that_contains_itself_is_refused():
    g = Graph()
    a = g.add_block("a")
    b = g.add_block("b")
    with pytest.raises(GraphError, match="cannot contain itself"):
        a.graph.add_node("block:a", "me")
    a.graph.add_node("block:b", "inner")
    with pytest.raises(GraphError, match="cannot contain 'a', which holds 'b'|holds 'b'"):
        b.graph.add_node("block:a", "loop")
    # the same from a file: one clear message naming the chain
    text = Project(graph=g).to_json().replace('"nodes": []', '"nodes": [\n'
                                              '        {"id": "loop", "type": "block:a"}]', 1)
    with pytest.raises(ProjectError, match=r"holds itself \(b > a > b\)|holds itself"):
        loads(text)


def test_a_definition_holds_layers_and_ports_only_the_project_graph_no_ports():
    g = Graph()
    d = g.add_block("blk")
    with pytest.raises(GraphError, match="a block holds layers"):
        d.graph.add_node("CategoricalCrossEntropyLoss", "loss")
    with pytest.raises(GraphError, match="belongs inside a block definition"):
        g.add_node("BlockInput", "x")


def test_exposed_parameters_are_checked_and_follow_a_renamed_node():
    g = Graph()
    basic_block(g)
    d = g.blocks["basic"]
    with pytest.raises(GraphError, match="'conv9.out_channels', which the block does not have"):
        g.set_block_info("basic", exposed=[Exposed("c", ("conv9.out_channels",), 4)])
    with pytest.raises(GraphError, match="different kinds"):
        g.set_block_info("basic", exposed=[Exposed("c", ("conv1.out_channels",
                                                         "conv1.bias"), 4)])
    d.graph.rename_node("conv1", "first")
    assert d.exposed[0].targets == ("first.out_channels", "conv2.out_channels")
    assert g.spec  # an instance added now still sees `channels`
    g.add_node("block:basic", "b")
    assert "channels" in g.params("b")


def test_a_definition_in_use_cannot_be_removed_and_an_unused_one_comes_back_as_it_was():
    g = resnet_stub()
    with pytest.raises(GraphError, match="used by stage1"):
        g.remove_block("basic")
    g.remove_node("stage1")
    before = Project(graph=g).to_json()
    d, index = g.remove_block("basic")
    assert "basic" not in g.blocks
    g.restore_block(d, index)
    assert Project(graph=g).to_json() == before


def test_an_edit_inside_a_definition_reaches_every_instance_and_their_listeners():
    g = resnet_stub()
    seen = []
    g.subscribe(seen.append)
    d = g.blocks["basic"]
    d.graph.set_param("conv1", "kernel_size", 5)
    assert any(type(e).__name__ == "BlockChanged" and e.name == "basic" for e in seen)
    # a definition gaining a second output: the instance gains the port
    d.graph.add_node("BlockOutput", "y2")
    d.graph.connect("relu1", "y", "y2", "x")
    assert [p.name for p in g.spec("stage1").outputs] == ["y", "y2"]


def test_blocks_round_trip_byte_for_byte():
    g = Graph()
    basic_block(g)
    basic_block(g, "down", downsample=True)
    g.add_node("Input", "img", {"shape": [3, 16, 16]})
    g.add_node("block:down", "s1", {"channels": 16, "stride": 2})
    g.add_node("block:basic", "s2", {"channels": 16, "repeat": 2})
    g.connect("img", "out", "s1", "x")
    g.connect("s1", "y", "s2", "x")
    text = Project(graph=g).to_json()
    assert f'"schema": {SCHEMA}' in text and '"blocks": [' in text
    again = loads(text)
    assert again.to_json() == text
    assert analyse(again.graph).out_type("s2", "y").shape == ("N", 16, 8, 8)


def test_a_schema_1_file_is_migrated():
    text = (TEMPLATES / "mlp.json").read_text()
    old = text.replace(f'"schema": {SCHEMA},', '"schema": 1,', 1)
    assert old != text
    p = loads(old)
    assert p.to_json() == text
    assert not p.graph.blocks.names()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('"type": "block:basic"', '"type": "block:missing"'),
     "nodes[1] ('stage1').type: unknown block 'block:missing'"),
    (lambda t: t.replace('{"id": "conv1", "type": "Conv2d"', '{"id": "conv1", "type": "Input"'),
     "a block holds layers"),
])
def test_bad_blocks_in_a_file_give_one_clear_message(edit, message):
    text = Project(graph=resnet_stub()).to_json()
    bad = edit(text)
    assert bad != text
    with pytest.raises(ProjectError) as info:
        loads(bad, "p.json")
    assert message in str(info.value)


def test_renaming_a_block_renames_every_instance_and_renaming_back_restores_the_file():
    g = Graph()
    basic_block(g)
    st = g.add_block("stage")
    st.graph.add_node("BlockInput", "x")
    st.graph.add_node("block:basic", "b0")
    st.graph.add_node("BlockOutput", "y")
    st.graph.connect("x", "out", "b0", "x")
    st.graph.connect("b0", "y", "y", "x")
    g.add_node("Input", "img", {"shape": [8, 8, 8]})
    g.add_node("block:basic", "s1")
    g.add_node("block:stage", "s2")
    g.connect("img", "out", "s1", "x")
    g.connect("s1", "y", "s2", "x")
    before = Project(graph=g).to_json()
    g.rename_block("basic", "res_block")
    assert g.node_type("s1") == "block:res_block"
    assert st.graph.node_type("b0") == "block:res_block"
    assert g.blocks.names() == ["res_block", "stage"]
    assert analyse(g).ok
    text = Project(graph=g).to_json()
    assert loads(text).to_json() == text and "block:basic" not in text
    with pytest.raises(GraphError, match="already exists"):
        g.rename_block("res_block", "stage")
    g.rename_block("res_block", "basic")
    assert Project(graph=g).to_json() == before


def test_an_optional_block_input_may_be_left_unwired():
    from runtime.compile import compile_graph
    import torch
    g = Graph()
    d = g.add_block("attend")
    b = d.graph
    b.add_node("BlockInput", "x")
    b.add_node("BlockInput", "mask", {"optional": True})
    b.add_node("MultiHeadAttention", "attn", {"num_heads": 2})
    b.add_node("BlockOutput", "y")
    for port in ("query", "key", "value"):
        b.connect("x", "out", "attn", port)
    b.connect("mask", "out", "attn", "key_padding_mask")
    b.connect("attn", "out", "y", "x")
    assert g.spec  # the instance's mask port is optional
    g.add_node("Input", "seq", {"shape": [5, 8]})
    g.add_node("block:attend", "a")
    g.add_node("Output", "out")
    g.connect("seq", "out", "a", "x")
    g.connect("a", "y", "out", "x")
    assert g.spec("a").input("mask").optional
    a = analyse(g)
    assert a.ok, a.issues
    c = compile_graph(g)
    assert c.model(torch.randn(3, 5, 8)).shape == (3, 5, 8)
    g.add_node("Input", "pad", {"shape": [5], "dtype": "float32"})
    g.connect("pad", "out", "a", "mask")  # wired, it reaches the attention inside
    [issue] = analyse(g).errors
    assert "> Multi-head attention 'attn' takes a bool mask on 'key_padding_mask'" in \
        issue.message


def test_gradient_norms_of_inner_layers_colour_the_node_shown():
    from graph.flatten import shown_node, shown_values
    assert shown_node("fc1", []) == "fc1"
    assert shown_node("layer2.0.b1.conv2", []) == "layer2"
    assert shown_node("layer2.0.b1.conv2", ["layer2"]) == "b1"
    assert shown_node("layer2.0.b1.conv2", ["layer2", "b1"]) == "conv2"
    assert shown_node("layer1.b1.conv2", ["layer2"]) is None
    norms = {"fc1": 0.5, "layer2.0.b1.conv1": 1e-2, "layer2.1.b1.conv1": 1.0,
             "stem.conv": float("inf")}
    got = shown_values(norms, [])
    assert got["fc1"] == 0.5 and abs(got["layer2"] - 0.1) < 1e-12
    assert got["stem"] == float("inf")
    assert shown_values(norms, ["layer2"]) == pytest.approx({"b1": 0.1})


def test_a_file_whose_block_parameter_lost_its_target_opens_and_says_so():
    text = Project(graph=resnet_stub()).to_json()
    bad = text.replace('"targets": ["conv1.out_channels", "conv2.out_channels"]',
                       '"targets": ["nope.out_channels"]')
    assert bad != text
    p = loads(bad, "p.json")
    [issue] = analyse(p.graph).errors
    assert issue.node == "stage1"
    assert "the block parameter 'channels' sets 'nope.out_channels', which the block does " \
           "not have" in issue.message
    assert p.to_json() == bad  # nothing lost: saved as it was read
    # the editor refuses to make one, and can still change the others
    g = p.graph
    with pytest.raises(GraphError, match="which the block does not have"):
        g.set_block_info("basic", exposed=[*g.blocks["basic"].exposed,
                                           Exposed("k", ("gone.kernel_size",), 3)])
    g.set_block_info("basic", exposed=[g.blocks["basic"].exposed[0]])  # 'stride' removed
    assert [x.name for x in g.blocks["basic"].exposed] == ["channels"]
