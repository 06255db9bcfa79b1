"""Recurrent nodes compiled to torch.fx: equal to nn.RNN / nn.LSTM / nn.GRU with the same
weights (every output port, states wired or not); the engine's multi-output, optional-input
and missing-type rules; token ids out of an Embedding's range (issue 10)."""
import pytest
import torch

from graph import catalogue
from graph.analysis import analyse
from graph.model import Graph
from graph.project import Project
from graph.settings import DataSettings
from graph.spec import Doc, NodeSpec, Port, TensorType
from runtime.compile import compile_graph
from runtime.data import DATASETS, Dataset, DatasetSpec
from runtime.train import Trainer

TORCH = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}


def recurrent_graph(kind, params, states=()):
    """x (and the wired initial states) -> the recurrent node -> an Output per port."""
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 3]})
    g.add_node(kind, "rnn", params)
    g.connect("x", "out", "rnn", "x")
    d = 2 if params.get("bidirectional") else 1
    for s in states:
        g.add_node("Input", s, {"shape": [params.get("num_layers", 1) * d,
                                          params["hidden_size"]]})
        g.connect(s, "out", "rnn", s)
    for port in [p.name for p in catalogue.get(kind).outputs]:
        g.add_node("Output", f"out_{port}")
        g.connect("rnn", port, f"out_{port}", "x")
    return g


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("params", [
    {"hidden_size": 5},
    {"hidden_size": 4, "num_layers": 2, "bidirectional": True},
    {"hidden_size": 3, "num_layers": 3, "dropout": 0.2}])
@pytest.mark.parametrize("wired", [False, True])
def test_compiled_recurrent_equals_torch_with_copied_weights(kind, params, wired):
    states = ()
    if wired:
        states = ("h0", "c0") if kind == "LSTM" else ("h0",)
    c = compile_graph(recurrent_graph(kind, params, states))
    extra = {"nonlinearity": "tanh"} if kind == "RNN" else {}
    ref = TORCH[kind](3, params["hidden_size"], num_layers=params.get("num_layers", 1),
                      bidirectional=params.get("bidirectional", False), batch_first=True,
                      dropout=params.get("dropout", 0.0), **extra)
    ref.load_state_dict(c.modules.get_submodule("rnn").state_dict())  # same names, same keys
    c.model.eval(), ref.eval()
    torch.manual_seed(1)
    x = torch.randn(4, 7, 3)
    d = 2 if params.get("bidirectional") else 1
    layers = params.get("num_layers", 1) * d
    inits = {s: torch.randn(4, layers, params["hidden_size"]) for s in states}
    with torch.no_grad():
        got = c.model(x, *[inits[s] for s in states])
        torch_state = [inits[s].transpose(0, 1).contiguous() for s in states]
        hx = None if not states else (tuple(torch_state) if kind == "LSTM" else torch_state[0])
        y, h = ref(x, hx)
    outs = dict(zip(c.outputs, got))
    assert torch.allclose(outs["out_y"], y, atol=1e-6)
    if kind == "LSTM":
        h, cell = h
        assert torch.allclose(outs["out_c"], cell.transpose(0, 1), atol=1e-6)
    assert torch.allclose(outs["out_h"], h.transpose(0, 1), atol=1e-6)  # batch-first states


def test_an_unwired_state_starts_at_zeros():
    g = recurrent_graph("LSTM", {"hidden_size": 4}, ("h0",))  # h0 wired, c0 not
    c = compile_graph(g)
    assert "c0" not in c.model.code  # left out, not passed as None
    x, h0 = torch.randn(2, 5, 3), torch.randn(2, 1, 4)
    with torch.no_grad():
        got = c.model(x, h0)
        ref = torch.nn.LSTM(3, 4, batch_first=True)
        ref.load_state_dict(c.modules.get_submodule("rnn").state_dict())
        want, _ = ref(x, (h0.transpose(0, 1).contiguous(), torch.zeros(1, 2, 4)))
    assert torch.allclose(got[0], want, atol=1e-6)


def test_the_generated_code_reads_like_pytorch():
    g = recurrent_graph("LSTM", {"hidden_size": 4})
    code = compile_graph(g).model.code
    assert "rnn = self.rnn(x)" in code and "rnn_y = rnn[0]" in code and "rnn_c" in code


def test_a_shape_rule_that_forgets_an_output_is_an_analysis_error(monkeypatch):
    broken = NodeSpec(type="TwoOut", title="Two outputs", category="Core",
                      inputs=(Port("x"),), outputs=(Port("a"), Port("b")), params=(),
                      shape=lambda ctx: {"a": ctx.ins["x"]},  # forgets b
                      build=None, doc=Doc("test"))
    monkeypatch.setitem(catalogue.SPECS, "TwoOut", broken)
    g = Graph()
    g.add_node("Input", "x")
    g.add_node("TwoOut", "two")
    g.connect("x", "out", "two", "x")
    a = analyse(g)
    errs = [str(e) for e in a.errors]
    assert errs == ["two: Two outputs 'two' gives no type for its output 'b' (its shape rule "
                    "left it out)"]
    assert a.out_type("two", "a") is None  # nothing half-typed downstream


