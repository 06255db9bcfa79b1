import pytest
import torch

from runtime.compile import compile_graph
from runtime.weights import WeightsError, load_weights, save_weights
from tests.graphs import cnn_graph, mlp_graph


def test_round_trip_is_exact(tmp_path):
    a = compile_graph(cnn_graph()).model
    save_weights(a, tmp_path / "w.safetensors")
    b = compile_graph(cnn_graph()).model
    load_weights(b, tmp_path / "w.safetensors")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert (tmp_path / "w.safetensors").read_bytes()[:8] != b"\x80\x02"  # not a pickle


def test_mismatches_name_the_node(tmp_path):
    save_weights(compile_graph(mlp_graph((4, 8, 3))).model, tmp_path / "w.safetensors")
    other = compile_graph(mlp_graph((4, 9, 3))).model
    with pytest.raises(WeightsError, match=r"'fc1.weight' has shape \(8, 4\) but node 'fc1' now "
                                           r"needs \(9, 4\)"):
        load_weights(other, tmp_path / "w.safetensors")
    with pytest.raises(WeightsError, match="has no weights for conv1"):
        load_weights(compile_graph(cnn_graph()).model, tmp_path / "w.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_weights(other, tmp_path / "junk.safetensors")
