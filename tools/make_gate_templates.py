"""Write templates/lstm_from_gates.json and gru_from_gates.json: the seed's LSTM and GRU
cells wired from their gates (Linear, Sigmoid, Tanh, Multiply, Add, OneMinus) as recurrent
loop blocks (graph/loops.py), on the lstm template's adding problem.

    .venv/bin/python -m tools.make_gate_templates
"""
from __future__ import annotations

import json
from pathlib import Path

from graph.blocks import Exposed
from graph.model import Graph
from graph.project import Project, loads

ROOT = Path(__file__).resolve().parents[1]

LSTM_DOC = (
    "The seed's LSTM cell, one time step, wired from its gates. Each gate reads [h_{t−1}, "
    "x_t] (the previous hidden state beside this step's input): "
    "forget gate f_t = σ(W_f·[h_{t−1}, x_t] + b_f) decides what portion of the previous "
    "cell state C_{t−1} to forget (0: forget it all, 1: keep it all); "
    "input gate i_t = σ(W_i·[h_{t−1}, x_t] + b_i) controls how much of the new candidate "
    "memory is added; candidate C̃_t = tanh(W_C·[h_{t−1}, x_t] + b_C) is the new memory "
    "proposed; cell state C_t = f_t ⊙ C_{t−1} + i_t ⊙ C̃_t keeps what the forget gate "
    "retains and adds what the input gate lets in; output gate o_t = σ(W_o·[h_{t−1}, x_t] + "
    "b_o) controls what flows from the memory cell to the output; hidden state h_t = o_t ⊙ "
    "tanh(C_t). The loop feeds h_t and C_t back as h_{t−1} and C_{t−1} at the next step: "
    "the cell state's additive path is what lets gradients flow over long sequences.")

GRU_DOC = (
    "The GRU cell, one time step, wired from its gates as PyTorch's nn.GRU computes it (a "
    "simplified LSTM with fewer parameters: no separate cell state). Reset gate r_t = "
    "σ(W_r·[h_{t−1}, x_t] + b_r) decides how much of the previous state the candidate may "
    "read; update gate z_t = σ(W_z·[h_{t−1}, x_t] + b_z) decides how much of the previous "
    "state to keep; candidate n_t = tanh(W_in·x_t + b_in + r_t ⊙ (W_hn·h_{t−1} + b_hn)); new "
    "state h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}. The loop feeds h_t back as h_{t−1} at the "
    "next step.")


# Each gate's note, in the seed notes' words (shown in the help panel when it is selected).
LSTM_NOTES = {
    "h_x": "[h_{t−1}, x_t]: the concatenation of the previous hidden state and the current "
           "input, which every gate reads.",
    "W_f": "W_f·[h_{t−1}, x_t] + b_f: the forget gate's weights and bias.",
    "f": "Forget gate f_t = σ(W_f·[h_{t−1}, x_t] + b_f): determines what portion of the "
         "previous cell state C_{t−1} should be forgotten. The sigmoid outputs a value between "
         "0 (completely forget) and 1 (completely keep), used to scale the previous cell state.",
    "W_i": "W_i·[h_{t−1}, x_t] + b_i: the input gate's weights and bias.",
    "i": "Input gate i_t = σ(W_i·[h_{t−1}, x_t] + b_i): controls how much of the new "
         "candidate memory C̃_t should be added to the current cell state.",
    "W_C": "W_C·[h_{t−1}, x_t] + b_C: the candidate memory's weights and bias.",
    "C_tilde": "Candidate cell state C̃_t = tanh(W_C·[h_{t−1}, x_t] + b_C): the new "
               "information that could be added to the cell state.",
    "W_o": "W_o·[h_{t−1}, x_t] + b_o: the output gate's weights and bias.",
    "o": "Output gate o_t = σ(W_o·[h_{t−1}, x_t] + b_o): controls how much of the cell state "
         "is used to compute the next hidden state, the output for this time step.",
    "keep": "f_t ⊙ C_{t−1}: how much of the previous memory the forget gate retains.",
    "write": "i_t ⊙ C̃_t: how much of the new candidate memory the input gate adds.",
    "C_t": "Cell state update C_t = f_t ⊙ C_{t−1} + i_t ⊙ C̃_t: the memory cell, which "
           "stores information over time; the new cell state carries the updated memory of "
           "the sequence.",
    "tanh_C": "tanh(C_t): the cell state squashed to (−1, 1) before the output gate reads it.",
    "h_t": "Hidden state h_t = o_t ⊙ tanh(C_t): passed to the next time step and used for "
           "making predictions at this time step.",
}
GRU_NOTES = {
    "h_x": "[h_{t−1}, x_t]: the previous hidden state beside the current input.",
    "r": "Reset gate r_t = σ(W_r·[h_{t−1}, x_t] + b_r): how much of the previous state the "
         "candidate may read.",
    "z": "Update gate z_t = σ(W_z·[h_{t−1}, x_t] + b_z): how much of the previous state to "
         "keep.",
    "reset": "r_t ⊙ (W_hn·h_{t−1} + b_hn): the previous state as far as the reset gate lets "
             "the candidate see it.",
    "n": "Candidate n_t = tanh(W_in·x_t + b_in + r_t ⊙ (W_hn·h_{t−1} + b_hn)): the new "
         "state proposed.",
    "one_minus_z": "1 − z_t: the share of the new candidate in the new state.",
    "h_t": "New state h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}, passed to the next time step.",
}


