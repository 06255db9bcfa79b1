from graph.layout import layered_positions
from tests.graphs import cnn_graph


def test_layered_left_to_right():
    g = cnn_graph()
    pos = layered_positions(g)
    assert set(pos) == set(g.nodes())
    for e in g.edges():
        assert pos[e.src][0] < pos[e.dst][0], e  # every wire runs left to right
    # The Target sits in the column before its loss, under the prediction.
    assert pos["label"][0] == pos["loss"][0] - 200
    # No two nodes share a place.
    assert len(set(pos.values())) == len(pos)


def test_layout_survives_a_cycle_from_a_file():
    from graph.project import loads
    text = ('{"format": "layerloom.project", "schema": 1, "nodes": [{"id": "a", "type": "ReLU"}, '
            '{"id": "b", "type": "ReLU"}], "edges": [{"from": "a.y", "to": "b.x"}, '
            '{"from": "b.y", "to": "a.x"}]}')
    pos = layered_positions(loads(text).graph)
    assert set(pos) == {"a", "b"}