def test_sequences_of_a_data_sized_length():
    g = recurrent_graph("GRU", {"hidden_size": 6})
    a = analyse(g)
    assert str(a.out_type("x", "out")) == "N × T × 3"
    assert str(a.out_type("rnn", "y")) == "N × T × 6" and str(a.out_type("rnn", "h")) == "N × 1 × 6"
    c = compile_graph(g)
    for T in (1, 9):  # any length
        assert c.model(torch.randn(2, T, 3))[0].shape == (2, T, 6)


def test_state_of_the_wrong_size_is_refused_on_its_port():
    g = recurrent_graph("LSTM", {"hidden_size": 4})
    g.add_node("Input", "h0", {"shape": [1, 5]})
    g.connect("h0", "out", "rnn", "h0")
    errs = analyse(g).errors
    assert errs[0].node == "rnn" and errs[0].port == "h0"
    assert "initial state N × 1 × 4 on 'h0'" in errs[0].message


def token_project(vocab=10, high=10):
    g = Graph()
    g.add_node("Input", "tokens", {"shape": ["T"], "dtype": "int64"})
    g.add_node("Embedding", "embed", {"num_embeddings": vocab, "embedding_dim": 4})
    g.add_node("LSTM", "lstm", {"hidden_size": 8})
    g.add_node("Linear", "head", {"out_features": vocab})
    g.add_node("Output", "logits")
    g.add_node("Target", "following", {"shape": ["T"], "dtype": "int64"})
    g.add_node("CategoricalCrossEntropyLoss", "loss", {"from_logits": True})
    for a, ap, b, bp in (("tokens", "out", "embed", "x"), ("embed", "y", "lstm", "x"),
                         ("lstm", "y", "head", "x"), ("head", "y", "logits", "x"),
                         ("head", "y", "loss", "pred"), ("following", "out", "loss", "target")):
        g.connect(a, ap, b, bp)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, high, (64, 12), generator=gen)
    y = torch.randint(0, vocab, (64, 12), generator=gen)
    return Project(graph=g, data=DataSettings(dataset="_tokens", bind={"tokens": "x", "following": "y"})), x, y


@pytest.fixture
def tokens_dataset(monkeypatch):
    holder = {}

    def make(seed):
        return Dataset("tokens", {"x": holder["x"], "y": holder["y"]})
    monkeypatch.setitem(DATASETS, "_tokens", DatasetSpec("_tokens", "tokens", "", make))
    return holder


def test_a_token_language_model_trains_with_a_distribution_per_step(tokens_dataset):
    p, x, y = token_project()
    tokens_dataset.update(x=x, y=y)
    p.training.epochs = 3
    events = list(Trainer(p, device="cpu").run())
    assert events[-1].kind == "finished", events[-1]
    assert "accuracy" in events[-1].metrics  # per step, classes on the last dim
    losses = [e.loss for e in events if e.kind == "step"]
    assert losses[-1] < losses[0]


def test_token_ids_out_of_the_embedding_are_named(tokens_dataset):
    p, x, y = token_project(vocab=10, high=13)
    tokens_dataset.update(x=x, y=y)
    fail = list(Trainer(p, device="cpu", max_steps=2).run())[-1]
    assert fail.kind == "failed"
    assert fail.message.startswith("Embedding 'embed' has 10 token ids (0 to 9), but field 'x' "
                                   "of 'tokens' holds id 12"), fail.message
    assert "set num_embeddings to at least 13" in fail.message


def test_fields_that_disagree_on_T_are_named(tokens_dataset):
    p, x, y = token_project()
    tokens_dataset.update(x=x, y=y[:, :11])
    fail = list(Trainer(p, device="cpu", max_steps=2).run())[-1]
    assert fail.kind == "failed" and "T = 11" in fail.message and "T = 12" in fail.message


def test_log_steps_report_the_gradient_at_every_time_step():
    """|dL/dx_t| per step of a recurrent layer's input: T values, the early ones far below
    the last in a plain RNN (the vanishing gradient); nothing for a feed-forward graph."""
    import json
    from graph.project import from_dict, load
    from templates import FOLDER
    raw = json.loads((FOLDER / "lstm.json").read_text())
    for n in raw["nodes"]:
        if n["type"] == "LSTM":
            n["type"] = "RNN"
    p = from_dict(raw)
    stats = [e for e in Trainer(p, device="cpu", max_steps=20).run() if e.kind == "gradstats"]
    profile = stats[-1].time_norms["lstm"]  # the node keeps the template's id
    assert len(profile) == 50
    assert profile[0] < profile[-1] * 1e-4
    mlp = load(FOLDER / "mlp.json")
    stats = [e for e in Trainer(mlp, device="cpu", max_steps=20).run() if e.kind == "gradstats"]
    assert stats and all(e.time_norms == {} for e in stats)


def test_watching_the_steps_changes_no_weight():
    """The log steps' extra gradient (w.r.t. the input) must not change training."""
    from graph.project import load
    from templates import FOLDER
    p = load(FOLDER / "lstm.json")
    a = Trainer(p, device="cpu", max_steps=12, log_every=1)
    b = Trainer(load(FOLDER / "lstm.json"), device="cpu", max_steps=12, log_every=1000)
    list(a.run()), list(b.run())
    for (k, va), (_, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.allclose(va, vb, atol=1e-6), k