def _notes(b: Graph, notes: dict) -> None:
    for n, text in notes.items():
        b.set_note(n, text)


def _wire(b: Graph, pairs) -> None:
    for src, dst in pairs:
        sn, sp = src.split(".") if "." in src else (src, "y")
        dn, dp = dst.split(".") if "." in dst else (dst, "x")
        b.connect(sn, sp, dn, dp)


def lstm_cell(g: Graph, name: str = "lstm_cell", hidden: int = 32) -> None:
    """The LSTM cell's definition in g's project: inputs x, h, c; outputs y (h_t at every
    step), h_next and c_next, fed back into h and c."""
    d = g.add_block(name, "LSTM cell (from its gates)", LSTM_DOC)
    b = d.graph
    for n in ("x", "h", "c"):
        b.add_node("BlockInput", n)
    b.add_node("Concat", "h_x", {"dim": 1})
    for w, act, gate in (("W_f", "Sigmoid", "f"), ("W_i", "Sigmoid", "i"),
                         ("W_C", "Tanh", "C_tilde"), ("W_o", "Sigmoid", "o")):
        b.add_node("Linear", w, {"out_features": hidden})
        b.add_node(act, gate)
        _wire(b, [("h_x", w), (w, gate)])
    b.add_node("Multiply", "keep")  # f_t ⊙ C_{t−1}
    b.add_node("Multiply", "write")  # i_t ⊙ C̃_t
    b.add_node("Add", "C_t")
    b.add_node("Tanh", "tanh_C")
    b.add_node("Multiply", "h_t")  # o_t ⊙ tanh(C_t)
    for n in ("y", "h_next", "c_next"):
        b.add_node("BlockOutput", n)
    _wire(b, [("h.out", "h_x"), ("x.out", "h_x"), ("f", "keep"), ("c.out", "keep"),
              ("i", "write"), ("C_tilde", "write"), ("keep", "C_t"), ("write", "C_t"),
              ("C_t", "tanh_C"), ("o", "h_t"), ("tanh_C", "h_t"), ("h_t", "y"),
              ("h_t", "h_next"), ("C_t", "c_next")])
    _notes(b, LSTM_NOTES)
    g.set_block_info(name, exposed=[Exposed(
        "hidden_size", ("W_f.out_features", "W_i.out_features", "W_C.out_features",
                        "W_o.out_features"), hidden,
        "The size of the hidden state h and the cell state C (each gate's width).")],
        loop=[("h_next", "h"), ("c_next", "c")])


