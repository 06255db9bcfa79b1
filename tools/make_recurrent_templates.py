"""Writes the recurrent templates (templates/rnn.json, lstm.json, gru.json, char_lstm.json)
through the Graph API, laid out like the others. Re-run after changing them here; the
files are what ships (and what the tests train).

    .venv/bin/python tools/make_recurrent_templates.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.layout import layered_positions  # noqa: E402
from graph.model import Graph  # noqa: E402
from graph.project import Project  # noqa: E402
from graph.settings import DataSettings, TrainingSettings  # noqa: E402

CLIP = ("Gradient clipping is on (τ = 1), as the seed notes advise for recurrent networks: "
        "backpropagation through time multiplies the gradient once per step, and one long "
        "sequence can make it explode.")


def wire(g: Graph, *chain) -> None:
    for (a, ap), (b, bp) in zip(chain, chain[1:]):
        g.connect(a, ap, b, bp)


def placed(g: Graph) -> Graph:
    """Layered left to right in one row (these graphs are short: no wires doubling back)."""
    for n, xy in layered_positions(g).items():
        g.move_node(n, xy)
    return g


def adding(kind: str, title: str, hidden: int) -> Project:
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 2]})
    g.add_node(kind, kind.lower(), {"hidden_size": hidden})
    g.add_node("TimeStep", "last", {"index": -1})
    g.add_node("Linear", "head", {"out_features": 1})
    g.add_node("Output", "total")
    g.add_node("Target", "target", {"shape": [1], "dtype": "float32"})
    g.add_node("MSELoss", "mse")
    r = kind.lower()
    wire(g, ("x", "out"), (r, "x"))
    wire(g, (r, "y"), ("last", "x"))
    wire(g, ("last", "y"), ("head", "x"))
    wire(g, ("head", "y"), ("total", "x"))
    wire(g, ("head", "y"), ("mse", "pred"))
    wire(g, ("target", "out"), ("mse", "target"))
    return Project(
        graph=placed(g), name=title,
        description=(f"{title} on the adding problem (T = 50): two channels, values in U(0, 1) "
                     "and a marker channel with two 1s; the target is the sum of the two marked "
                     "values, far apart in the sequence. A constant guess gives MSE ≈ 0.167; "
                     f"the {kind} reads the whole sequence and its last hidden state h_T "
                     f"predicts the sum. {CLIP}"),
        training=TrainingSettings(optimizer="adam", lr=0.01, batch_size=64, epochs=6,
                                  clip_norm=1.0, val_split=0.2),
        data=DataSettings(dataset="adding", options={"n_samples": 10000, "T": 50},
                          bind={"x": "x", "target": "y"}))


def rnn() -> Project:
    g = Graph()
    g.add_node("Input", "rows", {"shape": [8, 8]})
    g.add_node("RNN", "rnn", {"hidden_size": 64, "nonlinearity": "tanh"})
    g.add_node("TimeStep", "last", {"index": -1})
    g.add_node("Linear", "head", {"out_features": 10})
    g.add_node("Softmax", "softmax", {"dim": 1})
    g.add_node("Output", "probs")
    g.add_node("Target", "digit", {"shape": [], "dtype": "int64"})
    g.add_node("CategoricalCrossEntropyLoss", "loss")
    wire(g, ("rows", "out"), ("rnn", "x"))
    wire(g, ("rnn", "y"), ("last", "x"))
    wire(g, ("last", "y"), ("head", "x"))
    wire(g, ("head", "y"), ("softmax", "x"))
    wire(g, ("softmax", "y"), ("probs", "x"))
    wire(g, ("softmax", "y"), ("loss", "pred"))
    wire(g, ("digit", "out"), ("loss", "target"))
    return Project(
        graph=placed(g), name="RNN",
        description=("A simple (Elman) RNN, h_t = tanh(W_x x_t + W_h h_(t−1) + b_h), reads each "
                     "8 × 8 digit row by row (8 steps of 8 pixels) and classifies it from its "
                     f"last hidden state h_8. {CLIP} On the adding problem the same RNN stays at "
                     "the baseline where an LSTM learns it: the vanishing gradient (see the lstm "
                     "template and the gradient-per-step plot)."),
        training=TrainingSettings(optimizer="adam", lr=0.005, batch_size=32, epochs=15,
                                  clip_norm=1.0, val_split=0.2),
        data=DataSettings(dataset="digits_rows", bind={"rows": "x", "digit": "y"}))


def char_lstm() -> Project:
    g = Graph()
    g.add_node("Input", "chars", {"shape": ["T"], "dtype": "int64"})
    g.add_node("Embedding", "embed", {"num_embeddings": 97, "embedding_dim": 32})
    g.add_node("LSTM", "lstm", {"hidden_size": 256})
    g.add_node("Linear", "head", {"out_features": 97})
    g.add_node("Output", "logits")
    g.add_node("Target", "next_char", {"shape": ["T"], "dtype": "int64"})
    g.add_node("CategoricalCrossEntropyLoss", "loss", {"from_logits": True})
    wire(g, ("chars", "out"), ("embed", "x"))
    wire(g, ("embed", "y"), ("lstm", "x"))
    wire(g, ("lstm", "y"), ("head", "x"))
    wire(g, ("head", "y"), ("logits", "x"))
    wire(g, ("head", "y"), ("loss", "pred"))
    wire(g, ("next_char", "out"), ("loss", "target"))
    return Project(
        graph=placed(g), name="Character LSTM",
        description=("A character-level language model: an Embedding turns each character into "
                     "a vector, an LSTM reads the text, and a Linear layer gives a distribution "
                     "over the next character at every step (cross-entropy per step, in nats). "
                     "Trained on the help text that ships with Python (pydoc_data.topics); "
                     f"after training, the Try panel writes text from a prompt. {CLIP}"),
        training=TrainingSettings(optimizer="adam", lr=0.003, batch_size=64, epochs=4,
                                  clip_norm=1.0, val_split=0.1),
        data=DataSettings(dataset="chars", options={"T": 64},
                          bind={"chars": "x", "next_char": "y"}))


def main() -> None:
    out = ROOT / "templates"
    for name, project in (("rnn", rnn()), ("lstm", adding("LSTM", "LSTM", 32)),
                          ("gru", adding("GRU", "GRU", 32)), ("char_lstm", char_lstm())):
        project.save(out / f"{name}.json")
        print("wrote", out / f"{name}.json")


if __name__ == "__main__":
    main()
