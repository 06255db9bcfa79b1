"""A node's own note (issue 25: the help of each gate says what it does in the seed's
words): set through the mutator, kept by remove/restore, saved only when there is one."""
from __future__ import annotations

from pathlib import Path

import pytest

from graph.model import Graph, GraphError
from graph.project import Project, load, loads

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_a_note_is_set_emitted_kept_on_restore_and_saved():
    g = Graph()
    g.add_node("Linear", "fc")
    seen = []
    g.subscribe(seen.append)
    before = Project(graph=g).to_json()
    assert '"note"' not in before
    g.set_note("fc", "the forget gate's weights")
    assert type(seen[-1]).__name__ == "NoteChanged" and seen[-1].new.endswith("weights")
    text = Project(graph=g).to_json()
    assert '"note": "the forget gate\'s weights"' in text
    assert loads(text).to_json() == text
    rec = g.remove_node("fc")
    g.restore_node(rec)
    assert Project(graph=g).to_json() == text
    g.set_note("fc", "")
    assert Project(graph=g).to_json() == before
    with pytest.raises(GraphError):
        g.set_note("fc", 3)


def test_each_gate_of_the_gate_built_lstm_says_what_it_does_in_the_seeds_words():
    g = load(TEMPLATES / "lstm_from_gates.json").graph
    cell = g.blocks["lstm_cell"].graph
    assert "determines what portion of the previous cell state C_{t−1} should be " \
           "forgotten" in cell.note("f")
    assert "controls how much of the new candidate memory" in cell.note("i")
    assert cell.note("o").startswith("Output gate o_t = σ(W_o·[h_{t−1}, x_t] + b_o)")
    assert cell.note("C_t").startswith("Cell state update C_t = f_t ⊙ C_{t−1} + i_t ⊙ C̃_t")
    assert all(cell.note(n) for n in cell.nodes() if cell.spec(n).role == "layer")