def gru_cell(g: Graph, name: str = "gru_cell", hidden: int = 32) -> None:
    """The GRU cell's definition: inputs x, h; outputs y (h_t at every step) and h_next,
    fed back into h."""
    d = g.add_block(name, "GRU cell (from its gates)", GRU_DOC)
    b = d.graph
    for n in ("x", "h"):
        b.add_node("BlockInput", n)
    b.add_node("Concat", "h_x", {"dim": 1})
    for w, gate in (("W_r", "r"), ("W_z", "z")):
        b.add_node("Linear", w, {"out_features": hidden})
        b.add_node("Sigmoid", gate)
        _wire(b, [("h_x", w), (w, gate)])
    b.add_node("Linear", "W_in", {"out_features": hidden})
    b.add_node("Linear", "W_hn", {"out_features": hidden})
    b.add_node("Multiply", "reset")  # r_t ⊙ (W_hn·h + b_hn)
    b.add_node("Add", "n_in")
    b.add_node("Tanh", "n")
    b.add_node("OneMinus", "one_minus_z")
    b.add_node("Multiply", "new")  # (1 − z_t) ⊙ n_t
    b.add_node("Multiply", "old")  # z_t ⊙ h_{t−1}
    b.add_node("Add", "h_t")
    for n in ("y", "h_next"):
        b.add_node("BlockOutput", n)
    _wire(b, [("h.out", "h_x"), ("x.out", "h_x"), ("x.out", "W_in"), ("h.out", "W_hn"),
              ("r", "reset"), ("W_hn", "reset"), ("W_in", "n_in"), ("reset", "n_in"),
              ("n_in", "n"), ("z", "one_minus_z"), ("one_minus_z", "new"), ("n", "new"),
              ("z", "old"), ("h.out", "old"), ("new", "h_t"), ("old", "h_t"), ("h_t", "y"),
              ("h_t", "h_next")])
    _notes(b, GRU_NOTES)
    g.set_block_info(name, exposed=[Exposed(
        "hidden_size", ("W_r.out_features", "W_z.out_features", "W_in.out_features",
                        "W_hn.out_features"), hidden,
        "The size of the hidden state h (each gate's width).")],
        loop=[("h_next", "h")])


def _layout(g: Graph) -> None:
    from graph.layout import layered_positions
    for bg in [g.blocks[b].graph for b in g.blocks] + [g]:
        for n, pos in layered_positions(bg).items():
            bg.move_node(n, pos)


def template(kind: str) -> Project:
    """The lstm template with its LSTM node replaced by the gate-built cell's loop."""
    base = loads((ROOT / "templates" / "lstm.json").read_text())
    p = loads(json.dumps({"format": "layerloom.project", "schema": 2}))
    p.training, p.data = base.training, base.data
    g = p.graph
    (lstm_cell if kind == "lstm" else gru_cell)(g)
    cell = f"{kind}_cell"
    g.add_node("Input", "x", {"shape": ["T", 2]})
    g.add_node(f"block:{cell}", kind)
    g.add_node("Linear", "head", {"out_features": 1})
    g.add_node("Output", "total")
    g.add_node("Target", "target", {"shape": [1], "dtype": "float32"})
    g.add_node("MSELoss", "mse")
    g.connect("x", "out", kind, "x")
    g.connect(kind, "h_next", "head", "x")
    g.connect("head", "y", "total", "x")
    g.connect("head", "y", "mse", "pred")
    g.connect("target", "out", "mse", "target")
    title = "LSTM" if kind == "lstm" else "GRU"
    p.name = f"{title} from its gates"
    p.description = (
        f"The {title} cell wired from its gates (double-click '{kind}' to open it) and run "
        "over time as a recurrent loop: its state outputs feed its state inputs at the next "
        f"step. It computes what the {kind} template's nn.{title} node computes (a test "
        "checks it with copied weights), on the same adding problem (T = 50: the target is "
        "the sum of the two marked values): its final hidden state h_T predicts the sum. "
        "PyTorch's fused kernel is faster; this one shows every gate.")
    _layout(p.graph)
    return p


def main() -> None:
    for kind in ("lstm", "gru"):
        template(kind).save(ROOT / "templates" / f"{kind}_from_gates.json")


if __name__ == "__main__":
    main()
