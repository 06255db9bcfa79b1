"""Recurrent loops (issue 25, item 8): the seed's LSTM cell and the GRU's wired from their
gates, run over time, equal nn.LSTM and nn.GRU with copied weights."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from graph.analysis import analyse
from graph.model import Graph
from graph.project import Project, loads
from runtime.compile import compile_graph
from tools.make_gate_templates import gru_cell, lstm_cell

F, H, T, N = 3, 5, 7, 4


def _model(kind: str, initial: bool = False):
    g = Graph()
    (lstm_cell if kind == "lstm" else gru_cell)(g, hidden=H)
    g.add_node("Input", "x", {"shape": ["T", F]})
    g.add_node(f"block:{kind}_cell", "rnn")
    g.connect("x", "out", "rnn", "x")
    outs = ["y", "h_next"] + (["c_next"] if kind == "lstm" else [])
    if initial:
        for s in ["h"] + (["c"] if kind == "lstm" else []):
            g.add_node("Input", f"{s}0", {"shape": [H]})
            g.connect(f"{s}0", "out", "rnn", s)
    for o in outs:
        g.add_node("Output", f"out_{o}")
        g.connect("rnn", o, f"out_{o}", "x")
    return g, compile_graph(g)


def _copy_lstm(c, ref: nn.LSTM) -> None:
    """nn.LSTM's gates (i, f, g, o) into W_i, W_f, W_C, W_o over [h, x]."""
    w_ih, w_hh = ref.weight_ih_l0.chunk(4), ref.weight_hh_l0.chunk(4)
    b = (ref.bias_ih_l0 + ref.bias_hh_l0).chunk(4)
    cell = c.model.rnn.cell
    with torch.no_grad():
        for k, name in enumerate(("W_i", "W_f", "W_C", "W_o")):
            lin = getattr(cell, name)
            lin.weight.copy_(torch.cat([w_hh[k], w_ih[k]], 1))
            lin.bias.copy_(b[k])


def _copy_gru(c, ref: nn.GRU) -> None:
    """nn.GRU's gates (r, z, n) into W_r, W_z over [h, x], W_in over x, W_hn over h."""
    w_ih, w_hh = ref.weight_ih_l0.chunk(3), ref.weight_hh_l0.chunk(3)
    b_ih, b_hh = ref.bias_ih_l0.chunk(3), ref.bias_hh_l0.chunk(3)
    cell = c.model.rnn.cell
    with torch.no_grad():
        for k, name in enumerate(("W_r", "W_z")):
            getattr(cell, name).weight.copy_(torch.cat([w_hh[k], w_ih[k]], 1))
            getattr(cell, name).bias.copy_(b_ih[k] + b_hh[k])
        cell.W_in.weight.copy_(w_ih[2])
        cell.W_in.bias.copy_(b_ih[2])
        cell.W_hn.weight.copy_(w_hh[2])
        cell.W_hn.bias.copy_(b_hh[2])


@pytest.mark.parametrize("initial", [False, True])
def test_the_gate_built_lstm_equals_nn_lstm(initial):
    torch.manual_seed(0)
    g, c = _model("lstm", initial)
    ref = nn.LSTM(F, H, batch_first=True)
    _copy_lstm(c, ref)
    x = torch.randn(N, T, F)
    h0, c0 = torch.randn(N, H), torch.randn(N, H)
    y, h, cc = c.model(x, h0, c0) if initial else c.model(x)
    y_ref, (h_ref, c_ref) = ref(x, (h0[None], c0[None])) if initial else ref(x)
    for ours, theirs in ((y, y_ref), (h, h_ref[0]), (cc, c_ref[0])):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("initial", [False, True])
def test_the_gate_built_gru_equals_nn_gru(initial):
    torch.manual_seed(1)
    g, c = _model("gru", initial)
    ref = nn.GRU(F, H, batch_first=True)
    _copy_gru(c, ref)
    x, h0 = torch.randn(N, T, F), torch.randn(N, H)
    y, h = c.model(x, h0) if initial else c.model(x)
    y_ref, h_ref = ref(x, h0[None]) if initial else ref(x)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(h, h_ref[0], rtol=0, atol=1e-6)


def test_gradients_flow_back_through_time_to_every_gate():
    g, c = _model("lstm")
    y, h, _ = c.model(torch.randn(2, T, F))
    h.sum().backward()
    for name in ("W_f", "W_i", "W_C", "W_o"):
        assert getattr(c.model.rnn.cell, name).weight.grad.abs().sum() > 0, name


def test_a_loop_types_its_outputs_and_keeps_its_state_size():
    g, _ = _model("lstm", initial=True)
    a = analyse(g)
    assert a.out_type("rnn", "y").shape == ("N", "T", H)
    assert a.out_type("rnn", "c_next").shape == ("N", H)
    # a state that changes size from one step to the next is refused, naming the port
    d = g.blocks["lstm_cell"]
    d.graph.add_node("Linear", "shrink", {"out_features": 2})
    d.graph.disconnect(d.graph.in_edges("c_next")[0])
    d.graph.connect("C_t", "y", "shrink", "x")
    d.graph.connect("shrink", "y", "c_next", "x")
    [issue] = analyse(g).errors
    assert issue.port == "c"
    assert issue.message.endswith("feeds 'c_next' back into 'c', but a step takes N × 5 "
                                  "there and gives N × 2: a state must keep its size")


def test_a_loop_needs_a_sequence():
    g, _ = _model("gru")
    g.set_param("x", "shape", [F])
    [issue] = analyse(g).errors
    assert issue.port == "x" and "must be a sequence N × T × …" in issue.message


def test_the_loop_round_trips_in_the_project_file():
    g, _ = _model("gru")
    text = Project(graph=g).to_json()
    assert '"loop": [["h_next", "h"]]' in text
    assert loads(text).to_json() == text
