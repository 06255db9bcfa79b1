from graph.layout import DX, layered_positions, wrap_for_aspect
from tests.graphs import cnn_graph


def test_layered_left_to_right():
    g = cnn_graph()
    pos = layered_positions(g)
    assert set(pos) == set(g.nodes())
    for e in g.edges():
        assert pos[e.src][0] < pos[e.dst][0], e  # every wire runs left to right
    # The Target sits in the column before its loss, under the prediction.
    assert pos["label"][0] == pos["loss"][0] - DX
    # No two nodes share a place.
    assert len(set(pos.values())) == len(pos)


def test_layout_survives_a_cycle_from_a_file():
    from graph.project import loads
    text = ('{"format": "layerloom.project", "schema": 1, "nodes": [{"id": "a", "type": "ReLU"}, '
            '{"id": "b", "type": "ReLU"}], "edges": [{"from": "a.y", "to": "b.x"}, '
            '{"from": "b.y", "to": "a.x"}]}')
    pos = layered_positions(loads(text).graph)
    assert set(pos) == {"a", "b"}


def test_wrapped_layout_keeps_rows_left_to_right():
    g = cnn_graph()
    pos = layered_positions(g, wrap=4)
    xs = sorted({x for x, _ in pos.values()})
    assert len(xs) == 4  # four columns per row
    rows = sorted({y for _, y in pos.values()})
    assert pos["conv2"][1] > pos["conv1"][1]  # the chain continues on the next row
    wide = wrap_for_aspect(g, 16 / 9)
    assert wide is not None and 3 <= wide <= 8
    assert wrap_for_aspect(g, 100.0) is None  # a very wide view: one row
